"""A run directory is data, not code (core/runtime/checkpoint.py, docs/run-directory-safety.md): a checkpoint that would
run code when unpickled is refused by every entry point and its code never runs; a checkpoint that cannot be
used stops the run with one line, or gives way to a usable prev.pt, saying so; nothing is trained again unless
asked; and the project loads no checkpoint by unpickling except on --trust-checkpoint."""
import ast
import os
import re
import shutil
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.runtime.checkpoint import UNUSABLE, check_plain, load_checkpoint, save_checkpoint
from core.runtime.checkpoint_policy import RESTART_FLAG, TRUST_FLAG, CheckpointError, CheckpointPolicy
from core.runtime.run_directory import RunDir
from core.train.loop import train
from sweeps.evaluate import cli as evaluate_cli
from sweeps.export import cli as export_cli
from sweeps.run import cli as run_cli
from tests.conftest import REPO, TINY, tiny_config

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]
DROP = ("wall_s", "train_s")


class CreatesFile:
    """Unpickled, this opens `path` for writing, so the file appears: what any code in a checkpoint could do."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _poison(path: Path, marker: Path) -> None:
    """Rewrite the checkpoint at `path` with its own contents plus an object whose unpickling creates `marker`."""
    ckpt = torch.load(path, weights_only=True)
    torch.save({**ckpt, "extra": CreatesFile(marker)}, path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in DROP} == {k: v for k, v in b.items() if k not in DROP}


def _one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch tiny run (last.pt: step 8, prev.pt: step 4) and its result."""
    run = tmp_path_factory.mktemp("finished") / "run"
    result = train(tiny_config(), run, {}, log=lambda s: None)
    assert result["status"] in ("ok", "collapsed")
    return run, result


def _copy(finished, tmp_path, name="run", unfinished=True) -> Path:
    run = tmp_path / name
    shutil.copytree(finished[0], run)
    if unfinished:
        (run / "result.json").unlink()
    return run


# ---- the format: plain data only, read back by the safe loader ------------------------------------------------
def test_saving_refuses_anything_but_plain_data_and_names_it(tmp_path):
    check_plain({"model": OrderedDict(w=torch.ones(2)), "state": {"step": 3, "top1": [1.5, None], "ok": True},
                 0: "int keys (an optimizer's state)"})
    for bad, where in ((np.zeros(2), "['rng']"), (np.float64(1.0), "['rng']"), ((1, 2), "['rng']"),
                       ({"x": CreatesFile(tmp_path / "m")}, "['rng']['x']"), ({1.5: 2}, "['rng']")):
        with pytest.raises(TypeError, match=f"checkpoint{re.escape(where)}"):
            check_plain({"rng": bad})
    with pytest.raises(TypeError, match="numpy"):
        save_checkpoint(tmp_path, {"rng": np.random.get_state()[1]})
    assert list(tmp_path.iterdir()) == []                        # nothing written, not even a temporary file


def test_every_checkpoint_a_run_writes_reads_back_with_the_safe_loader(finished):
    run, _ = finished
    for name in ("last.pt", "prev.pt"):
        ckpt = torch.load(run / name, weights_only=True)
        check_plain(ckpt)
        assert ckpt["torch_rng"].dtype == torch.uint8 and {"model", "optimizer", "state"} <= set(ckpt)


# ---- a checkpoint that would run code -------------------------------------------------------------------------
def test_resume_refuses_a_checkpoint_that_would_run_code_and_trains_nothing(finished, tmp_path):
    run = _copy(finished, tmp_path)
    marker = tmp_path / "pwned"
    _poison(run / "last.pt", marker)
    (run / "prev.pt").unlink()
    before = (run / "metrics.jsonl").read_text()
    with pytest.raises(CheckpointError) as err:
        train(tiny_config(), run, {}, log=lambda s: None)
    text = str(err.value)
    assert "\n" not in text and f"{run / 'last.pt'}: refused" in text and "io.open" in text
    assert TRUST_FLAG in text and RESTART_FLAG in text
    assert not marker.exists() and not (run / "result.json").exists() and (run / "last.pt").exists()
    assert (run / "metrics.jsonl").read_text() == before          # not a row trained or dropped


def test_export_and_evaluate_refuse_it_in_one_line_and_trust_runs_it(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path, unfinished=False)
    marker = tmp_path / "pwned"
    _poison(run / "last.pt", marker)
    assert evaluate_cli([str(run), "--set", "eval.lincls_epochs=1", "--set", "eval.lincls_batch=32"]) == 2
    err = _one_line_error(capsys.readouterr().err)
    assert "last.pt: refused" in err and "io.open" in err and TRUST_FLAG in err
    assert not marker.exists() and not (run / "linear.pt").exists()

    r18 = tmp_path / "r18"                                       # export takes torchvision backbones only
    cfg = tiny_config(model__backbone="cifar_resnet18", data__image_size=32)
    RunDir(r18).write_config(cfg)
    from core.model.simsiam import SimSiam
    save_checkpoint(r18, {"model": SimSiam(cfg.model, 3).state_dict(), "state": {"step": 7}})
    _poison(r18 / "last.pt", marker)
    assert export_cli([str(r18), str(tmp_path / "o.pth")]) == 2
    err = _one_line_error(capsys.readouterr().err)
    assert "last.pt: refused" in err and TRUST_FLAG in err
    assert not marker.exists() and not (tmp_path / "o.pth").exists()
    # the payload is live, and the flag is what lets it run: unpickled on the user's word only
    assert export_cli([str(r18), str(tmp_path / "o.pth"), TRUST_FLAG]) == 0
    assert marker.exists() and (tmp_path / "o.pth").exists()
    assert f"unpickling it as {TRUST_FLAG} asks" in capsys.readouterr().out


