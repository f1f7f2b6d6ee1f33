"""The slurm executor (sweeps.slurm, sweeps.slurm_job).

Without a cluster: options and profiles, --dry-run, the deferred handling of submitit's signal, the retry bound.
Against the real single-node cluster that tests/slurm/start.sh starts (.ci/run does; the tests named
test_cluster_* skip, with the reason, when it is not up): a two-run sweep finishes; a job requeued mid-run
with `scontrol requeue` resumes and ends with the same metrics as an uninterrupted run; a job that hits its
time limit is requeued and completes; one that runs out of time-outs, or keeps dying, ends `failed` with the
reason; re-submitting a queued or a finished sweep submits nothing; torch.distributed starts from submitit's
job environment in a two-task job, and a sweep submitted with two tasks per node trains its run data-parallel;
a run that reads its images through DataLoader workers, requeued with `scontrol requeue` or sent submitit's
SIGUSR2 (both reach every process of the job step, the workers too), resumes to an uninterrupted run's metrics.
"""
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from core.config.hyperparameters import ConfigError
from sweeps.run import cli
from sweeps.status import main as status_main
from tests.conftest import TINY, image_folder, tiny_config

SETS = [a for k, v in {**TINY, "run.threads": 1}.items() if k != "run.device" for a in ("--set", f"{k}={v}")]
METRIC_KEYS = ("status", "epoch", "step", "loss", "z_std", "knn_acc", "knn_acc_init", "linear_acc")


def sweep_args(root: Path, name: str, cases: dict, *extra) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"figure": "Figure 2", "title": name, "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": cases}))
    return [str(path), "--executor", "slurm", "--runs-dir", str(root / "runs"), "--report-dir", str(root / "reports"),
            "--cpus-per-task", "1", *SETS, *extra]


TWO = {"w/ stop-grad": {}, "w/o stop-grad": {"model.stop_grad": False}}
ONE = {"w/ stop-grad": {}}


# ---- no cluster needed ---------------------------------------------------------------------------------
def test_profile_flags_and_time_formats(tmp_path):
    from sweeps.slurm import load_profile, parse_time
    assert [parse_time(t) for t in ("90", "1:30", "2:00:00", "1-0", "1-2:03:04", 5)] == [90, 2, 120, 1440, 1564, 5]
    with pytest.raises(ConfigError, match="not a SLURM time"):
        parse_time("1h")
    p = tmp_path / "p.yaml"
    p.write_text("partition: gpu\naccount: lab\ntime: '4:00:00'\ngpus_per_node: 1\nsbatch: {exclude: node7}\n")
    assert load_profile(str(p)) == {"partition": "gpu", "account": "lab", "time": 240, "gpus_per_node": 1,
                                    "sbatch": {"exclude": "node7"}}
    p.write_text("partiton: gpu\n")
    with pytest.raises(ConfigError, match=r"unknown key 'partiton' \(did you mean 'partition'\?\)"):
        load_profile(str(p))


def test_dry_run_shows_the_sbatch_file_from_profile_and_flags_and_submits_nothing(tmp_path, capsys):
    profile = tmp_path / "cluster.yaml"
    profile.write_text("partition: learnfair\naccount: simsiam\nqos: high\ntime: 4:00:00\nconstraint: volta32gb\n"
                       "mem_gb: 64\nsetup: [module load cuda/12]\n")
    args = sweep_args(tmp_path, "two", TWO, "--profile", str(profile), "--partition", "dev", "--array-parallelism", "1",
                      "--dry-run")
    assert cli(args) == 0
    out = capsys.readouterr().out
    for line in ("#SBATCH --partition=dev", "#SBATCH --account=simsiam", "#SBATCH --qos=high", "#SBATCH --time=240",
                 "#SBATCH --constraint=volta32gb", "#SBATCH --mem=64GB", "#SBATCH --array=0-1%1",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --requeue", "module load cuda/12",
                 f"{tmp_path}/runs/two/slurm/%A_%a_0_log.out"):
        assert line in out, line
    assert not (tmp_path / "runs").exists()


