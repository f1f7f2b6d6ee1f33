"""Batched SimSiam augmentation on tensors, with its own random draw for every image.

Recipe (Chen & He 2021, Sec. 3, "the same as MoCo v2"; official `main_simsiam.py`):
    RandomResizedCrop(size, scale=(0.2, 1.0)) -> RandomHorizontalFlip(0.5)
    -> RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8) -> RandomGrayscale(0.2)
    -> RandomApply(GaussianBlur(sigma ~ U[0.1, 2.0]), p=0.5)
All values come from `AugmentConfig`. torchvision.transforms.v2 applied to a batch draws ONE parameter
set for the whole batch. Here each image, and each view, draws its own parameters from `gen`.
Everything is vectorised over the batch with no Python loop over images, and runs on the device
of `x`. `gen` must be on that device, so a seed reproduces a run.

How it runs (few ops, so few GPU kernel launches; no data-dependent shapes, so no host sync): every random
number is drawn first (draw_crop, draw_photometric), view after view in the order the ops run; the pixel
work then runs once on all views together (`views=2`: both views of a training step). Colour jitter's
per-image order runs as a fixed schedule of passes instead of each op at each of the four positions
(color_jitter). Both are bit for bit what one call per view with each op at every position computed: the
ops per image are the same float ops on the same values, and the passes an image skips leave it exactly
unchanged (tests/core/data/test_augment.py compares with a one-image-at-a-time jitter).

Where this differs from the PIL pipeline, and why:
- Ops work on float32 in [0, 1] and clamp after each op, like torchvision's tensor path. PIL rounds to
  uint8 between ops.
- Crop+resize uses `roi_align` (bilinear, aligned=True, adaptive sampling). When upsampling it is
  F.resized_crop(antialias=False), except that at the crop's edge it reads the pixel just outside the
  box instead of repeating the edge pixel. When downsampling it averages ceil(crop/size)^2 bilinear
  samples per output pixel, an antialiasing box filter (torchvision's antialias uses a triangle filter).
- Colour jitter runs its four ops in a random order drawn per image (torchvision draws one order per
  call). Brightness, contrast and saturation are blends, x' = f*x + (1-f)*target with target 0, the
  image's mean gray, or its gray. Hue is a shift in HSV, equal to torchvision's rgb<->hsv round
  trip up to float rounding.
- Blur: a separable Gaussian with a per-image sigma in output pixels and reflect padding, as in
  torchvision's gaussian_blur, done as two batched matmuls with band matrices. The kernel is cut at
  4*sigma_max: size 2*ceil(4*sigma_max)+1, so 17 for sigma_max=2 (tail mass < 1e-4), capped so the
  padding fits the image. MoCo v2 used PIL GaussianBlur(radius=sigma), a box-filter approximation of
  the same Gaussian. A kernel scaled with the image (23 at 224) would cut sigma=2 down to 3 taps at
  32 px. Sigma is in pixels, so the kernel should not scale with the image either.
- Single-channel images: brightness and contrast apply. Saturation, hue and grayscale are skipped.
  That gives the same result as copying the gray image to 3 channels, augmenting, and keeping one
  channel: on gray pixels those three ops are no-ops (grayscale up to its luma weights summing to 0.9999).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import roi_align

from core.config.hyperparameters import AugmentConfig

_LUMA = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale (ITU-R 601-2)
_TRIES = 10                     # torchvision RandomResizedCrop.get_params
_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE = range(4)


def augment(x: Tensor, cfg: AugmentConfig, size: int, gen: torch.Generator, views: int = 1) -> Tensor:
    """(B, C, H, W) uint8, C in {1, 3} -> (views*B, C, size, size) float32 in [0, 1], one draw per image and view.

    View v is rows v*B .. (v+1)*B - 1. The views draw their parameters from `gen` one after the other, exactly
    as `views` calls with views=1 would (so the result is bit for bit theirs); the pixel work then runs once on
    all views together.
    """
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"augment expects (B, C, H, W) uint8, got {tuple(x.shape)} {x.dtype}")
    b, c = x.shape[:2]
    draws = stack_views([{**draw_crop(b, cfg, gen), **draw_photometric(b, c, cfg, gen)}
                         for _ in range(views)])
    boxes = crop_boxes(draws, x.shape[2], x.shape[3], cfg, views)                 # (views*B, 4)
    return apply_photometric(resized_crop(to_float(x), boxes, size, views), draws, cfg, views)


def to_float(x: Tensor) -> Tensor:
    """uint8 -> float32 in [0, 1], same shape."""
    return x.float().div_(255)


def photometric(x: Tensor, cfg: AugmentConfig, gen: torch.Generator, views: int = 1) -> Tensor:
    """Flip -> jitter -> grayscale -> blur on (views*B, C, h, w) float in [0, 1]; same shape out.

    `x` holds `views` views of B images, stacked as `augment` returns them; each view draws from `gen` in turn,
    as `views` calls on its rows would. An op with probability 0 (or jitter with all four strengths 0) is
    skipped without any work.
    """
    n, c = x.shape[:2]
    if n % views:
        raise ValueError(f"{n} images are not {views} views of equally many")
    draws = stack_views([draw_photometric(n // views, c, cfg, gen) for _ in range(views)])
    return apply_photometric(x, draws, cfg, views)


# ---------------------------------------------------------------- the draws: every random number, up front

def draw_crop(n: int, cfg: AugmentConfig, gen: torch.Generator) -> dict[str, Tensor]:
    """RandomResizedCrop's random numbers for n images: U[0, 1) for 10 tries' area and aspect ratio, and the
    position (float64, (n, 2)); crop_boxes turns them into boxes."""
    dev = gen.device
    return {"crop_area": torch.rand(n, _TRIES, generator=gen, device=dev),
            "crop_ratio": torch.rand(n, _TRIES, generator=gen, device=dev),
            "crop_pos": torch.rand(2, n, generator=gen, device=dev, dtype=torch.float64).T}


def draw_photometric(n: int, c: int, cfg: AugmentConfig, gen: torch.Generator) -> dict[str, Tensor]:
    """The U[0, 1) numbers of the photometric ops for n images of c channels, each (n,) (the jitter order
    (n, 4)), in the order the ops run; an op that is skipped draws nothing."""
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {c}")
    dev = gen.device
    names = []
    if cfg.flip_p > 0:
        names.append("flip")
    if cfg.jitter_p > 0 and (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue) != (0, 0, 0, 0):
        names.append("jitter")
        names += [name for name, s in zip(("brightness", "contrast", "saturation"), _blend_strengths(cfg, c)) if s > 0]
        names += ["hue"] if c == 3 and cfg.hue > 0 else []
    draws = {name: torch.rand(n, generator=gen, device=dev) for name in names}
    if "jitter" in draws:
        draws["order"] = torch.rand(n, 4, generator=gen, device=dev)
    if c == 3 and cfg.grayscale_p > 0:
        draws["gray"] = torch.rand(n, generator=gen, device=dev)
    if cfg.blur_p > 0:
        draws["blur"] = torch.rand(n, generator=gen, device=dev)
        draws["blur_sigma"] = torch.rand(n, generator=gen, device=dev)
    return draws


def stack_views(draws: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Per-view draws -> one dict, each entry the views' rows one after the other."""
    return draws[0] if len(draws) == 1 else {k: torch.cat([d[k] for d in draws]) for k in draws[0]}


