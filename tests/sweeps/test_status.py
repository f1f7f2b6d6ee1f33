"""sweeps.status: the state of every run from its run directory (and squeue), without the submitting shell."""
import json

from sweeps import runlock
from sweeps.status import RunState, is_finished, local_state, main, sweep_status
from tests.sweeps.test_runlock import dead_pid, fake_squeue


def _run(root, name, case, seed, *, result=None, epochs=(), claim=None, attempts=(), preset="cpu", sweep="sw"):
    d = root / sweep / name
    d.mkdir(parents=True)
    (d / "meta.json").write_text(json.dumps({"case": case, "seed": seed, "slurm_job_id": None, "preset": preset}))
    (d / "config.yaml").write_text("{}\n")
    if epochs:
        (d / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "step": int(e * 4)}) + "\n" for e in epochs))
    if result:
        (d / "result.json").write_text(json.dumps(result))
    if claim:
        (d / "claim.json").write_text(json.dumps(claim))
    if attempts:
        (d / "attempts.jsonl").write_text("".join(json.dumps({"job_id": j, "step": 0}) + "\n" for j in attempts))
    return d


def test_status_of_every_kind_of_run(tmp_path, monkeypatch, capsys):
    fake_squeue(tmp_path, monkeypatch, {"70_0": "PENDING", "70_1": "RUNNING"})
    _run(tmp_path, "a-s0-1", "a", 0, result={"status": "ok"}, epochs=(0, 1, 2), attempts=("60_0", "69_0"))
    _run(tmp_path, "b-s0-2", "b", 0, result={"status": "failed", "reason": "RuntimeError: boom"}, epochs=(0,))
    _run(tmp_path, "c-s0-3", "c", 0, claim={**runlock.new_claim("slurm"), "job_id": "70_0"})
    _run(tmp_path, "d-s0-4", "d", 0, epochs=(0, 1, 1.5), claim={**runlock.new_claim("slurm"), "job_id": "70_1"})
    _run(tmp_path, "e-s1-5", "e", 1, epochs=(0, 1), claim={**runlock.new_claim("slurm"), "job_id": "68_3"})
    _run(tmp_path, "f-s0-6", "f", 0, epochs=(0,), claim=runlock.new_claim("local"))
    _run(tmp_path, "g-s0-7", "g", 0, epochs=(0, 1), claim={**runlock.new_claim("local"), "pids": [[dead_pid(), None]]})
    _run(tmp_path, "h-s0-8", "h", 0)
    (tmp_path / "sw" / "slurm").mkdir()                        # submitit's folder is not a run
    assert main(["sw", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"sw under {tmp_path}: 8 runs at preset cpu"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:10]}
    assert set(rows) == {"a-s0-1", "b-s0-2", "c-s0-3", "d-s0-4", "e-s1-5", "f-s0-6", "g-s0-7", "h-s0-8"}
    assert rows["a-s0-1"] == ["a", "0", "cpu", "done:", "ok", "69_0", "2"]         # job of the last attempt
    assert rows["b-s0-2"][3:] == ["failed", "-", "0"]
    assert rows["c-s0-3"][3:] == ["pending", "70_0", "-"]
    assert rows["d-s0-4"][3:] == ["running", "70_1", "1.5"]
    assert rows["e-s1-5"][3:] == ["partial", "(epoch", "1)", "-", "1"]         # its job is gone: nobody on it
    assert rows["f-s0-6"][3] == "running"
    assert rows["g-s0-7"][3] == "partial"
    assert rows["h-s0-8"][3:] == ["new", "-", "-"]
    assert lines[10] == "1 done, 1 failed, 1 pending, 2 running, 2 partial, 1 new"
    assert lines[11].startswith("1 run failed (python -m sweeps.run sw --retry-failed trains them again")
    assert lines[12:] == ["  b-s0-2: RuntimeError: boom"]                      # each failure's reason, one line


