"""Data-parallel training (core.runtime.distributed) on CPU with gloo: batch shares, batch norm over all ranks,
a two-process run through the torchrun path (tests/dist_probe.py), its equivalence to one process with the
same total batch, and resume after a rank is killed."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.config.hyperparameters import ConfigError
from core.data.batches import ArraySource
from core.data.raw_images import load_arrays
from core.runtime.distributed import CrossRankBatchNorm, check_supported
from core.runtime.run_directory import RunDir
from tests.conftest import REPO, tiny_config

PROBE = REPO / "tests" / "dist_probe.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- batch shares ------------------------------------------------------------------------------------
def test_ranks_split_each_step_batch_into_contiguous_shares_of_the_same_permutation():
    cfg = tiny_config()
    data = load_arrays(cfg.data)
    one = ArraySource(data, cfg, torch.device("cpu"))
    shares = [ArraySource(data, cfg, torch.device("cpu"), rank=r, world=2) for r in range(2)]
    for epoch in (0, 1):
        whole = [idx for _, idx in one.train_epoch(epoch)]
        parts = [[idx for _, idx in s.train_epoch(epoch)] for s in shares]
        assert len(whole) == len(parts[0]) == len(parts[1]) == one.steps_per_epoch
        for i, idx in enumerate(whole):
            assert len(parts[0][i]) == len(parts[1][i]) == cfg.optim.batch_size // 2
            assert torch.equal(torch.cat([parts[0][i], parts[1][i]]), idx)


def test_data_parallel_refuses_what_it_cannot_split():
    check_supported(tiny_config(), 2)                                     # 32 over 2: fine
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        check_supported(tiny_config(), 3)
    with pytest.raises(ConfigError, match="k-step"):
        check_supported(tiny_config(target__k_steps=10), 2)
    with pytest.raises(ConfigError, match="moving_average"):
        check_supported(tiny_config(target__eta="moving_average"), 2)
    check_supported(tiny_config(target__k_steps=10), 1)                  # one process: anything goes


# ---- batch norm over all ranks ---------------------------------------------------------------------------
def _bn_rank(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5, 5) * 3 + 1                                 # the whole batch, same on every rank
    w = torch.randn(8, 3, 5, 5)
    share = slice(rank * 4, (rank + 1) * 4)
    bn = CrossRankBatchNorm(3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    xs = x[share].clone().requires_grad_(True)
    y = bn(xs)
    (y * w[share]).sum().backward()
    torch.save({"y": y.detach(), "dx": xs.grad, "dw": bn.weight.grad, "db": bn.bias.grad,
                "rm": bn.running_mean, "rv": bn.running_var}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_cross_rank_batch_norm_equals_batch_norm_over_the_whole_batch(tmp_path):
    out = str(tmp_path / "bn")
    torch.multiprocessing.spawn(_bn_rank, args=(2, free_port(), out), nprocs=2)
    r = [torch.load(f"{out}.{i}", weights_only=True) for i in range(2)]
    torch.manual_seed(0)
    x = (torch.randn(8, 3, 5, 5) * 3 + 1).requires_grad_(True)
    w = torch.randn(8, 3, 5, 5)
    ref = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    y = ref(x)
    (y * w).sum().backward()
    assert torch.allclose(torch.cat([r[0]["y"], r[1]["y"]]), y, atol=1e-5)
    assert torch.allclose(torch.cat([r[0]["dx"], r[1]["dx"]]), x.grad, atol=1e-5)
    assert torch.allclose(r[0]["dw"] + r[1]["dw"], ref.weight.grad, atol=1e-4)   # summed over ranks
    assert torch.allclose(r[0]["db"] + r[1]["db"], ref.bias.grad, atol=1e-4)
    for i in range(2):
        assert torch.allclose(r[i]["rm"], ref.running_mean, atol=1e-6)
        assert torch.allclose(r[i]["rv"], ref.running_var, atol=1e-5)
    # a per-rank batch norm would differ: the shares' own statistics are not the batch's
    assert not torch.allclose(torch.nn.BatchNorm2d(3).train()(x[:4].detach()) * ref.weight.detach().view(1, -1, 1, 1)
                              + ref.bias.detach().view(1, -1, 1, 1), y[:4], atol=1e-3)


def test_converted_model_keeps_its_state_dict_and_frozen_layers():
    from core.model.simsiam import SimSiam
    from core.runtime.distributed import _convert_cpu
    cfg = tiny_config(model__predictor="frozen")
    model = SimSiam(cfg.model, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen                                                         # the frozen predictor's weights
    converted = _convert_cpu(model, torch.device("cpu"))
    n_bn = sum(isinstance(m, CrossRankBatchNorm) for m in converted.modules())
    assert n_bn > 0 and not any(type(m) in (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d) for m in converted.modules())
    after = converted.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert {n for n, p in converted.named_parameters() if not p.requires_grad} == frozen


# ---- two-process runs ------------------------------------------------------------------------------------
DP = {"optim.epochs": 3, "data.train_subset": 256}        # 8 steps per epoch at batch 32, 16 per rank


def prepare_run(path: Path, **overrides) -> Path:
    cfg = tiny_config(**{k.replace(".", "__"): v for k, v in {**DP, **overrides}.items()})
    rd = RunDir(path)
    rd.write_config(cfg)
    rd.write_meta({"test": "distributed"})
    return path


def launch(run_dir: Path, world: int, tmp: Path, tag: str, env_extra: dict | None = None) -> list[dict]:
    """Start `world` ranks of tests/dist_probe.py on the run; wait; their records (None for a killed rank)."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", **(env_extra or {})}
        out = tmp / f"{tag}.rank{rank}.json"
        procs.append((subprocess.Popen([sys.executable, str(PROBE), str(run_dir), str(out)], env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), out))
    records = []
    for proc, out in procs:
        text, _ = proc.communicate(timeout=240)
        records.append(json.loads(out.read_text()) if out.exists() else {"returncode": proc.returncode, "log": text})
    return records


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dp")
    run = prepare_run(tmp / "run")
    return run, launch(run, 2, tmp, "full")