@pytest.mark.slow
def test_a_sweep_refuses_to_resume_from_it_and_restarts_only_when_asked(tmp_path):
    sweep = tmp_path / "safety.yaml"
    sweep.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                     "cases": {"a": {}}}))
    args = [str(sweep), "--runs-dir", str(tmp_path / "runs"), "--no-report", *SETS]
    assert run_cli([*args, "--executor", "inline"]) == 0
    run = next((tmp_path / "runs" / "safety").glob("a-*"))
    (run / "result.json").unlink()
    marker = tmp_path / "pwned"
    _poison(run / "last.pt", marker)
    _poison(run / "prev.pt", marker)
    cmd = [sys.executable, "-m", "sweeps.run", *args, "--executor", "local"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("error: "))
    assert "last.pt: refused" in line and "prev.pt: refused" in line and RESTART_FLAG in line
    assert not marker.exists() and not (run / "result.json").exists()

    proc = subprocess.run([*cmd, RESTART_FLAG], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "starting over" in proc.stdout and not marker.exists()
    assert (run / f"last.pt{UNUSABLE}").exists() and (run / f"prev.pt{UNUSABLE}").exists()   # kept, never read
    assert RunDir(run).read_result()["status"] in ("ok", "collapsed")
    steps = [r["step"] for r in RunDir(run).read_metrics()]
    assert steps[0] == 0 and steps == sorted(set(steps))          # trained from the start, each row once


# ---- a truncated checkpoint -----------------------------------------------------------------------------------
def test_a_truncated_last_pt_gives_way_to_prev_pt_saying_so_and_the_resume_is_exact(finished, tmp_path):
    run = _copy(finished, tmp_path)
    _truncate(run / "last.pt")
    lines = []
    resumed = train(tiny_config(), run, {}, log=lines.append)
    said = [x for x in lines if "resuming from prev.pt" in x]
    assert len(said) == 1 and f"{run / 'last.pt'}: unreadable" in said[0] and "(step 4)" in said[0], lines
    assert (run / f"last.pt{UNUSABLE}").exists()
    assert _same(resumed, finished[1])                          # from the end of epoch 1 to the same result
    assert torch.load(run / "prev.pt", weights_only=True)["state"]["step"] == 4   # not rotated over by the bad one


def test_truncated_checkpoints_stop_the_run_in_one_line(finished, tmp_path):
    run = _copy(finished, tmp_path)
    _truncate(run / "last.pt")
    _truncate(run / "prev.pt")
    with pytest.raises(CheckpointError) as err:
        train(tiny_config(), run, {}, log=lambda s: None)
    text = str(err.value)
    assert "\n" not in text and "last.pt: unreadable" in text and "prev.pt: unreadable" in text
    assert RESTART_FLAG in text and TRUST_FLAG not in text       # trusting would not make a torn file readable
    assert not (run / "result.json").exists() and (run / "last.pt").exists() and (run / "prev.pt").exists()


@pytest.mark.slow
def test_with_the_flag_truncated_checkpoints_are_kept_aside_and_the_run_starts_over(finished, tmp_path):
    run = _copy(finished, tmp_path)
    _truncate(run / "last.pt")
    _truncate(run / "prev.pt")
    lines = []
    restarted = train(tiny_config(), run, {}, log=lines.append, checkpoints=CheckpointPolicy(restart=True))
    assert any("starting over as --restart-unreadable asks" in x for x in lines), lines
    assert _same(restarted, finished[1])                        # from scratch: the same run
    assert (run / f"last.pt{UNUSABLE}").exists() and (run / f"prev.pt{UNUSABLE}").exists()


def test_prev_pt_is_used_only_when_it_fits_the_model(finished, tmp_path):
    run = _copy(finished, tmp_path)
    _truncate(run / "last.pt")
    other = train(tiny_config(model__dim=8, optim__epochs=1), tmp_path / "other", {}, log=lambda s: None)
    assert other["status"] != "failed"
    shutil.copy(tmp_path / "other" / "last.pt", run / "prev.pt")   # a checkpoint of another model
    with pytest.raises(CheckpointError) as err:
        train(tiny_config(), run, {}, log=lambda s: None)
    text = str(err.value)
    assert "prev.pt: does not fit" in text and "shape" in text and "last.pt: unreadable" in text
    assert not (run / "result.json").exists()


def test_load_checkpoint_reads_newest_first_and_moves_nothing_when_not_main(finished, tmp_path):
    run = _copy(finished, tmp_path)
    assert load_checkpoint(run)["state"]["step"] == 8
    _truncate(run / "last.pt")
    lines = []
    assert load_checkpoint(run, log=lines.append, main=False)["state"]["step"] == 4
    assert (run / "last.pt").exists() and len(lines) == 1      # a data-parallel follower: rank 0 moves files


# ---- the source: no unpickling loader but the trusted one -----------------------------------------------------
def _loads(node: ast.AST, fn: str = "<module>"):
    """(innermost function name, call) for every torch.load(...) call under `node`."""
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
        if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "load"
                and isinstance(child.func.value, ast.Name) and child.func.value.id == "torch"):
            yield fn, child
        yield from _loads(child, inner)


def test_every_torch_load_in_the_project_is_the_safe_one_but_the_trusted_one():
    unsafe = set()
    for pkg in ("core", "sweeps", "analysis", "benchmarks", "scripts", "tests"):
        for path in (REPO / pkg).rglob("*.py"):
            for fn, call in _loads(ast.parse(path.read_text())):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in call.keywords)
                if not safe:
                    unsafe.add((str(path.relative_to(REPO)), fn))
    assert unsafe == {("core/runtime/checkpoint.py", "_unpickle_trusted")}