def test_a_run_that_processes_cannot_split_is_refused_before_anything_is_created(tmp_path, capsys):
    for dry in ([], ["--dry-run"]):                                      # a dry run says so too
        assert cli(sweep_args(tmp_path, "two", TWO, "--tasks-per-node", "3", *dry)) == 2   # batch 32 over 3
        err = capsys.readouterr().err
        assert "with 3 processes" in err and "not divisible" in err
    kstep = {"k=10": {"target.k_steps": 10}}
    assert cli(sweep_args(tmp_path, "kstep", kstep, "--gpus-per-node", "2")) == 2
    assert "k-step" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_submitit_signal_checkpoints_at_a_step_boundary_before_submitit_requeues(tmp_path):
    """DeferredRequeue: the signal stops train() at a step with last.pt saved; only then runs submitit's handler."""
    from core.runtime.checkpoint import load_checkpoint
    from core.train.loop import Preempted, train
    from sweeps.slurm_job import DeferredRequeue
    cfg = tiny_config(optim__epochs=12)
    quiet = lambda *a: None  # noqa: E731
    reference = train(cfg, tmp_path / "ref", {}, log=quiet)
    calls = []
    previous = signal.signal(signal.SIGUSR2,
                             lambda s, f: calls.append(load_checkpoint(tmp_path / "run")["state"]["step"]))
    metrics = tmp_path / "run" / "metrics.jsonl"

    def signal_when_running():
        while not (metrics.exists() and metrics.read_text().count("\n") >= 6):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR2)
    try:
        with DeferredRequeue() as signals:
            threading.Thread(target=signal_when_running, daemon=True).start()
            with pytest.raises(Preempted):
                train(cfg, tmp_path / "run", {}, log=quiet)
            assert signals.asked and calls == []               # deferred: submitit's handler has not run
            signals.requeue()
        assert len(calls) == 1 and 0 < calls[0] < 12 * 4      # it ran after a mid-run checkpoint
    finally:
        signal.signal(signal.SIGUSR2, previous)
    resumed = train(cfg, tmp_path / "run", {}, log=quiet)      # the requeued job
    assert {k: resumed[k] for k in METRIC_KEYS} == {k: reference[k] for k in METRIC_KEYS}


def test_outside_training_the_signal_requeues_at_once(monkeypatch):
    from core.train.loop import request_stop
    from sweeps.slurm_job import DeferredRequeue
    assert request_stop() is False                             # no loop is training in this process
    requeued = []
    monkeypatch.setattr(DeferredRequeue, "requeue", lambda self: requeued.append(True))
    with DeferredRequeue() as signals:
        signals._on_signal(signals.sig, None)
    assert signals.asked and requeued == [True]


def test_a_run_that_keeps_dying_gives_up_with_the_reason(tmp_path):
    from core.runtime.run_directory import RunDir
    from sweeps import runlock
    from sweeps.slurm_job import SlurmRun
    rd = RunDir(tmp_path / "run")
    rd.write_config(tiny_config())
    job = SimpleNamespace(job_id="77_0")
    token = runlock.new_claim("slurm")["token"]
    attempt = SlurmRun(str(rd.path), token, max_stalls=2)
    assert attempt._begin(job) is None and attempt._begin(job) is None   # two attempts died at step 0
    assert attempt._begin(job)["status"] == "failed"                     # the third gives up
    result = rd.read_result()
    assert result["status"] == "failed" and "2 attempts in a row made no progress past step 0" in result["reason"]
    assert runlock.read(rd.path) is None
    assert len((rd.path / "attempts.jsonl").read_text().splitlines()) == 3


# ---- against the real cluster ------------------------------------------------------------------------
CLUSTER = Path(os.environ.get("SIMSIAM_SLURM_DIR", "/tmp/simsiam-slurm"))