@pytest.mark.slow
def test_two_ranks_train_the_total_batch_with_identical_parameters_after_every_step(two_rank_run):
    run, (r0, r1) = two_rank_run
    assert r0["status"] == r1["status"] == "ok", (r0, r1)
    steps = 3 * 8
    assert len(r0["checksums"]) == len(r1["checksums"]) == steps
    assert r0["checksums"] == r1["checksums"]                 # parameters and BN buffers, bit for bit
    assert len(set(r0["checksums"])) == steps                 # and they did change every step
    assert set(r0["batch"]) == set(r1["batch"]) == {16}      # each rank: half of the configured 32
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "ok" and result["step"] == steps and result["world_size"] == 2


@pytest.mark.slow
def test_a_two_rank_run_writes_one_run_directory(two_rank_run):
    run, _ = two_rank_run
    rows = RunDir(run).read_metrics()
    logged = [r["step"] for r in rows]
    assert logged == sorted(set(logged))                       # every row once: rank 1 wrote nothing
    assert logged[-1] == 3 * 8
    assert sorted(p.name for p in run.iterdir() if p.suffix != ".pt") == [
        "config.yaml", "meta.json", "metrics.jsonl", "result.json"]


@pytest.mark.slow
def test_two_ranks_compute_what_one_process_computes_with_the_same_total_batch(tmp_path):
    # deterministic views (full-image crops, no flips or colour), so both runs see the same pixels
    same_views = {"augment.crop_scale_min": 1.0, "augment.crop_ratio_min": 1.0, "augment.crop_ratio_max": 1.0,
                  "augment.flip_p": 0.0, "augment.jitter_p": 0.0, "augment.grayscale_p": 0.0,
                  "optim.epochs": 1}
    one = launch(prepare_run(tmp_path / "one", **same_views), 1, tmp_path, "one")[0]
    two = launch(prepare_run(tmp_path / "two", **same_views), 2, tmp_path, "two")
    assert one["status"] == two[0]["status"] == "ok", (one, two)
    assert set(one["batch"]) == {32} and set(two[0]["batch"]) == {16}
    rows = {name: [r for r in RunDir(tmp_path / name).read_metrics() if r["loss"] is not None]
            for name in ("one", "two")}
    assert [r["step"] for r in rows["one"]] == [r["step"] for r in rows["two"]]
    for a, b in zip(rows["one"], rows["two"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
        # z_std is each share's std averaged over ranks, not the std over the whole batch: close, not equal
        assert a["z_std"] == pytest.approx(b["z_std"], rel=2e-2)


@pytest.mark.slow
def test_a_killed_two_rank_run_resumes_to_the_uninterrupted_result(two_rank_run, tmp_path):
    full_run, _ = two_rank_run
    run = prepare_run(tmp_path / "run")
    killed = launch(run, 2, tmp_path, "killed", {"PROBE_KILL_AT_STEP": "12"})   # mid-epoch 2
    assert "returncode" in killed[0] and killed[0]["returncode"] == -9
    assert not (run / "result.json").exists()
    assert max(r["step"] for r in RunDir(run).read_metrics()) < 3 * 8
    resumed = launch(run, 2, tmp_path, "resumed")
    assert resumed[0]["status"] == resumed[1]["status"] == "ok", resumed
    assert len(resumed[0]["checksums"]) == 3 * 8 - 8            # resumed from the end of epoch 1
    a, b = (json.loads((p / "result.json").read_text()) for p in (full_run, run))
    for key in ("status", "step", "loss", "z_std", "knn_acc", "linear_acc", "z_erank"):
        assert a[key] == b[key], key
    assert RunDir(run).read_metrics() == RunDir(full_run).read_metrics()
