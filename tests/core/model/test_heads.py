"""The heads' switches (core/model/simsiam.py): Table 1's predictor removed, Table 3's BN placements, on tiny
tensors."""
import itertools

import pytest
import torch
import torch.nn as nn

from core.model.simsiam import SimSiam
from tests.conftest import tiny_config


def _bn_after_linears(seq):
    mods = list(seq)
    return [isinstance(mods[i + 1], nn.BatchNorm1d) if i + 1 < len(mods) else False
            for i, m in enumerate(mods) if isinstance(m, nn.Linear)]


def test_no_predictor_has_no_parameters_and_p_equals_z():
    m = SimSiam(tiny_config(model__predictor="none").model, 1)
    assert m.predictor_parameters() == [] and len(list(m.h.parameters())) == 0
    p1, p2, z1, z2 = m(torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16))
    assert torch.equal(p1, z1) and torch.equal(p2, z2)


@pytest.mark.parametrize("case,proj,pred", [
    ("none", dict(proj_bn_hidden=False, proj_bn_out=False, pred_bn_hidden=False),
     ([False, False, False], [False, False])),
    ("hidden-only", dict(proj_bn_out=False), ([True, True, False], [True, False])),
    ("default", dict(), ([True, True, True], [True, False])),
    ("all", dict(pred_bn_out=True), ([True, True, True], [True, True])),
])
def test_bn_options_place_batchnorm_exactly_where_table3_says(case, proj, pred):
    cfg = tiny_config(model__proj_layers=3, **{f"model__{k}": v for k, v in proj.items()})
    m = SimSiam(cfg.model, 1)
    assert _bn_after_linears(m.projector) == pred[0]
    assert _bn_after_linears(m.h) == pred[1]
    n_bn = sum(isinstance(x, nn.BatchNorm1d) for x in itertools.chain(m.projector, m.h))
    assert n_bn == sum(pred[0]) + sum(pred[1])          # and nowhere else in the heads
    for seq in (m.projector, m.h):                      # an fc without BN after it has a bias
        mods = list(seq)
        for i, layer in enumerate(mods):
            if isinstance(layer, nn.Linear):
                followed = i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm1d)
                assert (layer.bias is None) == followed