def test_status_shows_the_preset_and_filters_by_it(tmp_path, capsys):
    _run(tmp_path, "a-s0-1", "a", 0, result={"status": "ok"}, preset="cpu")
    _run(tmp_path, "a-s0-2", "a", 0, result={"status": "failed", "reason": "DataError: x\n  y\n"}, preset="cifar10")
    assert main(["sw", "--runs-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("2 runs at preset cifar10, cpu")
    assert main(["sw", "--runs-dir", str(tmp_path), "--preset", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert "a-s0-1" not in out and "  a-s0-2: DataError: x y" in out
    assert main(["sw", "--runs-dir", str(tmp_path), "--preset", "cifar"]) == 2
    assert "(did you mean 'cifar10'?)" in capsys.readouterr().err


def test_a_misspelt_sweep_gets_a_did_you_mean(tmp_path, capsys):
    _run(tmp_path, "a-s0-1", "a", 0, result={"status": "ok"}, sweep="my_sweep")
    assert main(["my_swep", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no run directories under" in err and "(did you mean 'my_sweep'?)" in err
    assert "sweeps with runs there: my_sweep" in err
    assert main(["stopgrd", "--runs-dir", str(tmp_path / "empty")]) == 2
    assert "(did you mean 'stopgrad'?)" in capsys.readouterr().err


def test_status_of_a_missing_sweep_is_one_line(tmp_path, capsys):
    assert main(["nosuch", "--runs-dir", str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_the_state_of_a_run_directory_from_its_files(tmp_path):
    new = _run(tmp_path, "n-s0-1", "n", 0)
    partial = _run(tmp_path, "p-s0-2", "p", 0, epochs=(0, 0.5))
    done = _run(tmp_path, "d-s0-3", "d", 0, result={"status": "collapsed"}, epochs=(0, 1))
    failed = _run(tmp_path, "f-s0-4", "f", 0, result={"status": "failed"}, epochs=(0,))
    torn = _run(tmp_path, "t-s0-5", "t", 0, epochs=(0, 2))
    (torn / "result.json").write_text('{"status": "o')            # a torn result is not a finished run
    assert local_state(new) == (RunState.NEW, "")
    assert local_state(partial) == (RunState.PARTIAL, "epoch 0.5")
    assert local_state(done) == (RunState.DONE, "collapsed")
    assert local_state(failed) == (RunState.FAILED, "no reason recorded")
    assert local_state(torn) == (RunState.PARTIAL, "unreadable result.json")
    assert [is_finished(d) for d in (new, partial, done, failed, torn)] == [False, False, True, True, False]


def test_state_words_and_kinds():
    assert RunState.DONE.text("ok") == "done: ok" and RunState.FAILED.text("boom") == "failed: boom"
    assert RunState.PARTIAL.text("epoch 3") == "partial (epoch 3)" and RunState.NEW.text() == "new"
    assert {s for s in RunState if s.finished} == {RunState.DONE, RunState.FAILED}
    assert {s for s in RunState if s.held} == {RunState.PENDING, RunState.RUNNING, RunState.HELD}


def test_a_run_a_slurm_job_holds_without_squeue_to_ask_is_pending_or_running(tmp_path, monkeypatch):
    fake_squeue(tmp_path, monkeypatch, None)                    # no squeue: the job cannot be checked
    d = _run(tmp_path, "c-s0-1", "c", 0, epochs=(0, 1), claim={**runlock.new_claim("slurm"), "job_id": "70_0"})
    [row] = sweep_status([d])
    assert (row.state, row.text, row.job_id) == (RunState.HELD, "pending or running (no squeue)", "70_0")


def test_status_names_the_group_of_each_run(tmp_path, capsys):
    """Runs of stopgrad at the preset's base lr and at 0.05: two groups, each run's named in the table."""
    import yaml
    from core.schema.numerics import NUMERICS_VERSION
    from core.schema.sweep_format import load_sweep
    from tests.conftest import expanded_config
    sweep = load_sweep("stopgrad")
    for name, lr in (("a-s0-1", None), ("b-s0-2", 0.05)):
        d = _run(tmp_path, name, "w/ stop-grad", 0, result={"status": "ok"}, sweep="stopgrad")
        meta = json.loads((d / "meta.json").read_text())
        (d / "meta.json").write_text(json.dumps({**meta, "numerics": NUMERICS_VERSION}))
        sets = {"optim.base_lr": lr} if lr is not None else None
        (d / "config.yaml").write_text(yaml.safe_dump(expanded_config(sweep, "w/ stop-grad", 0, sets=sets)))
    assert main(["stopgrad", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 groups a verdict may judge apart: cpu; cpu, optim.base_lr=0.05" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:4]}
    assert "  cpu  " in lines["a-s0-1"] and "cpu, optim.base_lr=0.05" in lines["b-s0-2"]
