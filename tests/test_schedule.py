import math

import pytest

from core.schedule import cosine_lr, scaled_lr


def test_linear_scaling_rule():
    assert scaled_lr(0.05, 512) == pytest.approx(0.1)
    assert scaled_lr(0.05, 4096) == pytest.approx(0.8)  # the lr of Table 2's largest batch


def test_cosine_endpoints_and_midpoint():
    assert cosine_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert cosine_lr(0.1, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert cosine_lr(0.1, 25, 100) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))


def test_warmup_ramps_linearly_then_decays():
    assert cosine_lr(0.8, 0, 100, warmup_epochs=10) == 0.0
    assert cosine_lr(0.8, 5, 100, warmup_epochs=10) == pytest.approx(0.4)
    assert cosine_lr(0.8, 10, 100, warmup_epochs=10) == pytest.approx(0.8)
    assert cosine_lr(0.8, 55, 100, warmup_epochs=10) == pytest.approx(0.4)
