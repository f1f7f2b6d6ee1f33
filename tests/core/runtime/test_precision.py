"""core.runtime.precision, the GPU training step's settings, exercised on the CPU: bf16 autocast, channels_last,
torch.compile and the backend flags. The defaults must change nothing (CPU records are bit-reproducible)."""
import shutil

import pytest
import torch

from core.model.simsiam import SimSiam
from core.runtime import precision
from core.runtime.checkpoint import load_checkpoint
from core.runtime.run_directory import RunDir
from core.train.loop import train
from tests.conftest import ABLATION_PATHS, tiny_config

QUIET = dict(log=lambda s: None)


def _model_and_views(**overrides):
    cfg = tiny_config(**overrides)
    torch.manual_seed(0)
    model = SimSiam(cfg.model, 1).train()
    g = torch.Generator().manual_seed(1)
    x1, x2 = (torch.randn(16, 1, 16, 16, generator=g) for _ in range(2))
    return cfg, model, x1, x2


def _fresh_copy(model, cfg):
    other = SimSiam(cfg.model, 1).train()
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.slow
def test_defaults_are_exactly_the_plain_forward():
    cfg, model, x1, x2 = _model_and_views()
    assert (cfg.run.precision, cfg.run.channels_last, cfg.run.compile) == ("fp32", False, False)
    plain = _fresh_copy(model, cfg)
    assert precision.prepare_model(model, cfg.run) is model
    for ours, ref in zip(precision.forward(model, x1, x2, cfg.run), plain(x1, x2)):
        assert torch.equal(ours, ref)                                       # bit for bit


@pytest.mark.slow
def test_bf16_runs_the_convolutions_in_bf16_and_returns_fp32():
    cfg, model, x1, x2 = _model_and_views(run__precision="bf16")
    fp32 = _fresh_copy(model, cfg)
    conv_dtypes = []
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, out: conv_dtypes.append(out.dtype))
    out = precision.forward(model, x1, x2, cfg.run)
    assert conv_dtypes == [torch.bfloat16, torch.bfloat16]                  # one per view
    assert all(t.dtype == torch.float32 for t in out)                       # loss and z_std see fp32
    assert model.projector[0].weight.dtype == torch.float32                 # master weights stay fp32
    ref = fp32(x1, x2)
    for a, b in zip(out, ref):
        cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
        assert cos.min() > 0.98 and not torch.equal(a, b)                   # close to fp32, yet not fp32


