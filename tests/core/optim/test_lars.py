"""core/optim/lars.py against the formulas it implements: apex's LARC (larc=True, the official main_lincls.py's
optimizer) and the pre-training LARS, at zero norms in particular."""
import pytest
import torch
from torch import nn

from core.model.simsiam import SimSiam
from core.optim.lars import LARS, trust_ratio
from core.optim.optimizer import build_optimizer
from tests.conftest import tiny_config


def _apex_larc_steps(params, grads_per_step, lr, momentum, wd, trust, eps):
    """apex.parallel.LARC (clip=False) around torch.optim.SGD, written from its step(): where ||w|| and ||g|| are
    both non-zero, g <- (g + wd w) * trust ||w|| / (||g|| + wd ||w|| + eps); otherwise g is left as it is, and
    the wrapped SGD runs with weight_decay 0 (LARC takes it over). Then SGD's momentum: buf = m buf + g."""
    ws = [p.detach().clone() for p in params]
    bufs = [None] * len(ws)
    for grads in grads_per_step:
        for k, (w, g) in enumerate(zip(ws, grads)):
            g = g.clone()
            if w.norm() != 0 and g.norm() != 0:
                g = (g + wd * w) * (trust * w.norm() / (g.norm() + w.norm() * wd + eps))
            bufs[k] = g.clone() if bufs[k] is None else bufs[k] * momentum + g
            ws[k] = w - lr * bufs[k]
    return ws


def _run(opt_params, grads_per_step, **kw):
    opt = LARS(opt_params, **kw)
    for grads in grads_per_step:
        for p, g in zip(opt_params, grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in opt_params]


def test_larc_mode_is_apex_larc_on_every_parameter_with_zero_norms_included():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3))
    bias = nn.Parameter(torch.zeros(4))                 # main_lincls.py's fc bias starts at 0: a zero-norm weight
    still = nn.Parameter(torch.randn(5))                # gets a zero gradient at the second step
    params = [w, bias, still]
    steps = [[torch.randn(4, 3), torch.randn(4), torch.randn(5)],
             [torch.randn(4, 3), torch.randn(4), torch.zeros(5)],
             [torch.randn(4, 3), torch.randn(4), torch.randn(5)]]
    kw = dict(lr=0.5, momentum=0.9, wd=0.01, trust=0.001, eps=1e-8)
    want = _apex_larc_steps(params, steps, **kw)
    got = _run(params, steps, lr=0.5, momentum=0.9, weight_decay=0.01, trust=0.001, larc=True, eps=1e-8)
    for g, x in zip(got, want):
        assert torch.allclose(g, x, rtol=1e-6, atol=1e-8)


def test_larc_adds_no_weight_decay_where_a_norm_is_zero():
    wd, lr = 0.1, 1.0
    w0 = torch.full((3,), 2.0)
    w = nn.Parameter(w0.clone())
    w.grad = torch.zeros(3)                                              # zero-norm gradient
    LARS([w], lr=lr, momentum=0.9, weight_decay=wd, larc=True, eps=1e-8).step()
    assert torch.equal(w.detach(), w0)                                   # LARC: left alone, not decayed
    z = nn.Parameter(torch.zeros(2, 2))                                  # zero-norm weight
    g = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    z.grad = g.clone()
    LARS([z], lr=lr, momentum=0.9, weight_decay=wd, larc=True, eps=1e-8).step()
    assert torch.equal(z.detach(), -lr * g)                               # one plain step: no ratio, no wd


def test_pretraining_lars_keeps_its_weight_decay_at_a_zero_gradient():
    """optim.optimizer: lars (not LARC) is unchanged: a matrix with a zero gradient still decays by lr wd w, a
    vector gets plain SGD with weight decay."""
    wd, lr = 0.1, 0.5
    mat, vec = nn.Parameter(torch.full((2, 2), 2.0)), nn.Parameter(torch.full((3,), 2.0))
    mat.grad, vec.grad = torch.zeros(2, 2), torch.zeros(3)
    LARS([mat, vec], lr=lr, momentum=0.9, weight_decay=wd, trust=0.001).step()
    assert torch.allclose(mat.detach(), torch.full((2, 2), 2.0 - lr * wd * 2.0))
    assert torch.allclose(vec.detach(), torch.full((3,), 2.0 - lr * wd * 2.0))


@pytest.mark.parametrize("larc", [False, True])
def test_both_modes_agree_where_both_norms_are_non_zero(larc):
    torch.manual_seed(1)
    w = nn.Parameter(torch.randn(3, 3))
    g = torch.randn(3, 3)
    w.grad = g.clone()
    w0 = w.detach().clone()
    LARS([w], lr=0.3, momentum=0.9, weight_decay=0.01, trust=0.002, larc=larc).step()
    ratio = 0.002 * w0.norm() / (g.norm() + 0.01 * w0.norm())
    assert torch.allclose(w.detach(), w0 - 0.3 * (g + 0.01 * w0) * ratio)


# The switch (Table 2's LARS): the trust ratio by hand, and the optimizer the config names.

def test_lars_trust_ratio_scales_matrix_updates_only():
    w, g = torch.full((2, 2), 3.0), torch.full((2, 2), 0.5)
    assert trust_ratio(w, g, 0.0, 0.001).item() == pytest.approx(0.001 * 6.0 / 1.0)
    assert trust_ratio(torch.zeros(2, 2), g, 0.0, 0.001).item() == 1.0
    mat, vec = nn.Parameter(w.clone()), nn.Parameter(torch.full((2,), 3.0))
    mat.grad, vec.grad = g.clone(), torch.full((2,), 0.5)
    LARS([mat, vec], lr=1.0, momentum=0.9, trust=0.001).step()
    assert torch.allclose(mat, w - 0.5 * 0.006)       # g * ratio
    assert torch.allclose(vec, torch.full((2,), 2.5))  # plain SGD for 1-D parameters


def test_lars_optimizer_is_used_when_configured():
    cfg = tiny_config(optim__optimizer="lars")
    assert isinstance(build_optimizer(cfg, SimSiam(cfg.model, 1), 0.1), LARS)