def cluster_problem() -> str | None:
    if not (CLUSTER / "env.sh").exists():
        failed = CLUSTER.parent / (CLUSTER.name + ".start-failed")
        why = f" (start.sh said: {failed.read_text().strip()[-300:]})" if failed.exists() else ""
        return f"no SLURM test cluster at {CLUSTER}: start one with `bash tests/slurm/start.sh` as root{why}"
    try:
        out = subprocess.run(["scontrol", "ping"], env={**os.environ, "SLURM_CONF": str(CLUSTER / "slurm.conf")},
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return f"SLURM test cluster at {CLUSTER} does not answer: {err}"
    return None if "UP" in out else f"SLURM test cluster at {CLUSTER} is down: {out.strip()}"


def needs_cluster(test):
    """A test against the real SLURM test cluster: marked `cluster` (make test-fast leaves it out), and skipped
    with the reason when no cluster runs."""
    problem = cluster_problem()
    return pytest.mark.cluster(pytest.mark.skipif(problem is not None, reason=str(problem))(test))


def wait_for(predicate, seconds: float, what: str, logs: Path | None = None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    queue = subprocess.run(["squeue", "-r", "-o", "%i %T %M %r"], capture_output=True, text=True).stdout
    tails = "".join(f"\n--- {p}\n{p.read_text()[-1500:]}"
                    for p in sorted((logs or Path("/nonexistent")).glob("*_log.*")))
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}\n{queue}{tails}")


def submit(args: list[str], capsys) -> str:
    capsys.readouterr()
    assert cli(args) == 0
    return capsys.readouterr().out


def run_dirs(root: Path, name: str) -> list[Path]:
    return sorted(d for d in (root / "runs" / name).iterdir() if (d / "config.yaml").exists())


def job_of(run_dir: Path) -> str:
    return json.loads((run_dir / "claim.json").read_text())["job_id"]


def metric_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(CLUSTER / "slurm.conf"))
        mp.setenv("SIMSIAM_SLURM_JOBCOMP", str(CLUSTER / "log" / "jobcomp.txt"))
        mp.setenv("PATH", f"{CLUSTER / 'bin'}{os.pathsep}{os.environ['PATH']}")
        yield


@pytest.fixture(scope="module")
def sweeps_on_cluster(cluster, tmp_path_factory):
    """Everything submitted at once (the cluster has 4 slots), the requeue done mid-run; tests check outcomes."""
    root = tmp_path_factory.mktemp("slurm")

    def run(args) -> str:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert cli(args) == 0, buf.getvalue()
        return buf.getvalue()

    s = SimpleNamespace(root=root)
    # a run longer than its 1-minute limit: submitit's signal 55 s before the limit, up to 6 requeues
    run(sweep_args(root, "timelimit", ONE, "--time", "1", "--signal-delay-s", "55", "--max-timeouts", "6",
                   "--set", "optim.epochs=250", "--no-report"))
    # the same, with no time-out allowed: it ends failed with submitit's reason
    run(sweep_args(root, "notime", ONE, "--time", "1", "--signal-delay-s", "55", "--max-timeouts", "0",
                   "--set", "optim.epochs=250", "--no-report"))
    # the reference two-run sweep, and the same sweep once more, to be requeued mid-run
    s.ref_args = sweep_args(root / "ref", "two", TWO, "--set", "optim.epochs=100",
                            "--profile", str(Path(__file__).resolve().parents[1] / "slurm" / "profile.yaml"))
    s.ref_out = run(s.ref_args)
    s.req_args = sweep_args(root / "req", "two", TWO, "--set", "optim.epochs=100", "--no-report")
    s.req_out = run(s.req_args)
    req = run_dirs(root / "req", "two")[0]
    wait_for(lambda: (req / "metrics.jsonl").exists() and metric_rows(req)[-1]["epoch"] >= 5, 240,
             "the run to be requeued to reach epoch 5", root / "req" / "runs" / "two" / "slurm")
    s.requeued_job = job_of(req)
    subprocess.run(["scontrol", "requeue", s.requeued_job], check=True)
    s.resubmit_queued_out = run(s.req_args)                     # while it is requeued: nothing may be submitted
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert status_main(["two", "--runs-dir", str(root / "req" / "runs")]) == 0
    s.status_out = buf.getvalue()
    yield s
    leftover = {json.loads(c.read_text()).get("job_id") for c in root.rglob("claim.json")} - {None}
    if leftover:
        subprocess.run(["scancel", *leftover], capture_output=True)


def wait_done(run_dir: Path, seconds: float = 300):
    wait_for(lambda: (run_dir / "result.json").exists(), seconds, f"{run_dir.name} to finish",
             run_dir.parent / "slurm")
    return json.loads((run_dir / "result.json").read_text())