@pytest.mark.slow
def test_channels_last_stores_nhwc_matches_nchw_and_checkpoints_load_either_way():
    cfg, model, x1, x2 = _model_and_views(run__channels_last=True)
    nchw = _fresh_copy(model, cfg)
    precision.prepare_model(model, cfg.run)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    wide = next(m for m in nchw.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert not wide.weight.is_contiguous(memory_format=torch.channels_last)  # (1 input channel is both layouts)
    ours = precision.forward(model, x1, x2, cfg.run)
    for a, b in zip(ours, nchw(x1, x2)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    back = _fresh_copy(model, cfg)                                          # NHWC state_dict into an NCHW model
    for a, b in zip(back(x1, x2), ours):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cudnn_autotuning_is_turned_on_for_cuda_only():
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        precision.configure_backends(torch.device("cpu"))
        assert torch.backends.cudnn.benchmark is False
        precision.configure_backends(torch.device("cuda"))               # sets a flag; needs no GPU
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("path", [{}, {"target__k_steps": 2}, {"loss__symmetry": "asym2x"},
                                  {"target__eta": "moving_average", "model__predictor": "none"}],
                         ids=["default", "k-step", "asym2x", "moving-average"])
@pytest.mark.slow
def test_a_bf16_channels_last_run_trains_like_fp32(tmp_path, path):
    fast = train(tiny_config(run__precision="bf16", run__channels_last=True, **path), tmp_path / "fast", {}, **QUIET)
    ref = train(tiny_config(**path), tmp_path / "ref", {}, **QUIET)
    assert fast["status"] == ref["status"] == "ok"
    rows = [[r["loss"] for r in RunDir(tmp_path / d).read_metrics() if r["loss"] is not None] for d in ("fast", "ref")]
    assert len(rows[0]) == len(rows[1]) > 2
    # measured: bf16 moves the logged losses by at most 0.0024; another seed moves them by 0.03 or more
    assert max(abs(a - b) for a, b in zip(*rows)) < 0.006


def _eager_and_compiled_losses(tmp_path, switch: str, **path) -> tuple[list[float], list[float]]:
    """The logged losses of a one-epoch run, eager and with `switch` on (both runs end ok)."""
    cfg = dict(optim__epochs=1, **path)
    eager = train(tiny_config(**cfg), tmp_path / "eager", {}, **QUIET)
    compiled = train(tiny_config(**{switch: True}, **cfg), tmp_path / "compiled", {}, **QUIET)
    assert compiled["status"] == eager["status"] == "ok"
    eager_rows, compiled_rows = ([r["loss"] for r in RunDir(tmp_path / d).read_metrics() if r["loss"] is not None]
                                 for d in ("eager", "compiled"))
    return eager_rows, compiled_rows


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on CPU (inductor) needs a C++ compiler")
@pytest.mark.slow
@pytest.mark.parametrize("switch", ["run__compile", "run__compile_step"])
def test_compiled_run_matches_eager_and_keeps_checkpoint_keys(tmp_path, switch):
    eager, compiled = _eager_and_compiled_losses(tmp_path, switch)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)     # fused kernels, the same math
    keys = [list(load_checkpoint(tmp_path / d)["model"]) for d in ("eager", "compiled")]
    assert keys[0] == keys[1] and not any("_orig_mod" in k for k in keys[1])


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on CPU (inductor) needs a C++ compiler")
@pytest.mark.slow
def test_compiled_whole_step_matches_the_eager_step_and_a_new_lr_is_no_recompile():
    from torch._dynamo.utils import counters

    from core.objective.objectives import make_objective
    from core.objective.targets import SameNetwork
    from core.optim.optimizer import build_optimizer, set_lr
    from core.train.step import lr_as_tensor, step_function, train_step
    cpu = torch.device("cpu")
    g = torch.Generator().manual_seed(1)
    views = [tuple(torch.randn(16, 1, 16, 16, generator=g) for _ in range(2)) for _ in range(5)]
    idx = torch.arange(16)
    torch._dynamo.reset()
    counters.clear()
    runs = {}
    for name, cfg in (("eager", tiny_config()), ("compiled", tiny_config(run__compile_step=True))):
        torch.manual_seed(0)
        model = SimSiam(cfg.model, 1).train()
        optimizer = build_optimizer(cfg, model, 0.1)
        lr_as_tensor(optimizer, cfg.run, cpu)
        step = step_function(cfg.run)
        assert (step is train_step) == (name == "eager")
        objective, stats, graphs = make_objective(cfg, model, cpu), [], []
        for i, (x1, x2) in enumerate(views):
            set_lr(optimizer, cfg, 0.1, 0.3 * i)                          # a new lr every step
            stats.append(step(model, optimizer, [(x1, x2)], idx, SameNetwork(), objective, cfg.run, i).stats)
            graphs.append(counters["stats"]["unique_graphs"])
        lr = optimizer.param_groups[0]["lr"]
        assert isinstance(lr, torch.Tensor if name == "compiled" else float) and float(lr) < 0.1
        runs[name] = torch.stack(stats), [p.detach().clone() for p in model.parameters()], graphs
    (eager, eager_params, _), (compiled, compiled_params, graphs) = runs["eager"], runs["compiled"]
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)    # loss and z_std of every step
    for a, b in zip(compiled_params, eager_params):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)            # the weights after five updates
    assert graphs[1] == graphs[-1] > 0        # compiled once more for the optimizer state, then never again
    # dynamo breaks the graph at each read of a value on the host (item, tolist, a data-sized op): none here,
    # so the step reads nothing back between logging points (it breaks at zero_grad and backward)
    reasons = [reason.splitlines()[0] for reason in counters["graph_break"]]
    assert reasons and not [r for r in reasons if any(read in r for read in HOST_READS)], reasons


HOST_READS = ("Tensor.item()", "Tensor.tolist()", "Dynamic shape operator", "Data-dependent", "data-dependent")


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on CPU (inductor) needs a C++ compiler")
@pytest.mark.slow
@pytest.mark.parametrize("path", ["k-step", "moving-average", "moco", "swav"])
def test_the_compiled_step_keeps_the_losses_of_every_target_and_objective(tmp_path, path):
    """run.compile_step compiles the targets' and objectives' state updates with the step (k-step's cache, the
    moving-average table, the momentum copy, the queue, Sinkhorn-Knopp): the same losses as the eager run."""
    eager, compiled = _eager_and_compiled_losses(tmp_path, "run__compile_step", **ABLATION_PATHS[path])
    assert len(eager) == len(compiled) > 1
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
