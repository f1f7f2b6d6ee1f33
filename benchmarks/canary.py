"""The numerics canary: short runs whose first logging points are committed (tests/numerics_canary.json) and
re-trained by tests/benchmarks/test_numerics_canary.py, so that a change of training numerics fails CI instead of
silently invalidating the committed records.

    python -m benchmarks.canary --write       # record this code's values (after bumping core/schema/numerics.py)
    python -m benchmarks.canary --tolerance   # measure what float order moves and what a real change moves

A canary is a tiny config through the whole training path (data set and stratified subset, augmentation, model
init, loss, optimizer, schedule), logging every step. What it compares: the backbone's spread at init (the
random network on real images) and the loss and z_std of steps 1 and 2 (the first update's effect), each
within the canary's relative tolerance. Later steps are recorded but not compared: summation-order
differences grow chaotically from step to step. Bit-exactness holds on one CPU only: the records made on an
AMD EPYC and re-made on an Intel Xeon differ from the first logging point.

How each tolerance was chosen (`--tolerance`, 2-core Intel Xeon): the largest relative change of a compared
value when the same sums are reordered (2 threads instead of 1; NCHW instead of channels_last), and the
smallest largest change that a real change makes (colour jitter brightness 0.40 -> 0.42, crop scale 0.20 ->
0.21, flip p 0.50 -> 0.52, one more random draw before training); the tolerance sits between the two, near
their geometric mean, about 3x or more from each:

    canary                float order   smallest real change   rtol
    cpu                   1.6e-3        4.8e-2 (brightness)    5e-3
    no-stop-grad          6.0e-3        6.2e-2 (brightness)    2e-2
    moving-average        6.2e-4        5.2e-3 (brightness)    2e-3
    k-step                1.9e-3        4.7e-2 (brightness)    1e-2
    asym2x                5.6e-4        6.4e-2 (crop scale)    5e-3
    rgb-colour-blur-lars  6.3e-5        5.2e-1 (brightness)    5e-3

Between the AMD and the Intel CPU the cpu preset's mean loss over its first five steps differed by 5.5e-4
(w/ stop-grad) and 5.3e-5 (w/o), inside the same-machine reorderings. A change too small to leave float
noise (weight decay x 1.01: at most 4e-6) is not seen: the canary guards against changed draws,
augmentations, inits and losses, not against every hyperparameter nudge (the unit tests pin the formulas).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
VALUES = TESTS_DIR / "numerics_canary.json"
COMPARED_STEPS = (1, 2)

BASE = {"data.train_subset": 512, "data.test_subset": 100, "optim.batch_size": 128, "optim.epochs": 1,
        "run.log_every": 1, "run.threads": 1, "run.device": "cpu", "eval.knn_k": 20, "eval.linear": "none",
        "eval.knn_every": 0}
CANARIES = {   # name -> (preset, overrides on top of BASE): the paths whose numerics the records depend on
    "cpu": ("cpu", {}),
    "no-stop-grad": ("cpu", {"model.stop_grad": False}),
    "moving-average": ("cpu", {"target.eta": "moving_average", "model.predictor": "none"}),
    "k-step": ("cpu", {"target.k_steps": 2}),
    "asym2x": ("cpu", {"loss.symmetry": "asym2x"}),
    "rgb-colour-blur-lars": ("cpu", {"data.dataset": "synthetic", "augment.blur_p": 0.5, "optim.optimizer": "lars",
                                     "optim.warmup_epochs": 0.5, "model.predictor": "frozen"}),
}
RTOLS = {"cpu": 5e-3, "no-stop-grad": 2e-2, "moving-average": 2e-3, "k-step": 1e-2, "asym2x": 5e-3,
         "rgb-colour-blur-lars": 5e-3}     # relative, per canary (module docstring)
COMPARED = ("loss", "z_std")


def config(name: str, extra: dict | None = None):
    from core.config.hyperparameters import apply_overrides
    from core.config.presets import preset_config
    preset, overrides = CANARIES[name]
    return apply_overrides(preset_config(preset), {**BASE, **overrides, **(extra or {})}, f"canary {name}")


def values(name: str, extra: dict | None = None) -> dict:
    """Train canary `name` (with `extra` overrides) and return what it is compared on."""
    from core.runtime.run_directory import RunDir
    from core.train.loop import train
    with tempfile.TemporaryDirectory() as tmp:
        train(config(name, extra), Path(tmp) / "run", {}, log=lambda *a, **k: None)
        rows = RunDir(Path(tmp) / "run").read_metrics()
    return {"steps": [{k: r[k] for k in ("step", *COMPARED)} for r in rows if r["step"] > 0],
            "backbone_std_init": rows[0]["backbone_std"]}


def differences(a: dict, b: dict) -> list[tuple[str, float]]:
    """(what, relative difference) of every compared value of two canary results; inf where shapes differ."""
    if [r["step"] for r in a["steps"]] != [r["step"] for r in b["steps"]]:
        return [("logged steps", math.inf)]
    out = [("backbone_std_init", _rel(a["backbone_std_init"], b["backbone_std_init"]))]
    for ra, rb in zip(a["steps"], b["steps"]):
        if ra["step"] in COMPARED_STEPS:
            out += [(f"step {ra['step']} {k}", _rel(ra[k], rb[k])) for k in COMPARED]
    return out


def _rel(x: float, y: float) -> float:
    return abs(x - y) / max(abs(y), 1e-12)


def write() -> None:
    from core.schema.numerics import NUMERICS_VERSION
    data = {"numerics": NUMERICS_VERSION, "canaries": {name: values(name) for name in CANARIES}}
    VALUES.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {VALUES}")


PERTURBATIONS = {   # label -> overrides: float order only (the same computation summed differently)
    "2 threads instead of 1": {"run.threads": 2},
    "NCHW instead of channels_last": {"run.channels_last": False},
}
CHANGES = {         # label -> overrides or a hook: a real change of what is computed
    "crop scale 0.2 -> 0.21": {"augment.crop_scale_min": 0.21},
    "flip p 0.5 -> 0.52": {"augment.flip_p": 0.52},
    "brightness 0.4 -> 0.42": {"augment.brightness": 0.42},
    "weight decay x 1.01": "wd",
    "one more random draw before training": "draw",
}


def _changed(name: str, change) -> dict:
    if isinstance(change, dict):
        return values(name, change)
    if change == "wd":
        return values(name, {"optim.weight_decay": config(name).optim.weight_decay * 1.01})
    import torch
    real_seed = torch.manual_seed

    def seed_then_draw(seed):                      # the trainer seeds, then one extra draw shifts every init
        gen = real_seed(seed)
        torch.rand(1)
        return gen
    torch.manual_seed = seed_then_draw
    try:
        return values(name)
    finally:
        torch.manual_seed = real_seed


def tolerance(names: list[str]) -> None:
    """Print, per canary, the largest relative difference of the compared values each perturbation and each
    change makes, and which value it was: float order must stay below RTOL, real changes above it."""
    for name in names:
        ref = values(name)
        runs = [("float order", label, values(name, sets)) for label, sets in PERTURBATIONS.items()]
        runs += [("real change", label, _changed(name, change)) for label, change in CHANGES.items()]
        for kind, label, got in runs:
            what, worst = max(differences(got, ref), key=lambda wd: wd[1])
            side = "below" if worst <= RTOLS[name] else "above"
            print(f"{name:22s} {kind:11s} {label:38s} max rel diff {worst:.1e} ({what}; {side} rtol "
                  f"{RTOLS[name]:g})", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.canary", description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"write this code's canary values to {VALUES}")
    ap.add_argument("--tolerance", nargs="*", metavar="CANARY", help="measure float-order vs real changes "
                    "(default: every canary)")
    args = ap.parse_args(argv)
    if args.write:
        write()
    if args.tolerance is not None:
        tolerance(args.tolerance or list(CANARIES))
    if not args.write and args.tolerance is None:
        ap.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