@needs_cluster
def test_cluster_two_run_sweep_finishes_with_both_results_and_a_resubmission_submits_nothing(sweeps_on_cluster, capsys):
    s = sweeps_on_cluster
    assert re.search(r"submitted job array \d+ \(2 tasks\); logs: .*/runs/two/slurm/", s.ref_out)
    assert "#SBATCH" not in s.ref_out and re.search(r"\d+_0 +w-stop-grad", s.ref_out)
    runs = run_dirs(s.root / "ref", "two")
    assert len(runs) == 2
    for r in runs:
        assert wait_done(r)["status"] in ("ok", "collapsed")
        assert json.loads((r / "meta.json").read_text())["slurm_job_id"]
        assert not (r / "claim.json").exists()
    logs = list((s.root / "ref" / "runs" / "two" / "slurm").glob("*_log.out"))
    assert len(logs) == 2
    out = submit(s.ref_args, capsys)
    assert "all runs are finished; nothing to start" in out and "submitted" not in out


@needs_cluster
def test_cluster_scontrol_requeue_resumes_from_the_checkpoint_with_identical_metrics(sweeps_on_cluster):
    s = sweeps_on_cluster
    assert "submitted" not in s.resubmit_queued_out and "nothing to start" in s.resubmit_queued_out
    requeued_row = next(line for line in s.status_out.splitlines() if line.startswith("w-stop-grad"))
    assert re.search(rf"\b(pending|running)\s+{s.requeued_job}\s+\d", requeued_row), s.status_out
    for req, ref in zip(run_dirs(s.root / "req", "two"), run_dirs(s.root / "ref", "two")):
        assert req.name == ref.name
        a, b = wait_done(req), wait_done(ref)
        assert {k: a[k] for k in METRIC_KEYS} == {k: b[k] for k in METRIC_KEYS}
        assert metric_rows(req) == metric_rows(ref)
    requeued = run_dirs(s.root / "req", "two")[0]
    attempts = [json.loads(line) for line in (requeued / "attempts.jsonl").read_text().splitlines()]
    assert len(attempts) == 2 and attempts[1]["job_id"] == s.requeued_job
    assert 0 < attempts[1]["step"] < json.loads((requeued / "result.json").read_text())["step"]   # mid-run
    log = "".join(p.read_text() for p in (requeued.parent / "slurm").glob(f"{s.requeued_job}_*log.*"))
    assert "resumed at step" in log


@needs_cluster
def test_cluster_time_limit_requeues_and_completes(sweeps_on_cluster):
    s = sweeps_on_cluster
    (run,) = run_dirs(s.root, "timelimit")
    assert wait_done(run, 420)["status"] in ("ok", "collapsed")
    attempts = (run / "attempts.jsonl").read_text().splitlines()
    log = "".join(p.read_text() for p in (run.parent / "slurm").glob("*log.*"))
    assert len(attempts) >= 2 and "this job is timed-out" in log and "resumed at step" in log


@needs_cluster
def test_cluster_run_out_of_time_outs_ends_failed_with_the_reason(sweeps_on_cluster):
    (run,) = run_dirs(sweeps_on_cluster.root, "notime")
    result = wait_done(run, 180)
    assert result["status"] == "failed" and "timed-out too many times" in result["reason"]
    assert "--max-timeouts" in result["reason"]
    assert not (run / "claim.json").exists()
    # the checkpoint is kept for a later attempt with a longer limit; on a loaded machine the signal (5 s
    # after the start) can come during set-up, before the first checkpoint, so only ask for it after training
    if (run / "metrics.jsonl").exists() and any(r.get("step") for r in metric_rows(run)):
        assert (run / "last.pt").exists()


@needs_cluster
def test_cluster_torch_distributed_starts_from_the_job_environment(cluster, tmp_path):
    import submitit
    from sweeps.slurm_job import broadcast, start_distributed

    def all_reduce_ranks():
        import torch
        import torch.distributed as dist
        start_distributed()
        t = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(t)
        said = broadcast({"from": "rank 0"} if dist.get_rank() == 0 else None)
        return dist.get_backend(), dist.get_world_size(), t.item(), said
    ex = submitit.SlurmExecutor(folder=tmp_path / "dist")
    ex.update_parameters(time=10, nodes=1, ntasks_per_node=2, cpus_per_task=1,   # no time-out signal in sight
                         setup=[f"export PYTHONPATH={Path(__file__).resolve().parents[2]}"])
    job = ex.submit(all_reduce_ranks)
    wait_for(job.done, 120, "the two-task job", tmp_path / "dist")
    assert job.results() == [("gloo", 2, 3.0, {"from": "rank 0"})] * 2


