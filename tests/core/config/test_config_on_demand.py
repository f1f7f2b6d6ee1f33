"""The config on demand: a case's resolved config at a preset (--show-config, the run's config.yaml exactly), every
key with its type, default and the paper section its comment in core/config/hyperparameters.py cites (--list-keys),
and a note
where a setting cannot apply to finished runs."""
import yaml

import pytest

from core.config.hyperparameters import all_keys
from core.config.key_docs import format_keys, key_docs
from sweeps.run import cli
from tests.conftest import TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def test_every_key_has_its_comment_and_the_sections_it_cites():
    docs = {d.key: d for d in key_docs()}
    assert list(docs) == all_keys()
    assert all(d.doc for d in docs.values()), [k for k, d in docs.items() if not d.doc]
    stop = docs["model.stop_grad"]
    assert (stop.type, stop.default, stop.cites) == ("bool", True, ("Sec. 4.1", "Fig. 2"))
    assert docs["loss.symmetry"].type == "one of sym | asym | asym2x"
    assert docs["loss.objective"].cites == ("Sec. 6", "Fig. 3")          # from the group's comment above it
    assert not docs["run.logger"].identity and docs["run.log_every"].identity
    assert docs["loss.objective"].doc.endswith("SwAV's swapped prediction of Sinkhorn-Knopp codes")


def test_list_keys_filters_by_prefix_and_shows_the_presets_value(capsys):
    assert cli(["--list-keys", "optim.base"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "optim.base_lr: float = 0.05  (preset cpu: 1.5)  [Sec. 3]", "    Sec. 3: lr = base_lr x batch/256"]
    assert cli(["--list-keys", "optim.base", "--preset", "imagenet"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "optim.base_lr: float = 0.05  [Sec. 3]"
    assert cli(["--list-keys", "modle"]) == 2
    assert "no config key starts with 'modle'" in capsys.readouterr().err
    assert "(not in the run id)" in format_keys(key_docs("data.root"))


def _sweep(tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0, 1],
                                    "cases": {"w/ stop-grad": {}, "w/o stop-grad": {"model.stop_grad": False}}}))
    return path


@pytest.mark.slow
def test_show_config_is_the_config_yaml_the_run_gets(tmp_path, capsys):
    args = [str(_sweep(tmp_path)), "--case", "w/o stop-grad", "--seeds", "1", "--runs-dir", str(tmp_path / "runs"),
            *SETS, "--set", "optim.epochs=1"]
    assert cli([*args, "--show-config"]) == 0
    shown = capsys.readouterr().out
    assert not (tmp_path / "runs").exists()                                 # nothing started
    header, body = shown.split("\n", 1)
    assert header.startswith("# show / w/o stop-grad / seed 1 at preset cpu: ")
    assert cli([*args, "--executor", "inline", "--no-report"]) == 0
    [config] = list((tmp_path / "runs" / "show").glob("*/config.yaml"))
    assert header.endswith(f"{config}") and body == config.read_text()
    assert yaml.safe_load(body)["model"]["stop_grad"] is False and yaml.safe_load(body)["run"]["seed"] == 1

    capsys.readouterr()                                                     # a setting that cannot apply now
    assert cli([*args, "--executor", "inline", "--no-report", "--set", "run.logger=tensorboard"]) == 0
    out = capsys.readouterr().out
    assert "note: run.logger=tensorboard was not applied to 1 finished run (" in out
    assert yaml.safe_load(config.read_text())["run"]["logger"] == "none"       # the record stays as it was


def test_an_unfinished_run_takes_the_settings_outside_its_run_id(tmp_path):
    from sweeps.expand import expand
    from sweeps.prepare import prepare
    from sweeps.sweepfile import load_sweep
    from core.runtime.run_directory import RunDir
    sets = {k: v for k, v in TINY.items()}
    [spec] = expand(load_sweep(_sweep(tmp_path)), "cpu", tmp_path / "runs", [0], sets, ["w/ stop-grad"])
    prepare(spec)
    [again] = expand(load_sweep(_sweep(tmp_path)), "cpu", tmp_path / "runs", [0],
                     {**sets, "run.logger": "tensorboard", "run.threads": 1}, ["w/ stop-grad"])
    assert again.run_id == spec.run_id
    prepare(again)                                   # resumed with the logger on: its config.yaml says so
    cfg = RunDir(spec.run_dir).read_config()
    assert (cfg.run.logger, cfg.run.threads) == ("tensorboard", 1)
