import torch
import torch.nn as nn

from core.model.simsiam import SimSiam
from tests.conftest import tiny_config


def _bn_layout(seq: nn.Sequential):
    """For each Linear, whether a BatchNorm1d follows it (and its affine)."""
    mods = list(seq)
    out = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            out.append(("bn", nxt.affine) if isinstance(nxt, nn.BatchNorm1d) else None)
    return out


def test_projector_has_bn_on_every_fc_including_output():
    m = SimSiam(tiny_config(model__proj_layers=3).model, 1)
    assert _bn_layout(m.projector) == [("bn", True), ("bn", True), ("bn", True)]
    assert not isinstance(list(m.projector)[-1], nn.ReLU)  # output fc has no ReLU


def test_projector_output_affine_option():
    m = SimSiam(tiny_config(model__proj_out_affine=False).model, 1)
    assert _bn_layout(m.projector) == [("bn", True), ("bn", False)]


def test_predictor_bn_on_hidden_only_with_bottleneck():
    cfg = tiny_config(model__dim=32, model__pred_hidden=8).model
    m = SimSiam(cfg, 1)
    assert _bn_layout(m.h) == [("bn", True), None]
    linears = [layer for layer in m.h if isinstance(layer, nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(32, 8), (8, 32)]


def test_forward_shapes_and_param_split():
    cfg = tiny_config()
    m = SimSiam(cfg.model, 1)
    x = torch.randn(6, 1, 16, 16)
    p1, p2, z1, z2 = m(x, x)
    assert p1.shape == z1.shape == (6, cfg.model.dim)
    enc, pred = {id(p) for p in m.encoder_parameters()}, {id(p) for p in m.predictor_parameters()}
    assert not enc & pred and enc | pred == {id(p) for p in m.parameters()}


def test_cifar_resnet18_stem_and_resnet50_features():
    m = SimSiam(tiny_config(model__backbone="cifar_resnet18").model, 3)
    assert m.backbone.conv1.kernel_size == (3, 3) and m.backbone.conv1.stride == (1, 1)
    assert isinstance(m.backbone.maxpool, nn.Identity) and m.feature_dim == 512
    m50 = SimSiam(tiny_config(model__backbone="resnet50").model, 3)
    assert m50.feature_dim == 2048
    # zero-init residual: the last BN of every bottleneck starts at gamma = 0
    assert all(b.bn3.weight.abs().sum() == 0 for layer in (m50.backbone.layer1, m50.backbone.layer4) for b in layer)
