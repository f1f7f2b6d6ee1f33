"""Batched SimSiam augmentation: core.data.augment (hand-written ops) against kornia.augmentation, speed and fidelity.

    python -m benchmarks.kornia_compare [--device cpu|cuda] [--json PATH]

kornia is not a dependency; put it on PYTHONPATH to run this (`pip install --target DIR kornia`). Both
pipelines draw every parameter per image (kornia's default same_on_batch=False) and run the MoCo v2 recipe
without blur (the cpu and cifar10 presets): RandomResizedCrop(0.2, 1) -> flip -> RandomApply(ColorJitter
0.4/0.4/0.4/0.1, p=0.8) -> RandomGrayscale(0.2). Per shape it prints
- ms per view for a batch (uint8 in, float out), for both;
- crop fidelity: two-sample Kolmogorov-Smirnov distance of the crop's area fraction and log aspect ratio
  against torchvision's RandomResizedCrop.get_params called once per image (the official per-image draw);
- colour-op fidelity: max |difference| from torchvision.transforms.v2.functional of each jitter op at fixed
  factors (brightness 1.3, contrast 0.7, saturation 1.4, hue 0.08) on random images.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from benchmarks import timing
from core.config.hyperparameters import AugmentConfig
from core.data import augment

SHAPES = {"fashion_mnist (cpu preset)": (256, 1, 28), "cifar10": (512, 3, 32)}
FACTORS = {"brightness": 1.3, "contrast": 0.7, "saturation": 1.4, "hue": 0.08}


def kornia_pipeline(cfg: AugmentConfig, size: int, channels: int):
    import kornia.augmentation as K
    colour = channels == 3
    ops = [K.RandomResizedCrop((size, size), scale=(cfg.crop_scale_min, cfg.crop_scale_max),
                               ratio=(cfg.crop_ratio_min, cfg.crop_ratio_max)),
           K.RandomHorizontalFlip(p=cfg.flip_p),
           K.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation if colour else 0.0, cfg.hue if colour else 0.0,
                         p=cfg.jitter_p)]
    if colour:
        ops.append(K.RandomGrayscale(p=cfg.grayscale_p))
    return torch.nn.Sequential(*ops)


def ks_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: max |ECDF_a - ECDF_b|."""
    a, b = a.double().sort().values, b.double().sort().values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True).double() / len(a)
    fb = torch.searchsorted(b, grid, right=True).double() / len(b)
    return (fa - fb).abs().max().item()


def area_and_log_ratio(h: torch.Tensor, w: torch.Tensor, height: int, width: int):
    return (h * w).double() / (height * width), torch.log(w.double() / h.double())


def torchvision_crops(n: int, height: int, width: int, cfg: AugmentConfig):
    """(h, w) of n per-image draws of torchvision's RandomResizedCrop.get_params."""
    torch.manual_seed(1)
    img = torch.zeros(1, height, width)
    hw = [v2.RandomResizedCrop.get_params(img, [cfg.crop_scale_min, cfg.crop_scale_max],
                                          [cfg.crop_ratio_min, cfg.crop_ratio_max])[2:] for _ in range(n)] \
        if hasattr(v2.RandomResizedCrop, "get_params") else None
    if hw is None:  # torchvision without the v2 classmethod: the v1 one draws the same way
        from torchvision.transforms import RandomResizedCrop
        hw = [RandomResizedCrop.get_params(img, [cfg.crop_scale_min, cfg.crop_scale_max],
                                           [cfg.crop_ratio_min, cfg.crop_ratio_max])[2:] for _ in range(n)]
    t = torch.tensor(hw)
    return t[:, 0], t[:, 1]


def kornia_crops(pipe, x: torch.Tensor, rounds: int):
    """(h, w) of the crops kornia drew over `rounds` calls (from the src corners of its _params)."""
    hs, ws = [], []
    for _ in range(rounds):
        pipe(x)
        src = pipe[0]._params["src"].cpu()                 # (B, 4, 2) corners x, y
        ws.append(src[:, 1, 0] - src[:, 0, 0] + 1)
        hs.append(src[:, 3, 1] - src[:, 0, 1] + 1)
    return torch.cat(hs), torch.cat(ws)


def our_crops(n: int, height: int, width: int, cfg: AugmentConfig, device):
    gen = torch.Generator(device=device).manual_seed(2)
    boxes = augment.sample_crop_boxes(n, height, width, cfg, gen).cpu()
    return boxes[:, 2], boxes[:, 3]