@needs_cluster
def test_cluster_two_tasks_per_node_train_one_run_data_parallel(cluster, tmp_path, capsys):
    submit(sweep_args(tmp_path, "dp", ONE, "--tasks-per-node", "2", "--no-report"), capsys)
    (run,) = run_dirs(tmp_path, "dp")
    result = wait_done(run, 300)
    assert result["status"] == "ok" and result["world_size"] == 2, result
    steps = [r["step"] for r in metric_rows(run)]
    assert steps == sorted(set(steps)) and steps[-1] == result["step"]       # rank 0 alone wrote


# ---- runs that read through DataLoader workers, signalled as SLURM signals: every process of the job step ------
WORKER_SETS = ["--set", "data.dataset=folder", "--set", "data.workers=2", "--set", "data.train_subset=0",
               "--set", "data.test_subset=0", "--set", "optim.batch_size=6", "--set", "optim.epochs=30"]


@pytest.fixture(scope="module")
def worker_sweeps_on_cluster(cluster, tmp_path_factory):
    """The same one-run sweep on an image folder, its images read by two DataLoader workers, three times at once:
    uninterrupted (the reference); requeued mid-run with `scontrol requeue` (SLURM sends SIGTERM to every process of
    the job step, as for a preemption); and sent submitit's signal, SIGUSR2, to every process of its step
    (`scancel --signal USR2`: what SLURM sends `signal_delay_s` before the time limit). Before, the workers died of
    the signal and the run ended failed; now each resumes to the reference's metrics."""
    root = tmp_path_factory.mktemp("workers")
    images = image_folder(root / "images")
    s = SimpleNamespace(root=root, args={})
    for name in ("ref", "term", "usr2"):
        s.args[name] = sweep_args(root / name, "wk", ONE, *WORKER_SETS, "--set", f"data.root={images}",
                                  "--no-report")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert cli(s.args[name]) == 0, buf.getvalue()
    s.runs = {name: run_dirs(root / name, "wk")[0] for name in s.args}
    s.jobs = {}
    for name, how in (("term", ["scontrol", "requeue"]), ("usr2", ["scancel", "--signal", "USR2"])):
        run = s.runs[name]
        # mid-epoch (12 steps an epoch, a row every 2), when the epoch's workers are at work, past epoch 3
        wait_for(lambda: (run / "metrics.jsonl").exists() and metric_rows(run)[-1]["step"] > 36
                 and metric_rows(run)[-1]["step"] % 12 in (4, 6), 300, f"the {name} run to be mid-epoch past epoch 3",
                 run.parent / "slurm")
        s.jobs[name] = job_of(run)
        subprocess.run([*how, s.jobs[name]], check=True, timeout=60)
    yield s
    leftover = {json.loads(c.read_text()).get("job_id") for c in root.rglob("claim.json")} - {None}
    if leftover:
        subprocess.run(["scancel", *leftover], capture_output=True, timeout=60)


@needs_cluster
@pytest.mark.parametrize("name", ["term", "usr2"], ids=["scontrol-requeue", "submitit-signal-USR2"])
def test_cluster_a_signalled_run_reading_through_workers_resumes_to_identical_metrics(worker_sweeps_on_cluster, name):
    s = worker_sweeps_on_cluster
    run, ref = s.runs[name], s.runs["ref"]
    assert run.name == ref.name
    a, b = wait_done(run, 480), wait_done(ref, 480)
    assert a["status"] != "failed", a
    assert {k: a[k] for k in METRIC_KEYS} == {k: b[k] for k in METRIC_KEYS}
    assert metric_rows(run) == metric_rows(ref)
    attempts = [json.loads(line) for line in (run / "attempts.jsonl").read_text().splitlines()]
    assert len(attempts) == 2 and 0 < attempts[1]["step"] < a["step"]          # resumed mid-run
    log = "".join(p.read_text() for p in (run.parent / "slurm").glob("*log.*"))
    assert "resumed at step" in log and "killed by signal" not in log
