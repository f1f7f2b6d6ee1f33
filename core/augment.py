"""Batched SimSiam augmentation on tensors, with its own random draw for every image.

Recipe (Chen & He 2021, Sec. 3, "the same as MoCo v2"; official `main_simsiam.py`):
    RandomResizedCrop(size, scale=(0.2, 1.0)) -> RandomHorizontalFlip(0.5)
    -> RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8) -> RandomGrayscale(0.2)
    -> RandomApply(GaussianBlur(sigma ~ U[0.1, 2.0]), p=0.5)
All values come from `AugmentConfig`. torchvision.transforms.v2 applied to a batch draws ONE parameter
set for the whole batch. Here each image, and each call (each view), draws its own parameters from
`gen`. Everything is vectorised over the batch with no Python loop over images, and runs on the device
of `x`. `gen` must be on that device, so a seed reproduces a run.

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

from core.config import AugmentConfig

_LUMA = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale (ITU-R 601-2)
_TRIES = 10                     # torchvision RandomResizedCrop.get_params
_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE = range(4)


def augment(x: Tensor, cfg: AugmentConfig, size: int, gen: torch.Generator) -> Tensor:
    """(B, C, H, W) uint8, C in {1, 3} -> (B, C, size, size) float32 in [0, 1], one draw per image."""
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"augment expects (B, C, H, W) uint8, got {tuple(x.shape)} {x.dtype}")
    boxes = sample_crop_boxes(x.shape[0], x.shape[2], x.shape[3], cfg, gen)  # (B, 4)
    return photometric(resized_crop(to_float(x), boxes, size), cfg, gen)


def to_float(x: Tensor) -> Tensor:
    """uint8 -> float32 in [0, 1], same shape."""
    return x.float().div_(255)


def photometric(x: Tensor, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """Flip -> jitter -> grayscale -> blur on (B, C, h, w) float in [0, 1]; same shape out.

    An op with probability 0 (or jitter with all four strengths 0) is skipped without any work.
    """
    b, c = x.shape[:2]
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {c}")
    if cfg.flip_p > 0:
        x = torch.where(_coin(b, cfg.flip_p, gen, x.device).view(b, 1, 1, 1), x.flip(-1), x)
    if cfg.jitter_p > 0 and (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue) != (0, 0, 0, 0):
        x = color_jitter(x, cfg, gen)
    if c == 3 and cfg.grayscale_p > 0:
        gray = _coin(b, cfg.grayscale_p, gen, x.device).view(b, 1, 1, 1)
        x = torch.where(gray, rgb_to_gray(x).expand_as(x), x)
    if cfg.blur_p > 0:
        x = gaussian_blur(x, cfg, gen)
    return x


def sample_crop_boxes(n: int, height: int, width: int, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """(n, 4) int64 boxes (top, left, h, w) on gen's device, torchvision RandomResizedCrop.get_params.

    Each row makes 10 tries (area ~ U(scale) * H * W, aspect ratio log-uniform in the ratio range, h and
    w rounded) and keeps the first that fits. If none fits it takes torchvision's central fallback crop.
    """
    dev = gen.device
    area = height * width
    log_lo, log_hi = math.log(cfg.crop_ratio_min), math.log(cfg.crop_ratio_max)
    target = area * _uniform((n, _TRIES), cfg.crop_scale_min, cfg.crop_scale_max, gen, dev).double()
    ratio = torch.exp(_uniform((n, _TRIES), log_lo, log_hi, gen, dev)).double()
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
    u = torch.rand(2, n, generator=gen, device=dev, dtype=torch.float64)
    top = torch.minimum((u[0] * (height - h + 1)).long(), height - h)
    left = torch.minimum((u[1] * (width - w + 1)).long(), width - w)
    top = torch.where(found, top, (height - h) // 2)
    left = torch.where(found, left, (width - w) // 2)
    return torch.stack([top, left, h, w], 1)


def _fallback_hw(height: int, width: int, cfg: AugmentConfig) -> tuple[int, int]:
    """torchvision's central-crop fallback size: the whole image, clamped to the ratio range."""
    in_ratio = width / height
    if in_ratio < cfg.crop_ratio_min:
        return int(round(width / cfg.crop_ratio_min)), width
    if in_ratio > cfg.crop_ratio_max:
        return height, int(round(height * cfg.crop_ratio_max))
    return height, width