def colour_fidelity(device) -> dict:
    """Max |op(x) - torchvision op(x)| at fixed factors on 64 random 32 px RGB images, ours and kornia's."""
    import kornia.enhance as KE
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(3)).to(device)
    b = x.shape[0]
    tv = {"brightness": TF.adjust_brightness(x, FACTORS["brightness"]),
          "contrast": TF.adjust_contrast(x, FACTORS["contrast"]),
          "saturation": TF.adjust_saturation(x, FACTORS["saturation"]),
          "hue": TF.adjust_hue(x, FACTORS["hue"])}
    def full(v):
        return torch.full((b,), v, device=device)
    ours = {name: augment.blend_jitter(x, torch.full((b,), op, device=device, dtype=torch.long), full(FACTORS[name]))
            for op, name in enumerate(["brightness", "contrast", "saturation"])}
    ours["hue"] = augment.adjust_hue(x, full(FACTORS["hue"]))
    kor = {"brightness": KE.adjust_brightness_accumulative(x, full(FACTORS["brightness"])),
           "contrast": KE.adjust_contrast_with_mean_subtraction(x, full(FACTORS["contrast"])),
           "saturation": KE.adjust_saturation_with_gray_subtraction(x, full(FACTORS["saturation"])),
           "hue": KE.adjust_hue(x, full(FACTORS["hue"] * 2 * math.pi))}   # kornia's hue is in radians
    return {lib: {k: (out[k] - tv[k]).abs().max().item() for k in tv} for lib, out in (("ours", ours), ("kornia", kor))}


def run(device: torch.device, reps: int) -> dict:
    cfg = AugmentConfig(blur_p=0.0)
    res = {"device": str(device), "threads": torch.get_num_threads(), "shapes": {}}
    for name, (b, c, size) in SHAPES.items():
        x = torch.randint(0, 256, (b, c, size, size), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0)).to(device)
        gen = torch.Generator(device=device).manual_seed(0)
        pipe = kornia_pipeline(cfg, size, c).to(device)
        ours_s = timing.seconds_per_call(lambda: augment.augment(x, cfg, size, gen), reps, device, warmup=2)
        kornia_s = timing.seconds_per_call(lambda: pipe(x.float().div(255)), reps, device, warmup=2)
        n = 20000
        tv_a, tv_r = area_and_log_ratio(*torchvision_crops(n, size, size, cfg), size, size)
        o_a, o_r = area_and_log_ratio(*our_crops(n, size, size, cfg, device), size, size)
        k_a, k_r = area_and_log_ratio(*kornia_crops(pipe, x.float().div(255), math.ceil(n / b)), size, size)
        res["shapes"][name] = {
            "batch": b, "channels": c, "size": size,
            "ms_per_view": {"ours": 1e3 * ours_s, "kornia": 1e3 * kornia_s},
            "kornia_over_ours_time": kornia_s / ours_s,
            "ks_crop_area_vs_torchvision": {"ours": ks_distance(o_a, tv_a), "kornia": ks_distance(k_a, tv_a)},
            "ks_crop_log_ratio_vs_torchvision": {"ours": ks_distance(o_r, tv_r), "kornia": ks_distance(k_r, tv_r)},
            "mean_crop_area": {"torchvision": tv_a.mean().item(), "ours": o_a.mean().item(),
                               "kornia": k_a.mean().item()},
        }
    res["colour_max_abs_diff_vs_torchvision"] = colour_fidelity(device)
    return res


def report(res: dict) -> str:
    lines = [f"device {res['device']} ({res['threads']} threads); KS distances vs torchvision per-image draws "
             f"(20k crops each; 0.014 is the 5% critical value)"]
    for name, r in res["shapes"].items():
        ms, ks_a, ks_r, mean = (r["ms_per_view"], r["ks_crop_area_vs_torchvision"],
                                r["ks_crop_log_ratio_vs_torchvision"], r["mean_crop_area"])
        lines.append(f"{name}: batch {r['batch']}x{r['channels']}x{r['size']}^2  ms/view ours {ms['ours']:.2f} "
                     f"kornia {ms['kornia']:.2f} ({r['kornia_over_ours_time']:.1f}x)  KS area ours {ks_a['ours']:.3f} "
                     f"kornia {ks_a['kornia']:.3f}  KS log-ratio ours {ks_r['ours']:.3f} kornia {ks_r['kornia']:.3f}  "
                     f"mean area tv {mean['torchvision']:.3f} ours {mean['ours']:.3f} kornia {mean['kornia']:.3f}")
    for lib, d in res["colour_max_abs_diff_vs_torchvision"].items():
        lines.append(f"colour ops, max |x - torchvision|, {lib}: " + ", ".join(f"{k} {v:.2e}" for k, v in d.items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.kornia_compare", description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    try:
        import kornia  # noqa: F401
    except ImportError:
        print("kornia is not installed; put it on PYTHONPATH (pip install --target DIR kornia)", file=sys.stderr)
        return 2
    res = run(torch.device(args.device), args.reps)
    print(report(res), flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