def _blend_strengths(cfg: AugmentConfig, c: int) -> tuple[float, ...]:
    """Brightness, contrast, saturation strengths; saturation only for RGB (a no-op on gray images)."""
    return (cfg.brightness, cfg.contrast) + ((cfg.saturation,) if c == 3 else ())


# ---------------------------------------------------------------- crop

def sample_crop_boxes(n: int, height: int, width: int, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """(n, 4) int64 boxes (top, left, h, w) on gen's device, torchvision RandomResizedCrop.get_params."""
    return crop_boxes(draw_crop(n, cfg, gen), height, width, cfg)


def crop_boxes(draws: dict[str, Tensor], height: int, width: int, cfg: AugmentConfig, views: int = 1) -> Tensor:
    """(n, 4) int64 boxes (top, left, h, w) from draw_crop's numbers, torchvision RandomResizedCrop.get_params.

    Each row makes 10 tries (area ~ U(scale) * H * W, aspect ratio log-uniform in the ratio range, h and
    w rounded) and keeps the first that fits. If none fits it takes torchvision's central fallback crop.
    The exp of the log ratio runs per view, on the shape one view had: a vectorised and a scalar exp may
    differ in the last bit, and which elements take which path depends on the shape.
    """
    dev = draws["crop_area"].device
    area = height * width
    log_lo, log_hi = math.log(cfg.crop_ratio_min), math.log(cfg.crop_ratio_max)
    target = area * _scale(draws["crop_area"], cfg.crop_scale_min, cfg.crop_scale_max).double()
    log_ratio = _scale(draws["crop_ratio"], log_lo, log_hi)
    ratio = (torch.exp(log_ratio) if views == 1 else torch.cat([torch.exp(r) for r in log_ratio.chunk(views)])).double()
    w = torch.round(torch.sqrt(target * ratio))                                  # (n, 10)
    h = torch.round(torch.sqrt(target / ratio))                                  # (n, 10)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)                      # (n, 10)
    first = torch.where(fits, torch.arange(_TRIES, device=dev), _TRIES).amin(1)  # (n,), 10 = none
    pick = first.clamp(max=_TRIES - 1)[:, None]
    fb_h, fb_w = _fallback_hw(height, width, cfg)
    found = first < _TRIES
    h = torch.where(found, h.gather(1, pick)[:, 0], fb_h).long()                 # (n,)
    w = torch.where(found, w.gather(1, pick)[:, 0], fb_w).long()
    # torch.randint(0, H - h + 1) per row: floor(u * (H - h + 1)), u in [0, 1) drawn in float64.
    u = draws["crop_pos"]                                                        # (n, 2)
    room_h, room_w = height - h, width - w                                       # (n,) free rows and columns
    top = torch.minimum((u[:, 0] * (room_h + 1)).long(), room_h)
    left = torch.minimum((u[:, 1] * (room_w + 1)).long(), room_w)
    top = torch.where(found, top, room_h // 2)
    left = torch.where(found, left, room_w // 2)
    return torch.stack([top, left, h, w], 1)


def _fallback_hw(height: int, width: int, cfg: AugmentConfig) -> tuple[int, int]:
    """torchvision's central-crop fallback size: the whole image, clamped to the ratio range."""
    in_ratio = width / height
    if in_ratio < cfg.crop_ratio_min:
        return int(round(width / cfg.crop_ratio_min)), width
    if in_ratio > cfg.crop_ratio_max:
        return height, int(round(height * cfg.crop_ratio_max))
    return height, width


def resized_crop(x: Tensor, boxes: Tensor, size: int, views: int = 1) -> Tensor:
    """(B, C, H, W) float, (views*B, 4) boxes (top, left, h, w) -> (views*B, C, size, size), bilinear per
    sample; box i crops image i mod B."""
    top, left, h, w = boxes.to(device=x.device, dtype=x.dtype).unbind(1)
    idx = torch.arange(x.shape[0], device=x.device, dtype=x.dtype)
    idx = idx.repeat(views) if views > 1 else idx
    rois = torch.stack([idx, left, top, left + w, top + h], 1)                    # (n, 5) x1 y1 x2 y2
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


# ---------------------------------------------------------------- photometric ops

def apply_photometric(x: Tensor, draws: dict[str, Tensor], cfg: AugmentConfig, views: int = 1) -> Tensor:
    """Flip -> jitter -> grayscale -> blur with the numbers of draw_photometric (stacked over `views`); on
    (n, C, h, w) float in [0, 1], same shape out."""
    n = x.shape[0]
    if "flip" in draws:
        x = torch.where((draws["flip"] < cfg.flip_p).view(n, 1, 1, 1), x.flip(-1), x)
    if "jitter" in draws:
        x = color_jitter(x, draws, cfg)
    if "gray" in draws:
        x = torch.where((draws["gray"] < cfg.grayscale_p).view(n, 1, 1, 1), rgb_to_gray(x).expand_as(x), x)
    if "blur" in draws:
        x = gaussian_blur(x, draws, cfg, views)
    return x


def rgb_to_gray(x: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma (torchvision weights); (B, 1, H, W) is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def color_jitter(x: Tensor, draws: dict[str, Tensor], cfg: AugmentConfig) -> Tensor:
    """RandomApply(ColorJitter) per image: (n, C, H, W) -> same.

    Each image has its apply coin, its factors and its own random order of the four ops. An image that is not
    jittered, or an op with strength 0, gets factor 1 (hue: the image is kept), which leaves x exactly
    unchanged. The order is run without each op at every position: a fixed schedule of passes, k blend passes,
    one hue pass, k blend passes (k = 3 blend ops, 2 on gray images, which have no saturation or hue; without
    hue just k passes). Each image does its blend ops before hue in the last of the first k passes, the rest in
    the first passes after hue, and is left unchanged (factor 1) by the passes it skips: its ops run in its own
    order, bit for bit as if run one position at a time.
    """
    n, c = x.shape[:2]
    dev = x.device
    applied = draws["jitter"] < cfg.jitter_p                                     # (n,)
    names = ("brightness", "contrast", "saturation")
    factors = torch.stack([_scale(draws[name], max(0.0, 1 - s), 1 + s) if s > 0 else torch.ones(n, device=dev)
                           for name, s in zip(names, _blend_strengths(cfg, c))], 1)   # (n, k)
    factors = torch.where(applied[:, None], factors, 1.0)
    k, do_hue = factors.shape[1], "hue" in draws
    slots = blend_slots(draws["order"].argsort(1), k, do_hue)                     # (n, k) pass of each blend op
    passes = 2 * k if do_hue else k
    factor = torch.ones(n, passes, device=dev).scatter_(1, slots, factors)        # (n, passes)
    contrast = torch.zeros(n, passes, dtype=torch.bool, device=dev).scatter_(1, slots[:, 1:2], True)
    saturation = (torch.zeros(n, passes, dtype=torch.bool, device=dev).scatter_(1, slots[:, 2:3], True)
                  if k == 3 else torch.zeros(n, passes, dtype=torch.bool, device=dev))
    for p, (f, is_c, is_s) in enumerate(zip(*map(_per_pass, (factor, contrast, saturation)))):
        if do_hue and p == k:
            shift = _scale(draws["hue"], -cfg.hue, cfg.hue)                          # (n,)
            x = torch.where(applied.view(n, 1, 1, 1), adjust_hue(x, shift), x)
        x = blend(x, f, is_c, is_s)
    return x


def _per_pass(t: Tensor) -> tuple[Tensor, ...]:
    """(n, passes) -> `passes` views of shape (n, 1, 1, 1), one per pass, broadcasting over an image."""
    n, passes = t.shape
    return t.T.view(passes, n, 1, 1, 1).unbind(0)


def blend_slots(order: Tensor, k: int, hue: bool) -> Tensor:
    """(n, 4) op per position (0-2 the blend ops, 3 hue) -> (n, k) the pass of color_jitter's schedule in which
    each of the first k blend ops runs: its rank r among them, or, with a hue pass, r - h + k, where h of them
    come before hue (those land in passes k-h .. k-1, the others in k .. 2k-1-h)."""
    pos = order.argsort(1)                                                       # (n, 4) position of each op
    blend_pos = pos[:, :k]
    rank = (blend_pos[:, :, None] > blend_pos[:, None, :]).sum(2)                # (n, k)
    if not hue:
        return rank
    return rank - (blend_pos < pos[:, 3:]).sum(1, keepdim=True) + k


def blend_jitter(x: Tensor, op: Tensor, factor: Tensor) -> Tensor:
    """Brightness / contrast / saturation (op 0 / 1 / 2 per image) with per-image factor (B,)."""
    op, factor = op.view(-1, 1, 1, 1), factor.view(-1, 1, 1, 1)
    return blend(x, factor, op == _CONTRAST, op == _SATURATION)


def blend(x: Tensor, factor: Tensor, contrast: Tensor, saturation: Tensor) -> Tensor:
    """Per image (B, 1, 1, 1) factor and bool masks: contrast, saturation, or else brightness.

    torchvision _blend, clamp(f * x + (1 - f) * target), with target 0, the mean of the gray image, or
    the gray image; computed as one lerp, equal up to float rounding (exact for brightness).
    """
    gray = rgb_to_gray(x)                                                        # (B, 1, H, W)
    mean = gray.mean((1, 2, 3), keepdim=True)                                    # (B, 1, 1, 1)
    target = torch.addcmul(mean * contrast, gray, saturation)                    # 0 for brightness
    return torch.lerp(target, x, factor.to(x.dtype)).clamp_(0, 1)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """(B, 3, H, W) RGB in [0, 1], per-image hue shift (B,) in [-0.5, 0.5] -> same.

    torchvision's HSV round trip (rgb->hsv, h = (h + shift) mod 1, hsv->rgb), simplified: hue in
    sixths h6 as in _rgb2hsv; v = max and v*s = max - min = chroma stay fixed, and channel n in
    (5, 3, 1) of the result is v - chroma * clamp(min(k, 4 - k), 0, 1), k = (n + h6 + 6*shift) mod 6.
    """
    r, g, b = x.unbind(1)                                                        # each (B, H, W)
    maxc = torch.maximum(torch.maximum(r, g), b)                                 # 20x faster than amax(1)
    minc = torch.minimum(torch.minimum(r, g), b)
    chroma = maxc - minc
    inv = 1 / chroma.clamp(min=1e-12)                                            # chroma 0 -> h6 = 0
    h6 = torch.where(maxc == r, (g - b) * inv,
                     torch.where(maxc == g, (b - r) * inv + 2, (r - g) * inv + 4))  # [-1, 5]
    h6 = (h6 + 6 * shift.view(-1, 1, 1)).unsqueeze(1)                            # (B, 1, H, W)
    n = torch.arange(5.0, 0.0, -2.0, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)  # (5, 3, 1), no copy from host
    k = (h6 + n) % 6                                                             # (B, 3, H, W)
    return maxc.unsqueeze(1) - chroma.unsqueeze(1) * torch.minimum(k, 4 - k).clamp(0, 1)


def gaussian_blur(x: Tensor, draws: dict[str, Tensor], cfg: AugmentConfig, views: int = 1) -> Tensor:
    """RandomApply(GaussianBlur) per image: (n, C, H, W) -> same; sigma ~ U[min, max] per image.

    Separable: y = Mv @ x @ Mh^T per channel, with per-image band matrices that fold in the reflect padding (batched
    matmul beats grouped conv2d with per-image kernels 2-4x on CPU at 28-32 px, and has fixed shapes).
    Every image is blurred and torch.where keeps the blurred copy only where the coin came up.
    On CUDA with TF32 matmuls enabled the blur is computed at TF32 precision.
    """
    b, c, height, width = x.shape
    applied = draws["blur"] < cfg.blur_p                                         # (n,)
    sigma = _scale(draws["blur_sigma"], cfg.blur_sigma_min, cfg.blur_sigma_max)  # (n,)
    radius = min(math.ceil(4 * cfg.blur_sigma_max), height - 1, width - 1)
    if radius < 1:
        return x
    kernel = (gaussian_kernels(sigma, radius, x.dtype) if views == 1 else      # per view, as for the crop's exp
              torch.cat([gaussian_kernels(s, radius, x.dtype) for s in sigma.chunk(views)]))
    rows = _band_matrix(kernel, height)                                          # (B, H, H)
    cols = rows if width == height else _band_matrix(kernel, width)              # (B, W, W)
    y = torch.bmm(x.reshape(b, c * height, width), cols.transpose(1, 2))        # (B, C*H, W) rows blurred
    y = y.view(b, c, height, width).transpose(1, 2).reshape(b, height, c * width)  # (B, H, C*W)
    y = torch.bmm(rows, y).view(b, height, c, width).transpose(1, 2)            # (B, C, H, W) cols blurred
    return torch.where(applied.view(b, 1, 1, 1), y, x)


def gaussian_kernels(sigma: Tensor, radius: int, dtype: torch.dtype) -> Tensor:
    """(B,) sigmas -> (B, 2*radius + 1) normalized Gaussian kernels."""
    t = torch.arange(-radius, radius + 1, device=sigma.device, dtype=dtype)
    kernel = torch.exp(-0.5 * (t / sigma[:, None]) ** 2)
    return kernel / kernel.sum(1, keepdim=True)


def _band_matrix(kernel: Tensor, n: int) -> Tensor:
    """(B, 2r+1) kernels, r < n -> (B, n, n) M with (M @ v)[i] = sum_t k[t] * v[reflect(i + t)]."""
    b, taps = kernel.shape
    radius = taps // 2
    src = torch.arange(n, device=kernel.device)[:, None] + torch.arange(-radius, radius + 1, device=kernel.device)
    src = src.abs()
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)                      # (n, 2r+1) reflect
    out = torch.zeros(b, n, n, device=kernel.device, dtype=kernel.dtype)
    return out.scatter_add_(2, src.expand(b, n, taps), kernel[:, None, :].expand(b, n, taps))


def _scale(u: Tensor, lo: float, hi: float) -> Tensor:
    """U[0, 1) numbers -> U[lo, hi)."""
    return u * (hi - lo) + lo
