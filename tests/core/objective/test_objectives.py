"""The Sec. 6 objectives against direct computations of their formulas, and where their gradients flow."""
import math

import pytest
import torch
import torch.nn.functional as F

from core.objective import contrastive as nce
from core.objective.losses import simsiam_loss
from core.objective.objectives import InfoNCE, KeyQueue, Similarity, SwappedPrediction
from tests.conftest import tiny_config


def _cos(a, b):
    return float(F.cosine_similarity(a, b, dim=0))


def _rows(n, d, seed=0, grad=False, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=dtype).requires_grad_(grad) for _ in range(4)]


# ---- InfoNCE -------------------------------------------------------------------------------------------
def test_in_batch_infonce_is_nt_xent_over_the_2b_views():
    """SimCLR: each of the 2B views against its positive and the 2B - 2 views of the other images."""
    _, _, z1, z2 = _rows(5, 4)
    tau = 0.3
    views = list(z1) + list(z2)                                   # view a of image i: index a * 5 + i
    losses = []
    for a, anchor in enumerate(views):
        pos = (a + 5) % 10
        denom = sum(math.exp(_cos(anchor, views[b]) / tau) for b in range(10) if b != a)
        losses.append(-math.log(math.exp(_cos(anchor, views[pos]) / tau) / denom))
    cfg = tiny_config(loss__objective="infonce", loss__negatives="batch", loss__temperature=tau,
                      model__predictor="none", model__stop_grad=False)
    ours = InfoNCE(cfg, "cpu")(z1, z2, z1, z2)                    # no predictor: p = z, same network: t = z
    assert float(ours) == pytest.approx(sum(losses) / 10, rel=1e-12)


def test_queue_infonce_is_minus_log_softmax_of_the_positive_among_the_queue():
    p1, _, _, t2 = _rows(3, 4, seed=1)
    queue = F.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64), dim=1)
    tau = 0.2
    expected = 0.0
    for i in range(3):
        pos = math.exp(_cos(p1[i], t2[i]) / tau)
        neg = sum(math.exp(_cos(p1[i], k) / tau) for k in queue)
        expected += -math.log(pos / (pos + neg)) / 3
    logits = nce.queue_logits(p1, t2, queue, tau)
    assert logits.shape == (3, 7)
    assert float(nce.info_nce(logits, torch.zeros(3, dtype=torch.long))) == pytest.approx(expected, rel=1e-12)


def test_queue_is_fifo_wraps_around_and_stores_unit_keys():
    q = KeyQueue(size=5, dim=2, seed=0, device="cpu")
    start = q.keys.clone()
    assert torch.allclose(start.norm(dim=1), torch.ones(5))
    a = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    q.push(a)
    assert torch.equal(q.keys[:3], F.normalize(a, dim=1)) and torch.equal(q.keys[3:], start[3:]) and q.ptr == 3
    b = torch.tensor([[0.0, -1.0], [-4.0, 0.0], [0.0, 5.0]])
    q.push(b)                                                       # the two oldest random keys, then a's first
    assert torch.equal(q.keys[3:], F.normalize(b[:2], dim=1)) and torch.equal(q.keys[0], F.normalize(b[2], dim=0))
    assert torch.equal(q.keys[1:3], F.normalize(a[1:], dim=1)) and q.ptr == 1


def test_queue_gets_no_gradient_and_takes_the_step_keys_only_after_the_step():
    cfg = tiny_config(loss__objective="infonce", loss__negatives="queue", loss__queue_size=64,
                      optim__batch_size=8, model__dim=4)
    obj = InfoNCE(cfg, "cpu")
    before = obj.queue.keys.clone()
    p1, p2, t1, t2 = _rows(8, 4, seed=2, grad=True, dtype=torch.float32)
    loss = obj(p1, p2, t1, t2)
    loss.backward()
    assert not obj.queue.keys.requires_grad and torch.equal(obj.queue.keys, before)   # not yet: no own keys
    assert t1.grad is None and t2.grad is None                      # stop-grad: keys are constants
    expected = 0.5 * nce.info_nce(nce.queue_logits(p1, t2, before, 0.1), torch.zeros(8, dtype=torch.long)) \
        + 0.5 * nce.info_nce(nce.queue_logits(p2, t1, before, 0.1), torch.zeros(8, dtype=torch.long))
    assert torch.equal(loss, expected)
    obj.after_step()
    assert torch.equal(obj.queue.keys[:16], F.normalize(torch.cat([t2, t1]).detach(), dim=1)) and obj.queue.ptr == 16


