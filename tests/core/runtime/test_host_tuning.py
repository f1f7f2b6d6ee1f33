"""core.runtime.host_tuning (issue 34): glibc's mmap and trim thresholds raised at a run's start, each unless the user
set it, a no-op without glibc; OMP_WAIT_POLICY=PASSIVE in the environment of a run with more than one thread,
unless the user chose a wait policy; the local executor passes it on."""
import io
import os
import queue
import statistics
import subprocess
import sys

import pytest

from core.runtime import host_tuning
from core.runtime.host_tuning import LARGE_BUFFER_BYTES, keep_large_buffers, thread_env
from tests.conftest import REPO, tiny_config

GLIBC = bool(getattr(os, "confstr", None) and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"))


class FakeMallopt:
    def __init__(self, accepts: bool = True):
        self.calls, self.accepts = [], accepts

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1 if self.accepts else 0


def test_both_thresholds_are_raised_by_default():
    mallopt = FakeMallopt()
    assert keep_large_buffers({}, mallopt) == {"mmap_threshold": LARGE_BUFFER_BYTES,
                                               "trim_threshold": LARGE_BUFFER_BYTES}
    assert sorted(mallopt.calls) == [(-3, LARGE_BUFFER_BYTES), (-1, LARGE_BUFFER_BYTES)]   # M_MMAP_, M_TRIM_THRESHOLD


@pytest.mark.parametrize("environ, kept", [
    ({"MALLOC_MMAP_THRESHOLD_": "131072"}, "mmap_threshold"),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, "trim_threshold"),
    ({"GLIBC_TUNABLES": "glibc.malloc.check=0:glibc.malloc.mmap_threshold=65536"}, "mmap_threshold"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, "trim_threshold"),
])
def test_a_threshold_the_user_set_is_kept(environ, kept):
    mallopt = FakeMallopt()
    done = keep_large_buffers(environ, mallopt)
    assert kept not in done and len(done) == 1 and len(mallopt.calls) == 1


def test_a_value_glibc_refuses_is_not_reported_as_set():
    assert keep_large_buffers({}, FakeMallopt(accepts=False)) == {}


@pytest.mark.parametrize("confstr", [None, "musl", ValueError])
def test_without_glibc_nothing_is_called(monkeypatch, confstr):
    def fake(name):
        if confstr is ValueError:
            raise ValueError(name)
        return confstr
    monkeypatch.setattr(host_tuning.os, "confstr", fake)
    monkeypatch.setattr(host_tuning.ctypes, "CDLL", lambda *a: pytest.fail("loaded a C library without glibc"))
    assert keep_large_buffers({}) == {}


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_with_the_thresholds_a_forward_pass_stops_faulting_its_pages():
    """In fresh processes, a forward pass of 1024 images through two convolutions (each output 49 MiB, as the cpu
    preset's kNN monitor makes them), ten times: at glibc's defaults every pass maps its outputs afresh and faults
    every page; with the thresholds raised the heap keeps them, and from the third pass on a pass faults none (now
    and then one pass one buffer's pages, as the heap's layout settles)."""
    code = ("import resource, sys, torch\n"
            "from core.runtime.host_tuning import keep_large_buffers\n"
            "if sys.argv[1] == 'raised': assert keep_large_buffers()\n"
            "torch.manual_seed(0)\n"
            "net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), "
            "torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)).eval()\n"
            "x, faults, sums = torch.randn(1024, 1, 28, 28), [], []\n"
            "with torch.no_grad():\n"
            "    for _ in range(10):\n"
            "        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "        sums.append(net(x).sum().item())\n"
            "        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)\n"
            "print(faults, sums)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env["OMP_NUM_THREADS"] = "1"

    def passes(mode):
        out = subprocess.run([sys.executable, "-c", code, mode], cwd=REPO, env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        faults, sums = out.strip().split("] [")
        return [int(f) for f in faults.strip("[").split(",")], sums
    output_pages = (1024 * 16 * 28 * 28 * 4) // os.sysconf("SC_PAGE_SIZE")
    default, raised = passes("default"), passes("raised")
    assert all(f > output_pages for f in default[0][2:])
    assert statistics.median(raised[0][2:]) < 100 and sum(raised[0][2:]) < 2 * output_pages, raised[0]
    assert default[1] == raised[1]                               # the same sums, to the last bit of their repr


def test_passive_wait_only_where_a_run_has_more_than_one_thread():
    assert thread_env(1, {}) == {}
    assert thread_env(2, {}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert thread_env(16, {"PATH": "/bin"}) == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("user", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": ""}, {"GOMP_SPINCOUNT": "1000"}])
def test_a_wait_policy_the_user_chose_is_kept(user):
    assert thread_env(2, user) == {}


def _launched_env(monkeypatch, tmp_path, jobs: int, cfg, environ: dict) -> dict:
    """The environment the local executor starts a run's process with (sweeps.executors._launch), cores = 2."""
    from sweeps import executors
    from sweeps.expand import RunSpec
    from sweeps.progress import Display
    seen = {}
    real_popen = subprocess.Popen

    def popen(cmd, env, **kw):
        seen.update(env)
        return real_popen([sys.executable, "-c", "pass"], **kw)
    monkeypatch.setattr(executors.subprocess, "Popen", popen)
    monkeypatch.setattr(executors, "take", lambda *a, **k: True)
    monkeypatch.setattr(executors.runlock, "update", lambda *a, **k: True)
    monkeypatch.setattr(executors.os, "cpu_count", lambda: 2)
    for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in environ.items():
        monkeypatch.setenv(k, v)
    spec = RunSpec("s", "c", 0, {}, "cpu", cfg, "c-s0-x", tmp_path / "c-s0-x")
    worker = executors._launch(spec, 1, 1, jobs, queue.Queue(), Display(mode="plain", out=io.StringIO()))
    worker.proc.wait()
    worker.reader.join(timeout=5)
    return seen


@pytest.mark.parametrize("jobs, threads, environ, policy", [
    (1, 0, {}, "PASSIVE"),                              # one run on two cores: 2 threads
    (2, 0, {}, None),                                   # two runs: one thread each, nothing to wait for
    (2, 2, {}, "PASSIVE"),                              # run.threads 2 under --jobs 2
    (1, 1, {}, None),                                   # run.threads 1
    (1, 0, {"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE"),    # the user's own
])
def test_the_local_executor_starts_a_multithreaded_run_with_passive_wait(monkeypatch, tmp_path, jobs, threads,
                                                                         environ, policy):
    env = _launched_env(monkeypatch, tmp_path, jobs, tiny_config(run__threads=threads), environ)
    assert env.get("OMP_WAIT_POLICY") == policy
    assert env["OMP_NUM_THREADS"] == str(2 // jobs)


# ---- run ids: issue 34 adds no config field; every committed run keeps its id -------------------------------------

KNOWN_RUNS = [   # (records dir, sweep, case, seed, preset): run ids committed before issue 34
    ("cpu/stopgrad", "stopgrad", "w/ stop-grad", 0, "cpu", "w-stop-grad-s0-be910b05"),
    ("cpu/methods", "methods", "SwAV", 0, "cpu", "swav-s0-80cd03cf"),
    ("cpu/batch_size", "batch_size", "4096", 0, "cpu", "4096-s0-bde62423"),
    ("cpu_full/stopgrad", "stopgrad", "w/o stop-grad", 2, "cpu_full", "wo-stop-grad-s2-7117cd12"),
    ("cpu_full/predictor", "predictor", "(a) no pred. MLP", 0, "cpu_full", "a-no-pred.-mlp-s0-3557e9b3"),
]


@pytest.mark.parametrize("where, sweep, case, seed, preset, run_id", KNOWN_RUNS)
def test_every_committed_run_keeps_its_run_id(where, sweep, case, seed, preset, run_id):
    import json

    from core.config.hyperparameters import config_hash, load_yaml
    from sweeps.expand import expand
    from sweeps.sweepfile import load_sweep
    run_dir = REPO / "records" / where / run_id
    assert json.loads((run_dir / "meta.json").read_text())["run_id"] == run_id
    [spec] = expand(load_sweep(sweep), preset, REPO / "records", [seed], None, [case])
    assert spec.run_id == run_id
    assert config_hash(load_yaml((run_dir / "config.yaml").read_text())) == run_id.rsplit("-", 1)[1]
