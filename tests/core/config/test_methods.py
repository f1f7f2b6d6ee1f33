"""The methods as data (core/config/method_definitions.yaml), how a sweep case selects one, and which switch
combinations the config refuses before anything is created."""
import pytest
import yaml

from core.config.hyperparameters import Config, ConfigError, apply_overrides, config_hash
from core.config.methods import list_methods, method_overrides, methods_table
from core.config.presets import list_presets, preset_config
from core.runtime.distributed import check_supported
from sweeps.expand import expand
from sweeps.run import main
from sweeps.sweepfile import load_sweep
from tests.conftest import tiny_config


@pytest.mark.parametrize("overrides, keys", [
    ({"target.momentum": 0.99, "model.stop_grad": False}, ["target.momentum", "model.stop_grad"]),
    ({"loss.negatives": "queue"}, ["loss.negatives: queue", "loss.objective: infonce"]),
    ({"loss.objective": "swav", "loss.negatives": "batch"}, ["loss.negatives: batch"]),
    ({"loss.objective": "infonce"}, ["loss.objective: infonce", "loss.negatives"]),
    ({"loss.objective": "infonce", "loss.negatives": "batch", "loss.similarity": "cross_entropy"},
     ["loss.similarity", "loss.objective"]),
    ({"loss.objective": "infonce", "loss.negatives": "queue", "loss.queue_size": 100},
     ["loss.queue_size", "optim.batch_size"]),
    ({"target.momentum": 0.9, "target.k_steps": 10}, ["target.momentum", "target.k_steps"]),
    ({"loss.objective": "swav", "target.eta": "moving_average"}, ["target.eta", "loss.objective: swav"]),
    ({"target.momentum": 1.0}, ["target.momentum"]),
    ({"loss.temperature": 0.0}, ["loss.temperature"]),
])
def test_meaningless_combinations_are_refused_naming_the_keys(overrides, keys):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), overrides, "case x")
    for key in keys:
        assert key in str(err.value)


@pytest.mark.parametrize("preset", list_presets())
@pytest.mark.parametrize("name", list_methods())
def test_every_method_resolves_and_validates_at_every_preset(name, preset):
    epochs = {"byol": 200} if preset == "imagenet" else {}
    cfg = apply_overrides(preset_config(preset), {**method_overrides(name, preset, epochs.get(name, 100))}, name)
    assert cfg.loss.objective == {"simclr": "infonce", "moco_v2": "infonce", "swav": "swav"}.get(name, "similarity")


def test_methods_are_figure_3_parts_and_simsiam_is_the_default():
    assert list_methods() == ["simsiam", "simclr", "moco_v2", "byol", "swav"]
    assert apply_overrides(Config(), method_overrides("simsiam", "cpu", 100)) == Config()
    byol = apply_overrides(Config(), method_overrides("byol", "cpu", 100))
    assert byol.target.momentum > 0 and byol.model.predictor == "mlp" and byol.loss.negatives == "none"
    moco = apply_overrides(preset_config("cpu"), method_overrides("moco_v2", "cpu", 100))
    assert (moco.loss.negatives, moco.loss.queue_size, moco.target.momentum) == ("queue", 4096, 0.99)  # cpu scale
    simclr = apply_overrides(Config(), method_overrides("simclr", "cpu", 100))
    assert (simclr.loss.negatives, simclr.model.predictor, simclr.model.stop_grad) == ("batch", "none", False)


def test_recipes_apply_where_the_preset_says_and_byol_follows_footnote_6_per_budget():
    assert "optim.batch_size" not in method_overrides("simclr", "cpu", 100)
    imagenet = {e: method_overrides("byol", "imagenet", e) for e in (100, 200, 400, 800)}
    assert [(v["optim.base_lr"], v["optim.weight_decay"], v["target.momentum"]) for v in imagenet.values()] == [
        (0.45, 1e-6, 0.99), (0.3, 1e-6, 0.99), (0.3, 1e-6, 0.99), (0.2, 1.5e-6, 0.996)]
    assert imagenet[100]["optim.batch_size"] == 4096 and imagenet[100]["optim.optimizer"] == "lars"
    assert method_overrides("simclr", "imagenet", 100)["model.proj_layers"] == 3
    with pytest.raises(ConfigError, match="100, 200, 400, 800 paper epochs"):
        method_overrides("byol", "imagenet", 150)


def _sweep(tmp_path, cases: dict):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"figure": "t", "title": "t", "seeds": [0], "cases": cases}))
    return load_sweep(str(path))


def test_a_case_method_expands_before_its_overrides_and_the_run_id_does_not_depend_on_the_spelling(tmp_path):
    spelled = method_overrides("byol", "cpu", 100)
    sw = _sweep(tmp_path, {"byol": {"method": "byol"}, "spelled": spelled,
                           "byol m0": {"method": "byol", "target.momentum": 0.0},
                           "simclr 200": {"method": "simclr", "optim.epochs": 200}})
    specs = {s.case: s for s in expand(sw, "cpu", tmp_path / "runs")}
    assert specs["byol"].config == specs["spelled"].config
    ids = {specs["byol"].run_id.split("-")[-1], specs["spelled"].run_id.split("-")[-1]}
    assert ids == {config_hash(specs["byol"].config)}
    assert specs["byol m0"].config.target.momentum == 0.0 and specs["byol m0"].config.model.predictor == "mlp"
    assert specs["simclr 200"].config.optim.epochs == 20 and specs["simclr 200"].config.loss.objective == "infonce"
    assert specs["byol"].meta()["method"] == "byol" and "method" not in specs["spelled"].meta()


def test_an_unknown_method_in_a_case_names_file_case_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"case 'b': unknown method 'boyl' \(did you mean 'byol'\?\)"):
        _sweep(tmp_path, {"b": {"method": "boyl"}})


def test_list_methods_prints_figure_3_as_a_table(capsys):
    assert main(["--list-methods"]) == 0
    out = capsys.readouterr().out
    assert out == methods_table() + "\n"
    rows = {line.split()[0]: line for line in out.splitlines()[1:6]}
    assert set(rows) == set(list_methods())
    assert "momentum 0.999" in rows["moco_v2"] and "queue" in rows["moco_v2"] and "same network" in rows["simsiam"]
    assert "footnote 6" in out and "at 800 epochs: optim.base_lr=0.2" in out


def test_data_parallel_refuses_the_parts_it_does_not_implement_with_the_reason():
    refused = {"in-batch negatives": dict(loss__objective="infonce", loss__negatives="batch"),
               "queue": dict(loss__objective="infonce", loss__negatives="queue", loss__queue_size=64),
               "Sinkhorn": dict(loss__objective="swav"), "momentum copy": dict(target__momentum=0.99)}
    for reason, overrides in refused.items():
        with pytest.raises(ConfigError, match=reason):
            check_supported(tiny_config(**overrides), 2)
        check_supported(tiny_config(**overrides), 1)
