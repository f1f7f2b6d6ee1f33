import torch

from core.objective.losses import negative_cosine, simsiam_loss


def test_D_of_identical_vectors_is_minus_one_and_scale_invariant():
    p = torch.randn(8, 16)
    assert torch.allclose(negative_cosine(p, p), torch.tensor(-1.0))
    assert torch.allclose(negative_cosine(p, 3.0 * p), torch.tensor(-1.0))
    assert torch.allclose(negative_cosine(p, -p), torch.tensor(1.0))


def test_D_matches_formula():
    p, z = torch.tensor([[1.0, 0.0], [3.0, 4.0]]), torch.tensor([[1.0, 1.0], [4.0, 3.0]])
    expected = -((1 / 2 ** 0.5) + (24 / 25)) / 2
    assert torch.allclose(negative_cosine(p, z), torch.tensor(expected))


def test_symmetric_loss_is_mean_of_both_terms():
    p1, p2, z1, z2 = (torch.randn(4, 8) for _ in range(4))
    expected = 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2), expected)
    assert torch.allclose(simsiam_loss(p1, p2, z1, z2, symmetric=False), negative_cosine(p1, z2))


def _grads(stop_grad: bool):
    torch.manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(4, 8, requires_grad=True) for _ in range(4))
    simsiam_loss(p1, p2, z1, z2, stop_grad=stop_grad).backward()
    return p1.grad, z1.grad, z2.grad


def test_stop_grad_blocks_gradient_into_target_branch():
    gp, gz1, gz2 = _grads(stop_grad=True)
    assert gz1 is None and gz2 is None          # z only ever enters as a constant target
    assert gp is not None and gp.abs().sum() > 0


def test_without_stop_grad_gradient_reaches_target_branch():
    gp, gz1, gz2 = _grads(stop_grad=False)
    assert gz1 is not None and gz1.abs().sum() > 0
    assert gz2 is not None and gz2.abs().sum() > 0


def test_stop_grad_gradient_through_encoder_comes_only_from_predictor_path():
    # f shared by both views; with stop-grad, f's gradient equals the gradient of the p-path alone
    torch.manual_seed(0)
    f = torch.nn.Linear(6, 8)
    h = torch.nn.Linear(8, 8)
    x1, x2 = torch.randn(5, 6), torch.randn(5, 6)
    z1, z2 = f(x1), f(x2)
    simsiam_loss(h(z1), h(z2), z1, z2, stop_grad=True).backward()
    g_sg = f.weight.grad.clone()
    f.zero_grad()
    z1, z2 = f(x1), f(x2)
    (0.5 * negative_cosine(h(z1), z2.detach()) + 0.5 * negative_cosine(h(z2), z1.detach())).backward()
    assert torch.allclose(g_sg, f.weight.grad)
    f.zero_grad()
    z1, z2 = f(x1), f(x2)
    simsiam_loss(h(z1), h(z2), z1, z2, stop_grad=False).backward()
    assert not torch.allclose(g_sg, f.weight.grad)
