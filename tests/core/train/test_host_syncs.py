"""No per-step host sync in the training step, checked on the CPU: benchmarks.timing.sync_points counts the
ops that would make the host wait for a GPU (value reads, data-sized outputs, bool-mask indexing), and a
training run's count must not grow with its number of steps, only with its logging points."""
import pytest
import torch

from benchmarks.timing import sync_points
from core.train.loop import train
from tests.conftest import ABLATION_PATHS, tiny_config

X = torch.arange(-2.0, 3.0)


@pytest.mark.parametrize("fn, name", [
    (lambda: X.sum().item(), "aten._local_scalar_dense"),
    (lambda: bool(X.sum() > 0), "aten._local_scalar_dense"),
    (lambda: float(X.max()), "aten._local_scalar_dense"),
    (lambda: X.tolist(), "Tensor.tolist"),
    (lambda: X.numpy(), "Tensor.numpy"),
    (lambda: X[X > 0], "aten.index (bool mask)"),
    (lambda: X.clone().__setitem__(X > 0, 0.0), "aten.index_put_ (bool mask)"),
    (lambda: X.nonzero(), "aten.nonzero"),
    (lambda: torch.unique(X), "aten._unique2"),
    (lambda: torch.repeat_interleave(torch.tensor([1, 2])), "aten.repeat_interleave.Tensor"),
])
def test_counts_what_would_wait_for_a_gpu(fn, name):
    assert sync_points(fn) == {name: 1}


def test_device_side_work_is_not_counted_and_patches_are_undone():
    def device_only():
        y = torch.where(X > 0, X, torch.zeros(()))          # masks used as values, not as indices
        y = y[torch.tensor([0, 2])] * 2 + X.sum()           # integer indexing, reductions kept as tensors
        torch.randperm(5, generator=torch.Generator().manual_seed(0))
        return torch.repeat_interleave(y, 2)                # an int repeat count knows its output size
    originals = torch.Tensor.tolist, torch.Tensor.numpy
    assert sync_points(device_only) == {}
    with pytest.raises(ZeroDivisionError):
        sync_points(lambda: 1 / 0)
    assert (torch.Tensor.tolist, torch.Tensor.numpy) == originals      # restored, also after an exception


def _run(tmp_path, name, **overrides) -> dict:
    cfg = tiny_config(optim__epochs=1, **overrides)
    return dict(sync_points(lambda: train(cfg, tmp_path / name, {}, log=lambda s: None)))


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("path", list(ABLATION_PATHS.values()), ids=list(ABLATION_PATHS))
@pytest.mark.slow
def test_training_steps_add_no_host_sync_only_logging_points_do(tmp_path, path, device):
    # 128 images: 16 steps at batch 8, 8 at batch 16; log_every 1000 logs at the epoch's end only
    many = _run(tmp_path, "many", optim__batch_size=8, run__log_every=1000, run__device=device, **path)
    few = _run(tmp_path, "few", optim__batch_size=16, run__log_every=1000, run__device=device, **path)
    assert many == few                                      # twice the steps, not one sync more
    logged = _run(tmp_path, "logged", optim__batch_size=16, run__log_every=4, run__device=device, **path)
    assert logged["Tensor.tolist"] == few["Tensor.tolist"] + 1                       # one pull of the device sums
    assert sum(logged.values()) - sum(few.values()) == 2                             # and the z_erank value