def test_infonce_stop_grad_blocks_the_target_branch_and_without_it_both_branches_learn():
    for stop_grad in (True, False):
        cfg = tiny_config(loss__objective="infonce", loss__negatives="batch", model__stop_grad=stop_grad)
        p1, p2, t1, t2 = _rows(6, 4, seed=3, grad=True)
        InfoNCE(cfg, "cpu")(p1, p2, t1, t2).backward()
        assert p1.grad is not None and p1.grad.abs().sum() > 0
        if stop_grad:
            assert t1.grad is None and t2.grad is None
        else:
            assert t1.grad.abs().sum() > 0 and t2.grad.abs().sum() > 0


# ---- SwAV ----------------------------------------------------------------------------------------------
def _sinkhorn_by_hand(scores, iters, eps):
    Q = [[math.exp(scores[b][k] / eps) for b in range(len(scores))] for k in range(len(scores[0]))]  # K x B
    K, B = len(Q), len(Q[0])
    total = sum(map(sum, Q))
    Q = [[v / total for v in row] for row in Q]
    for _ in range(iters):
        Q = [[v / sum(row) / K for v in row] for row in Q]
        cols = [sum(Q[k][b] for k in range(K)) for b in range(B)]
        Q = [[Q[k][b] / cols[b] / B for b in range(B)] for k in range(K)]
    return [[Q[k][b] * B for k in range(K)] for b in range(B)]


def test_sinkhorn_equals_the_iterations_written_out():
    scores = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64).tanh()
    ours = nce.sinkhorn(scores, 3, 0.5)
    assert torch.allclose(ours, torch.tensor(_sinkhorn_by_hand(scores.tolist(), 3, 0.5), dtype=torch.float64))


def test_sinkhorn_marginals_each_image_sums_to_one_each_prototype_gets_b_over_k():
    scores = torch.randn(12, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64).tanh()
    q = nce.sinkhorn(scores, 3, 0.05)
    assert torch.allclose(q.sum(dim=1), torch.ones(12, dtype=torch.float64))     # exact after the column step
    assert not torch.allclose(q.sum(dim=0), torch.full((4,), 3.0, dtype=torch.float64), atol=1e-3)
    q = nce.sinkhorn(scores, 300, 0.5)                                           # converged: equal shares
    assert torch.allclose(q.sum(dim=0), torch.full((4,), 3.0, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(q.sum(dim=1), torch.ones(12, dtype=torch.float64)) and (q >= 0).all()


def test_swapped_prediction_is_the_cross_entropy_of_the_other_views_codes():
    p, C, codes = _rows(5, 3, seed=6)[:2] + [torch.softmax(_rows(5, 4, seed=7)[0], dim=1)]
    C = C[:4]
    tau, expected = 0.1, 0.0
    for i in range(5):
        s = [_cos(p[i], C[k]) / tau for k in range(4)]
        log_z = math.log(sum(math.exp(v) for v in s))
        expected -= sum(codes[i, k].item() * (s[k] - log_z) for k in range(4)) / 5
    assert float(nce.swapped_prediction(p, codes, C, tau)) == pytest.approx(expected, rel=1e-12)


def test_swav_loss_is_symmetric_and_stop_grad_makes_the_codes_constants():
    p1, p2, t1, t2 = _rows(8, 3, seed=4, grad=True)
    C = torch.nn.Parameter(_rows(4, 3, seed=8)[0])
    cfg = tiny_config(loss__objective="swav")
    obj = SwappedPrediction(cfg, C)
    with torch.no_grad():
        q1, q2 = (nce.sinkhorn(nce.prototype_scores(t, C), 3, 0.05) for t in (t1, t2))
    expected = 0.5 * nce.swapped_prediction(p1, q2, C, 0.1) + 0.5 * nce.swapped_prediction(p2, q1, C, 0.1)
    loss = obj(p1, p2, t1, t2)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert t1.grad is None and t2.grad is None and C.grad.abs().sum() > 0        # SwAV: no gradient via codes
    C_grad_sg = C.grad.clone()
    C.grad = None
    SwappedPrediction(tiny_config(loss__objective="swav", model__stop_grad=False), C)(p1, p2, t1, t2).backward()
    assert t1.grad.abs().sum() > 0 and t2.grad.abs().sum() > 0                    # Sec. 6.2: through Sinkhorn
    assert not torch.allclose(C.grad, C_grad_sg)


# ---- SimSiam's loss is the default objective -----------------------------------------------------------
@pytest.mark.parametrize("overrides", [{}, {"loss__similarity": "cross_entropy"}, {"loss__symmetry": "asym"},
                                       {"model__stop_grad": False}])
def test_similarity_objective_is_todays_simsiam_loss_bit_for_bit(overrides):
    cfg = tiny_config(**overrides)
    p1, p2, z1, z2 = _rows(8, 6, seed=5, dtype=torch.float32)
    ours = Similarity(cfg)(p1, p2, z1, z2)
    today = simsiam_loss(p1, p2, z1, z2, cfg.model.stop_grad, cfg.loss.similarity, cfg.loss.symmetry == "sym")
    assert torch.equal(ours, today)
