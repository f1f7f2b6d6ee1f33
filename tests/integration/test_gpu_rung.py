"""scripts/gpu_rung.sh, the GPU rung of the scale view (issue 26): what it would run, shown by its dry run on a
machine without a GPU; it refuses to train without CUDA and writes nothing in a dry run."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

SCRIPT = "scripts/gpu_rung.sh"


def _run(tmp_path, *args, **env):
    env = {**os.environ, "PYTHON": sys.executable, "RUNG_DIR": str(tmp_path / "rung"), **env}
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=300)


def _ids(out: str) -> dict[str, list[str]]:
    """{sweep: [run ids]} from the dry runs' listings."""
    ids, sweep = {}, None
    for line in out.splitlines():
        head = re.search(r"\| preset (\S+) \| \d+ runs? in .*/rung/(\w+)$", line)
        if head:
            assert head.group(1) == "cifar10"
            sweep = head.group(2)
            ids[sweep] = []
        elif sweep and re.match(r"  \S+-s\d-[0-9a-f]{8} ", line):
            ids[sweep].append(line.split()[0])
    return ids


def test_the_dry_run_lists_the_headline_rows_at_cifar10_and_writes_nothing(tmp_path):
    r = _run(tmp_path, "--dry-run")
    assert r.returncode == 0, r.stderr
    ids = _ids(r.stdout)
    assert {k: len(v) for k, v in ids.items()} == {"random_network": 3, "stopgrad": 6, "predictor": 9}
    assert {i.rsplit("-s", 1)[0] for i in ids["predictor"]} == {
        "baseline-lr-with-cosine-decay", "a-no-pred.-mlp", "b-fixed-random-init."}
    assert not (tmp_path / "rung").exists()


def test_the_short_schedule_applies_to_the_trained_rows_not_to_the_floor(tmp_path):
    """EPOCHS changes the trained runs' configs (their ids) but not the untrained network's one epoch at lr 0."""
    a, b = _ids(_run(tmp_path, "--dry-run").stdout), _ids(_run(tmp_path, "--dry-run", EPOCHS="7").stdout)
    assert a["random_network"] == b["random_network"]
    assert not set(a["stopgrad"]) & set(b["stopgrad"])
    assert not set(a["predictor"]) & set(b["predictor"])


def test_without_cifar10_it_falls_back_to_fashion_mnist_copied_with_the_code(tmp_path):
    """No DATA_ROOT, a Fashion-MNIST folder at FMNIST_ROOT: the same rows at the cifar10 preset's network, on
    Fashion-MNIST (other run ids than CIFAR-10's); without the folder the rows stay CIFAR-10's."""
    fm = tmp_path / "fashion-mnist"
    fm.mkdir()
    plain = _ids(_run(tmp_path, "--dry-run", FMNIST_ROOT=str(tmp_path / "absent")).stdout)
    r = _run(tmp_path, "--dry-run", FMNIST_ROOT=str(fm))
    assert r.returncode == 0, r.stderr
    assert f"Fashion-MNIST from {fm}" in r.stderr
    fallback = _ids(r.stdout)
    assert {k: len(v) for k, v in fallback.items()} == {"random_network": 3, "stopgrad": 6, "predictor": 9}
    assert not set(fallback["stopgrad"]) & set(plain["stopgrad"])


def test_it_refuses_unknown_arguments(tmp_path):
    r = _run(tmp_path, "--dryrun")
    assert r.returncode == 2 and "unknown argument '--dryrun'" in r.stderr


def test_without_cuda_it_trains_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the script would train")
    r = _run(tmp_path)
    assert r.returncode == 2 and "no CUDA device" in r.stderr
    assert not (tmp_path / "rung").exists()