def resized_crop(x: Tensor, boxes: Tensor, size: int) -> Tensor:
    """(B, C, H, W) float, (B, 4) boxes (top, left, h, w) -> (B, C, size, size), bilinear per sample."""
    top, left, h, w = boxes.to(device=x.device, dtype=x.dtype).unbind(1)
    idx = torch.arange(x.shape[0], device=x.device, dtype=x.dtype)
    rois = torch.stack([idx, left, top, left + w, top + h], 1)                    # (B, 5) x1 y1 x2 y2
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def rgb_to_gray(x: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma (torchvision weights); (B, 1, H, W) is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def color_jitter(x: Tensor, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """RandomApply(ColorJitter) per image: (B, C, H, W) -> same.

    Each image draws its apply coin, its four factors and its own random op order. An image that is
    not jittered, or an op with strength 0, gets factor 1 (hue shift 0), which leaves x exactly unchanged.
    Hue is computed for the whole batch at each step and kept (torch.where) only for the images whose
    current op it is: more arithmetic, but no data-dependent shapes, so no host sync on CUDA.
    """
    b, c = x.shape[:2]
    dev = x.device
    applied = _coin(b, cfg.jitter_p, gen, dev)                                   # (B,)
    strengths = (cfg.brightness, cfg.contrast, cfg.saturation if c == 3 else 0.0)
    factors = torch.stack([_uniform(b, max(0.0, 1 - s), 1 + s, gen, dev) if s > 0 else torch.ones(b, device=dev)
                           for s in strengths], 1)                               # (B, 3)
    factors = torch.where(applied[:, None], factors, 1.0)
    do_hue = c == 3 and cfg.hue > 0
    shift = _uniform(b, -cfg.hue, cfg.hue, gen, dev) if do_hue else None         # (B,)
    order = torch.rand(b, 4, generator=gen, device=dev).argsort(1)               # (B, 4) op per step
    for step in range(4):
        op = order[:, step]                                                      # (B,)
        f = factors.gather(1, op.clamp(max=_SATURATION)[:, None])[:, 0]
        x = blend_jitter(x, op, torch.where(op == _HUE, 1.0, f))
        if do_hue:
            mask = ((op == _HUE) & applied).view(b, 1, 1, 1)                       # (B, 1, 1, 1)
            x = torch.where(mask, adjust_hue(x, shift), x)
    return x


def blend_jitter(x: Tensor, op: Tensor, factor: Tensor) -> Tensor:
    """Brightness / contrast / saturation (op 0 / 1 / 2 per image) with per-image factor (B,).

    torchvision _blend, clamp(f * x + (1 - f) * target), with target 0, the mean of the gray image, or
    the gray image; computed as one lerp, equal up to float rounding (exact for brightness).
    """
    b = x.shape[0]
    op = op.view(b, 1, 1, 1)
    gray = rgb_to_gray(x)                                                        # (B, 1, H, W)
    mean = gray.mean((1, 2, 3), keepdim=True)                                    # (B, 1, 1, 1)
    target = torch.addcmul(mean * (op == _CONTRAST), gray, op == _SATURATION)    # 0 for brightness
    return torch.lerp(target, x, factor.view(b, 1, 1, 1).to(x.dtype)).clamp_(0, 1)


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


def gaussian_blur(x: Tensor, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """RandomApply(GaussianBlur) per image: (B, C, H, W) -> same; sigma ~ U[min, max] per image.

    Separable: y = Mv @ x @ Mh^T per channel, with per-image band matrices that fold in the reflect padding (batched
    matmul beats grouped conv2d with per-image kernels 2-4x on CPU at 28-32 px, and has fixed shapes).
    Every image is blurred and torch.where keeps the blurred copy only where the coin came up.
    On CUDA with TF32 matmuls enabled the blur is computed at TF32 precision.
    """
    b, c, height, width = x.shape
    applied = _coin(b, cfg.blur_p, gen, x.device)                                # (B,)
    sigma = _uniform(b, cfg.blur_sigma_min, cfg.blur_sigma_max, gen, x.device)  # (B,)
    radius = min(math.ceil(4 * cfg.blur_sigma_max), height - 1, width - 1)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma[:, None]) ** 2)                         # (B, 2r+1)
    kernel = kernel / kernel.sum(1, keepdim=True)
    rows = _band_matrix(kernel, height)                                          # (B, H, H)
    cols = rows if width == height else _band_matrix(kernel, width)              # (B, W, W)
    y = torch.bmm(x.reshape(b, c * height, width), cols.transpose(1, 2))        # (B, C*H, W) rows blurred
    y = y.view(b, c, height, width).transpose(1, 2).reshape(b, height, c * width)  # (B, H, C*W)
    y = torch.bmm(rows, y).view(b, height, c, width).transpose(1, 2)            # (B, C, H, W) cols blurred
    return torch.where(applied.view(b, 1, 1, 1), y, x)


def _band_matrix(kernel: Tensor, n: int) -> Tensor:
    """(B, 2r+1) kernels, r < n -> (B, n, n) M with (M @ v)[i] = sum_t k[t] * v[reflect(i + t)]."""
    b, taps = kernel.shape
    radius = taps // 2
    src = torch.arange(n, device=kernel.device)[:, None] + torch.arange(-radius, radius + 1, device=kernel.device)
    src = src.abs()
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)                      # (n, 2r+1) reflect
    out = torch.zeros(b, n, n, device=kernel.device, dtype=kernel.dtype)
    return out.scatter_add_(2, src.expand(b, n, taps), kernel[:, None, :].expand(b, n, taps))


def _coin(n: int, p: float, gen: torch.Generator, device) -> Tensor:
    """(n,) bool, each True with probability p."""
    return torch.rand(n, generator=gen, device=device) < p


def _uniform(shape, lo: float, hi: float, gen: torch.Generator, device) -> Tensor:
    """float32 U[lo, hi) of the given shape."""
    return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo
