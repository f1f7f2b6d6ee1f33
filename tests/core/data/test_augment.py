"""Tests for core/data/augment.py: distributions against torchvision, per-image independence, exact ops."""
import dataclasses
import math

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import RandomResizedCrop

from core.data.augment import (adjust_hue, augment, blend_jitter, color_jitter, draw_photometric, photometric,
                          resized_crop, rgb_to_gray, sample_crop_boxes, to_float)
from core.config.hyperparameters import AugmentConfig

# Every op off and the crop forced to the whole (square) image: augment must be the identity.
OFF = AugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, crop_ratio_min=1.0, crop_ratio_max=1.0,
                    flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
JITTER_ONLY = dataclasses.replace(OFF, jitter_p=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(b, c, h, w=None, seed=0):
    return torch.randint(0, 256, (b, c, h, w or h), generator=gen(seed), dtype=torch.uint8)


def rate_ok(frac, p, n):  # within 5 standard errors
    return abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-9


# ---------------------------------------------------------------- crop boxes

def _torchvision_boxes(n, height, width, cfg):
    torch.manual_seed(0)
    img = torch.empty(1, height, width)
    scale, ratio = [cfg.crop_scale_min, cfg.crop_scale_max], [cfg.crop_ratio_min, cfg.crop_ratio_max]
    return torch.tensor([RandomResizedCrop.get_params(img, scale, ratio) for _ in range(n)], dtype=torch.float64)


def _box_stats(boxes, height, width):
    top, left, h, w = boxes.double().unbind(1)
    return {"area": h * w / (height * width), "log_ratio": torch.log(w / h),
            "center_y": (top + h / 2) / height, "center_x": (left + w / 2) / width}


@pytest.mark.parametrize("height,width", [(32, 32), (224, 224), (24, 40)])
def test_crop_boxes_match_torchvision_distribution(height, width):
    n, cfg = 20000, AugmentConfig()
    ours = sample_crop_boxes(n, height, width, cfg, gen())
    assert ours.shape == (n, 4) and ours.dtype == torch.int64
    top, left, h, w = ours.unbind(1)
    assert (h > 0).all() and (w > 0).all() and (top >= 0).all() and (left >= 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    ref = _torchvision_boxes(n, height, width, cfg)
    q = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)
    for name, a in _box_stats(ours, height, width).items():
        b = _box_stats(ref, height, width)[name]
        assert abs(a.mean() - b.mean()) < 0.01, name
        assert (a.quantile(q) - b.quantile(q)).abs().max() < 0.03, name
    # the tails reach as far as torchvision's (on 24x40 the ratio range caps the area near 0.8)
    tails = torch.tensor([0.002, 0.998], dtype=torch.float64)
    area, ref_area = _box_stats(ours, height, width)["area"], _box_stats(ref, height, width)["area"]
    assert (area.quantile(tails) - ref_area.quantile(tails)).abs().max() < 0.03


@pytest.mark.parametrize("height,width,scale,ratio", [
    (20, 40, (0.9, 1.0), (0.2, 0.5)),    # image wider than max ratio: full height, w = h * max
    (40, 20, (0.9, 1.0), (3.0, 4.0)),    # image taller than min ratio: full width, h = w / min
    (32, 32, (1.0, 1.0), (1.5, 2.0)),    # square image, no try fits
])
def test_crop_fallback_matches_torchvision(height, width, scale, ratio):
    cfg = AugmentConfig(crop_scale_min=scale[0], crop_scale_max=scale[1],
                        crop_ratio_min=ratio[0], crop_ratio_max=ratio[1])
    expected = torch.tensor(RandomResizedCrop.get_params(torch.empty(1, height, width), list(scale), list(ratio)))
    ours = sample_crop_boxes(50, height, width, cfg, gen())
    assert (ours == expected).all(), (ours[0], expected)


# ---------------------------------------------------------------- resize

def test_resized_crop_per_sample_matches_torchvision_when_upsampling():
    x = torch.rand(2, 3, 32, 32, generator=gen())
    boxes = torch.tensor([[3, 5, 20, 17], [0, 10, 30, 22]])
    out = resized_crop(x, boxes, 32)
    assert out.shape == (2, 3, 32, 32)
    for i in range(2):
        ref = TF.resized_crop(x[i], *boxes[i].tolist(), [32, 32], antialias=False)
        # interior is exact; at the crop border roi_align reads the pixel just outside the box
        torch.testing.assert_close(out[i, :, 2:-2, 2:-2], ref[:, 2:-2, 2:-2], atol=1e-5, rtol=0)
    full = resized_crop(x, torch.tensor([[0, 0, 32, 32]] * 2), 32)
    assert torch.equal(full, x)


# ---------------------------------------------------------------- whole pipeline

@pytest.mark.parametrize("c", [1, 3])
def test_identity_when_everything_is_off(c):
    x = images(16, c, 28)
    out = augment(x, OFF, 28, gen())
    torch.testing.assert_close(out, to_float(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("c,h,w,size", [(1, 28, 28, 28), (3, 32, 32, 32), (3, 32, 32, 24), (1, 28, 28, 48),
                                        (3, 30, 40, 32)])
def test_shape_dtype_range(c, h, w, size):
    out = augment(images(32, c, h, w), AugmentConfig(), size, gen())
    assert out.shape == (32, c, size, size) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        augment(images(2, 3, 8).float(), AugmentConfig(), 8, gen())
    with pytest.raises(ValueError):
        augment(images(2, 2, 8), AugmentConfig(), 8, gen())


@pytest.mark.slow
def test_each_image_gets_its_own_draw_and_seed_reproduces():
    x = images(1, 3, 32).expand(64, 3, 32, 32).contiguous()
    cfg = AugmentConfig()
    a = augment(x, cfg, 32, gen(1))
    flat = a.flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(64) * 1e9).min() > 1e-3   # all 64 views distinct
    assert torch.equal(a, augment(x, cfg, 32, gen(1)))
    assert not torch.allclose(a, augment(x, cfg, 32, gen(2)))
    # identical inputs, identical draws: photometric alone also differs per image
    p = photometric(to_float(x), cfg, gen(3)).flatten(1)
    assert torch.cdist(p, p).add(torch.eye(64) * 1e9).min() > 0


def test_flip_rate():
    n = 4000
    ramp = torch.arange(16, dtype=torch.uint8).repeat(n, 1, 16, 1) * 16          # (n, 1, 16, 16) asymmetric
    out = augment(ramp, dataclasses.replace(OFF, flip_p=0.5), 16, gen())
    x = to_float(ramp)
    flipped = (out - x.flip(-1)).abs().flatten(1).amax(1) < 1e-6
    same = (out - x).abs().flatten(1).amax(1) < 1e-6
    assert (flipped ^ same).all()
    assert rate_ok(flipped.float().mean().item(), 0.5, n)


@pytest.mark.parametrize("c", [1, 3])
def test_jitter_apply_rate(c):
    n = 4000
    x = torch.rand(n, c, 4, 4, generator=gen()) * 0.5 + 0.25
    cfg = dataclasses.replace(OFF, jitter_p=0.8)                                # all four ops at full strength
    changed = (photometric(x, cfg, gen()) - x).abs().flatten(1).amax(1) > 0     # a skipped image is untouched
    assert rate_ok(changed.float().mean().item(), 0.8, n)


def _factors(op, n):
    """Recover each image's jitter factor for one op from a constant-colour input."""
    g = gen()
    if op == "brightness":
        out = photometric(torch.full((n, 3, 2, 2), 0.5), dataclasses.replace(JITTER_ONLY, brightness=0.4), g)
        return out[:, 0, 0, 0] / 0.5, (0.6, 1.4)
    if op == "contrast":                           # half 0.25, half 0.75: mean 0.5
        x = torch.tensor([0.25, 0.75]).view(1, 1, 1, 2).repeat(n, 1, 2, 1)
        out = photometric(x, dataclasses.replace(JITTER_ONLY, contrast=0.4), g)
        return (out[:, 0, 0, 0] - 0.5) / -0.25, (0.6, 1.4)
    if op == "saturation":
        x = torch.tensor([0.6, 0.4, 0.2]).view(1, 3, 1, 1).repeat(n, 1, 2, 2)
        gray = rgb_to_gray(x[:1])[0, 0, 0, 0]
        out = photometric(x, dataclasses.replace(JITTER_ONLY, saturation=0.4), g)
        return (out[:, 0, 0, 0] - gray) / (0.6 - gray), (0.6, 1.4)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).repeat(n, 1, 2, 2)    # hue 0
    out = photometric(red, dataclasses.replace(JITTER_ONLY, hue=0.1), g)
    return (out[:, 1, 0, 0] - out[:, 2, 0, 0]) / 6, (-0.1, 0.1)             # shifted red is (1, 6h, 0) or (1, 0, -6h)


@pytest.mark.parametrize("op", ["brightness", "contrast", "saturation", "hue"])
def test_jitter_factors_fill_configured_range(op):
    f, (lo, hi) = _factors(op, 2000)
    assert f.min() >= lo - 1e-4 and f.max() <= hi + 1e-4
    span = hi - lo
    assert f.min() < lo + 0.02 * span and f.max() > hi - 0.02 * span
    assert abs(f.mean().item() - (lo + hi) / 2) < 0.03 * span                   # uniform, centred


def test_hue_and_saturation_zero_paths():
    x = torch.rand(64, 3, 8, 8, generator=gen())
    assert torch.equal(photometric(x, JITTER_ONLY, gen()), x)                   # all strengths 0: untouched
    out = photometric(x, dataclasses.replace(JITTER_ONLY, brightness=0.4), gen())
    # brightness only: each image is x times one factor, the same for every channel and pixel
    ratio = out / x.clamp(min=1e-3)
    keep = (x > 0.05) & (out < 0.999)
    spread = torch.where(keep, ratio, float("nan")).flatten(1)
    assert (spread.nan_to_num(0).amax(1) - spread.nan_to_num(9).amin(1)).max() < 1e-4


def test_single_channel_skips_colour_ops():
    x = torch.rand(32, 1, 8, 8, generator=gen())
    cfg = dataclasses.replace(OFF, jitter_p=1.0, brightness=0.0, contrast=0.0, saturation=0.4, hue=0.1,
                              grayscale_p=1.0)
    assert torch.equal(photometric(x, cfg, gen()), x)


def test_grayscale_rate_and_equal_channels():
    n = 4000
    x = torch.rand(n, 3, 4, 4, generator=gen())
    out = photometric(x, dataclasses.replace(OFF, grayscale_p=0.2), gen())
    gray = (out[:, 0] == out[:, 1]).all(-1).all(-1) & (out[:, 1] == out[:, 2]).all(-1).all(-1)
    assert rate_ok(gray.float().mean().item(), 0.2, n)
    torch.testing.assert_close(out[gray], TF.rgb_to_grayscale(x[gray], 3))
    assert torch.equal(out[~gray], x[~gray])


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_blur_rate(p):
    n = 2000
    x = torch.rand(n, 3, 8, 8, generator=gen())
    # sigma >= 0.5 so that every blur is visible (sigma 0.1 leaves a 3-tap kernel at ~1e-22 off-centre)
    out = photometric(x, dataclasses.replace(OFF, blur_p=p, blur_sigma_min=0.5), gen())
    blurred = (out - x).abs().flatten(1).amax(1) > 1e-3
    assert rate_ok(blurred.float().mean().item(), p, n)
    assert torch.equal(out[~blurred], x[~blurred])


@pytest.mark.parametrize("sigma,shape", [(0.5, (4, 3, 32, 32)), (2.0, (4, 3, 32, 32)), (1.3, (4, 1, 24, 40))])
def test_blur_matches_torchvision_gaussian_blur(sigma, shape):
    x = torch.rand(shape, generator=gen())
    cfg = dataclasses.replace(OFF, blur_p=1.0, blur_sigma_min=sigma, blur_sigma_max=sigma)
    ref = TF.gaussian_blur(x, [2 * math.ceil(4 * sigma) + 1] * 2, [sigma, sigma])
    torch.testing.assert_close(photometric(x, cfg, gen()), ref, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- ops against torchvision functional

def test_blend_ops_match_torchvision():
    x = torch.rand(6, 3, 16, 16, generator=gen())
    op = torch.tensor([0, 1, 2, 0, 1, 2])
    factor = torch.tensor([0.6, 0.7, 0.65, 1.4, 1.3, 1.35])
    out = blend_jitter(x, op, factor)
    refs = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation]
    for i in range(6):
        torch.testing.assert_close(out[i], refs[op[i]](x[i], factor[i].item()), atol=1e-6, rtol=0)
    gray = torch.rand(2, 1, 16, 16, generator=gen(1))                          # contrast on 1 channel
    torch.testing.assert_close(blend_jitter(gray, torch.tensor([1, 1]), torch.tensor([0.6, 1.4]))[1],
                               TF.adjust_contrast(gray[1], 1.4), atol=1e-6, rtol=0)


def test_hue_matches_torchvision():
    x = torch.rand(5, 3, 16, 16, generator=gen())
    x[0, :, :4] = 0.3                                                           # gray pixels: h, s = 0
    shift = torch.tensor([0.1, -0.1, 0.05, -0.5, 0.5])
    out = adjust_hue(x, shift)
    for i in range(5):
        torch.testing.assert_close(out[i], TF.adjust_hue(x[i], shift[i].item()), atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_contract_and_reproduces():
    x = images(64, 3, 32).cuda()
    cfg = AugmentConfig()
    g = torch.Generator(device="cuda")
    a = augment(x, cfg, 24, g.manual_seed(0))
    assert a.device.type == "cuda" and a.shape == (64, 3, 24, 24) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, augment(x, cfg, 24, g.manual_seed(0)))
    one = augment(images(1, 3, 32).cuda().expand(64, 3, 32, 32), cfg, 32, g.manual_seed(1)).flatten(1)
    assert torch.cdist(one, one).add(torch.eye(64, device="cuda") * 1e9).min() > 1e-3
    assert augment(images(8, 1, 28).cuda(), cfg, 28, g).shape == (8, 1, 28, 28)


# ---------------------------------------------------------------- both views in one pass, and its op count

def _jitter_one_image_at_a_time(x, draws, cfg):
    """The straightforward colour jitter: each image alone, its four ops one after another in its own order."""
    strengths = {0: cfg.brightness, 1: cfg.contrast, 2: cfg.saturation if x.shape[1] == 3 else 0.0}
    names = {0: "brightness", 1: "contrast", 2: "saturation"}
    out = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        if draws["jitter"][i] < cfg.jitter_p:
            for op in draws["order"][i].argsort().tolist():
                if op == 3 and "hue" in draws:
                    xi = adjust_hue(xi, draws["hue"][i:i + 1] * (2 * cfg.hue) - cfg.hue)
                elif op < 3 and strengths[op] > 0:
                    lo, hi = max(0.0, 1 - strengths[op]), 1 + strengths[op]
                    xi = blend_jitter(xi, torch.tensor([op]), draws[names[op]][i:i + 1] * (hi - lo) + lo)
        out.append(xi)
    return torch.cat(out)


@pytest.mark.parametrize("c,cfg", [(3, AugmentConfig()), (1, AugmentConfig()),
                                   (3, AugmentConfig(hue=0.0)), (3, AugmentConfig(brightness=0.0, jitter_p=1.0))],
                         ids=["rgb", "gray", "rgb-no-hue", "rgb-no-brightness"])
def test_jitter_schedule_equals_each_image_in_its_own_order_bit_for_bit(c, cfg):
    x = torch.rand(64, c, 8, 8, generator=gen())
    draws = draw_photometric(64, c, cfg, gen(1))
    assert torch.equal(color_jitter(x, draws, cfg), _jitter_one_image_at_a_time(x, draws, cfg))


@pytest.mark.parametrize("c,views", [(3, 2), (1, 2), (3, 4)])
def test_views_in_one_pass_equal_one_call_per_view_bit_for_bit(c, views):
    x = images(24, c, 32)
    cfg = AugmentConfig()                                           # blur on too
    g = gen(5)
    one_at_a_time = torch.cat([augment(x, cfg, 24, g) for _ in range(views)])
    after = torch.rand(4, generator=g)                              # and the generator is left where they left it
    g = gen(5)
    assert torch.equal(augment(x, cfg, 24, g, views=views), one_at_a_time)
    assert torch.equal(torch.rand(4, generator=g), after)
    xf = torch.rand(24, c, 16, 16, generator=gen(6))
    g = gen(7)
    separately = torch.cat([photometric(xf, cfg, g) for _ in range(views)])
    assert torch.equal(photometric(xf.repeat(views, 1, 1, 1), cfg, gen(7), views=views), separately)


# aten ops of an epoch's first training batch (both views, normalized; one more than the benchmark's later
# batches: the epoch's permutation): 736 at the cifar10 preset and 326 at the cpu preset before both views
# shared one pass and the jitter its schedule
OPS_PER_BATCH = {"cifar10": 279, "cpu": 148}


@pytest.mark.parametrize("preset", sorted(OPS_PER_BATCH))
def test_both_views_take_at_most_the_measured_aten_ops(preset):
    from benchmarks.steps import our_batches
    from benchmarks.timing import count_ops
    from core.config.hyperparameters import apply_overrides
    from core.config.presets import preset_config
    from core.data.batches import ArraySource
    from core.data.raw_images import ImageArrays
    cfg = apply_overrides(preset_config(preset), {"optim.batch_size": 16}, "test")   # the count does not grow with B
    c, size = (3, 32) if preset == "cifar10" else (1, 28)
    x = images(32, c, size)
    y = torch.zeros(32, dtype=torch.long)
    batches = our_batches(ArraySource(ImageArrays(x, y, x[:8], y[:8], num_classes=10), cfg, torch.device("cpu")))
    ops = sum(count_ops(lambda: next(batches)).values())
    assert ops <= OPS_PER_BATCH[preset]
