"""Throughput of one SimSiam training step, ours against the official-style pipeline, on one machine.

    python -m benchmarks.throughput                       # cpu preset (Fashion-MNIST, width-16 ResNet, batch 256)
    python -m benchmarks.throughput --preset cifar10      # CIFAR ResNet-18, batch 512 (random uint8 data if
                                                          # CIFAR-10 is not on disk; the output says so)
    python -m benchmarks.throughput --json out.json --steps 20 --rounds 2 --set optim.batch_size=128

Same model, batch and data for every variant; pairs/s of
  (1) full:        our step as core/train/loop.py runs it: a batch from core.data.batches.ArraySource (uint8 on the
                   device, both views by batched per-sample augmentation), forward at run.precision / memory
                   format, loss, backward, SGD, loss and z_std summed on the device and read every run.log_every
                   steps;
  (2) model_only:  the same step on one fixed pair of views already on the device (no batches, no augmentation);
  (3) reference:   the official-style step (benchmarks.reference): per-image PIL transforms in DataLoader
                   workers, fp32, NCHW, loss.item() every step;
and the ratios input_overhead = time (1) / time (2), speedup_vs_reference = time (3) / time (1), aug_share =
(time to make one batch alone) / time (1), and mfu = model FLOP/s of (1) (torch.utils.flop_counter) over a
measured matrix-product peak in the step's precision; also host syncs per step of each variant (on CUDA
counted by its sync debug mode, elsewhere as the ops that would wait for a GPU, so a CPU run checks that our
step has none between logging points and the reference one per step); and the aten ops per step
(benchmarks.timing.count_ops), split into augmentation (making one batch: both views) and model (the rest of
step (1)): a GPU launches about one kernel per op, so the count is a launch-cost figure any device measures.

Timing (benchmarks.timing.measure_rounds). On CUDA each round is --steps queued steps of (2), then of (1),
and each variant reports its best round (other work only ever slows a round down). On a CPU, where a step is
synchronous, (2) and (1) alternate single step by single step; each variant reports its median step and
input_overhead is the median of the neighbouring (1)/(2) ratios: on a shared 2-core machine round means
drift by 10-15% and made the ratio of bests swing between 0.97 and 1.10 in three runs; the paired median
stayed between 1.01 and 1.05 in six (augmentation alone is 2-4% of the step). (3) runs after them, its
steps back to back (the DataLoader workers never pause). The load average and the kernel's CPU pressure
(PSI) are recorded. Only the default ablation path is timed (one view pair, network targets); the
precision fields default to bf16 + channels_last on CUDA and to the preset's own values on CPU (the cpu
preset: fp32, channels_last).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks import ratios, timing
from benchmarks.machine import cpu_pressure
from benchmarks.steps import OurStep, ReferenceStep, our_batches, step_flops
from core.config.hyperparameters import Config, apply_overrides
from core.config.overrides import parse_set
from core.config.presets import preset_config
from core.data.batches import ArraySource
from core.data.raw_images import DataError, ImageArrays, load_arrays
from core.runtime import precision
from core.runtime.run_directory import git_commit
from core.schema.checks import ConfigError
from core.schema.host import cpu_name
from core.train.loop import describe_device, resolve_device

# (N, C, H, W) of the full training sets, for random stand-in data of the right shape
SHAPES = {"fashion_mnist": (60000, 1, 28, 28), "cifar10": (50000, 3, 32, 32), "cifar100": (50000, 3, 32, 32),
          "synthetic": (1000, 1, None, None)}
VARIANTS = ("full", "model_only", "reference")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu", help="model, batch and data of this preset (default: cpu)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    ap.add_argument("--data-root", default="", help="data directory (as sweeps.run --data-root)")
    ap.add_argument("--data", choices=["auto", "real", "random"], default="auto",
                    help="real images, random uint8 of the data set's shape, or real if present (default)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--precision", choices=["fp32", "bf16"], help="default: bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                    help="default: on for CUDA, the preset's run.channels_last on CPU")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model for (1) and (2)")
    ap.add_argument("--compile-step", action="store_true", help="torch.compile the whole training step for (1) and "
                    "(2) (run.compile_step)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--steps", type=int, help="timed steps per round (default: 5 on CPU, 50 on CUDA)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default: 3 on CPU, 10 on CUDA)")
    ap.add_argument("--rounds", type=int, help="rounds of (1) and (2) (default: 8 on CPU, 2 on CUDA); on CUDA each "
                    "round is --steps queued steps of one variant, on CPU --steps single steps of both in turn")
    ap.add_argument("--ref-workers", type=int, help="DataLoader workers of (3) (default: the machine's cores)")
    ap.add_argument("--no-reference", action="store_true", help="skip (3) and the ratios that need it")
    ap.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    return ap.parse_args(argv)


def resolve_config(args, device: torch.device) -> Config:
    cfg = preset_config(args.preset)
    overrides = parse_set(args.set)                     # YAML values, as sweeps.run --set
    if args.data_root:
        overrides["data.root"] = args.data_root
    cuda = device.type == "cuda"
    overrides.setdefault("run.precision", args.precision or ("bf16" if cuda else cfg.run.precision))
    overrides.setdefault("run.channels_last", (cuda or cfg.run.channels_last) if args.channels_last is None
                         else args.channels_last)
    overrides.setdefault("run.compile", args.compile)
    overrides.setdefault("run.compile_step", args.compile_step)
    return apply_overrides(cfg, overrides, "benchmark options")


def load_data(cfg: Config, mode: str) -> tuple[ImageArrays, str]:
    """The preset's training images, or random uint8 images of their shape; and a line saying which."""
    data_cfg = cfg.data
    if mode in ("auto", "real"):
        try:
            data = load_arrays(data_cfg)
            return data, (f"{data_cfg.dataset}: {len(data.y_train)} real training images "
                          f"{tuple(data.x_train.shape[1:])}")
        except (DataError, ValueError) as err:
            if mode == "real":
                raise
            reason = str(err).split(". ")[0]
    else:
        reason = "asked for random data"
    n, c, h, w = SHAPES.get(data_cfg.dataset, (1000, 3, data_cfg.image_size, data_cfg.image_size))
    h, w = h or data_cfg.image_size, w or data_cfg.image_size
    n = min(n, data_cfg.train_subset) if data_cfg.train_subset else n
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    data = ImageArrays(x, y, x[:256], y[:256], num_classes=10)
    return data, f"RANDOM uint8 images of {data_cfg.dataset}'s shape ({n}, {c}, {h}, {w}), not real data ({reason})"


# ---- set-up: device, config, data, and how long to time -------------------------------------------------

@dataclass
class Setup:
    device: torch.device
    cfg: Config
    source: ArraySource
    data_note: str
    steps: int                   # timed steps per round
    rounds: int
    warmup: int                  # untimed steps before the first round
    ref_workers: int             # DataLoader workers of (3)
    started: float = 0.0         # time.perf_counter() when the timing began

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def batch(self) -> int:
        return self.cfg.optim.batch_size

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.started:.0f}s"


def set_up(args) -> Setup:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    cfg = resolve_config(args, device)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 3)
    if cfg.run.compile or cfg.run.compile_step:
        warmup = max(warmup, 3)
    precision.configure_backends(device)
    data, data_note = load_data(cfg, args.data)
    return Setup(device=device, cfg=cfg, source=ArraySource(data, cfg, device), data_note=data_note,
                 steps=args.steps or (50 if cuda else 5), rounds=args.rounds or (2 if cuda else 8), warmup=warmup,
                 ref_workers=args.ref_workers if args.ref_workers is not None else (os.cpu_count() or 1))


def print_setup(setup: Setup, load_average: float) -> None:
    cfg = setup.cfg
    print(f"device: {describe_device(setup.device)}; {cpu_name()}, {os.cpu_count()} cores; "
          f"torch {torch.__version__}", flush=True)
    print(f"data: {setup.data_note}", flush=True)
    print(f"model {cfg.model.backbone}, batch {setup.batch}, {cfg.data.image_size} px; precision "
          f"{cfg.run.precision}, channels_last {cfg.run.channels_last}, compile {cfg.run.compile}, compile_step "
          f"{cfg.run.compile_step}; {setup.steps} steps x {setup.rounds} rounds after {setup.warmup} warm-up; "
          f"load average {load_average:.2f}", flush=True)


# ---- (1) and (2): our step, with and without making its batches ---------------------------------------

class OurVariants:
    """The three calls timed on our side: (1) full step, (2) model only on one fixed pair, augmentation alone."""

    def __init__(self, setup: Setup):
        self.step = OurStep(setup.cfg, setup.source, setup.device)
        self.batches = our_batches(setup.source)
        self.fixed = next(self.batches)

    def full(self) -> None:
        self.step(*next(self.batches))

    def model_only(self) -> None:
        self.step(*self.fixed)

    def augment_only(self) -> None:
        next(self.batches)


def time_ours(setup: Setup, ours: OurVariants) -> tuple[dict, dict, float]:
    """(step-time samples per variant, step seconds per variant, input overhead (1)/(2))."""
    per_round = 1 if setup.cuda else setup.steps        # samples per variant and round (timing.measure_rounds)

    def progress(r: int, samples: dict) -> None:
        now = {k: timing.step_time(v[-per_round:], setup.device) for k, v in samples.items()}
        print(f"  round {r + 1}: full {setup.batch / now['full']:.0f} pairs/s, model-only "
              f"{setup.batch / now['model_only']:.0f} pairs/s ({setup.elapsed()})", flush=True)

    samples = timing.measure_rounds({"model_only": ours.model_only, "full": ours.full}, setup.steps, setup.rounds,
                                    setup.device, setup.warmup, between=1 if setup.cuda else 0, progress=progress)
    step_s = {k: timing.step_time(v, setup.device) for k, v in samples.items()}
    overhead = (ratios.input_overhead(step_s["full"], step_s["model_only"]) if setup.cuda
                else ratios.paired_overhead(samples["full"], samples["model_only"]))
    step_s["augment_only"] = timing.seconds_per_call(ours.augment_only, setup.steps, setup.device, warmup=1)
    return samples, step_s, overhead


# ---- what one step costs besides time: host syncs, aten ops, FLOPs ------------------------------------

def count_work(setup: Setup, ours: OurVariants) -> dict:
    """Host syncs and aten ops per step of (1) and (2), model FLOPs per step, and the matmul peak."""
    cfg = setup.cfg
    per_log = cfg.run.log_every                         # over one logging interval: the trainer pulls once in it
    # a compiled step runs eagerly under a TorchDispatchMode, so what the mode counts is not what it launches: no
    # model op count for a compiled model, and off CUDA no sync count for a compiled step (its eager fallback
    # would read the lr tensor once per parameter)
    compiled = cfg.run.compile or cfg.run.compile_step
    counted = setup.cuda or not cfg.run.compile_step
    syncs = {name: timing.host_syncs_per_step(fn, setup.device, per_log) if counted else None
             for name, fn in (("full", ours.full), ("model_only", ours.model_only))}
    ops = {"augment": sum(timing.count_ops(ours.augment_only).values()),      # one batch: both views, normalized
           "model": None if compiled else sum(timing.count_ops(ours.model_only).values())}  # forward to optimizer
    peak_dtype = torch.bfloat16 if cfg.run.precision == "bf16" else torch.float32
    return {"syncs": syncs, "ops": ops, "flops": step_flops(cfg, *ours.fixed, setup.source.channels),
            "peak_dtype": peak_dtype, "peak": timing.matmul_peak(setup.device, peak_dtype)}


# ---- (3): the official-style step, after ours (its worker processes would compete) --------------------

def time_reference(setup: Setup, samples: dict, step_s: dict, syncs: dict) -> None:
    """Time (3) back to back (nothing between rounds: the workers never pause); adds to the three dicts."""
    ref = ReferenceStep(setup.cfg, setup.source, setup.device, setup.ref_workers)
    ref_warmup = setup.warmup + 2 * setup.ref_workers   # drain what the workers prefetched at start-up
    samples.update(timing.measure_rounds({"reference": ref}, setup.steps, setup.rounds, setup.device, ref_warmup))
    step_s["reference"] = timing.step_time(samples["reference"], setup.device)
    ref_views = ref.fetch()                             # the step's syncs; the per-image work is in the workers
    syncs["reference"] = timing.host_syncs_per_step(lambda: ref.step(*ref_views), setup.device,
                                                    setup.cfg.run.log_every)
    print(f"  reference ({setup.ref_workers} workers): {setup.batch / step_s['reference']:.0f} pairs/s "
          f"({setup.elapsed()})", flush=True)


# ---- the record ----------------------------------------------------------------------------------------

def machine_fields(setup: Setup, load_before: tuple, pressure_before: float | None) -> dict:
    return {"device": f"{describe_device(setup.device)}; {cpu_name()}, {os.cpu_count()} cores",
            "torch": torch.__version__, "commit": git_commit(),
            "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_pressure_avg10_before": pressure_before, "cpu_pressure_avg10_after": cpu_pressure()}


def run_fields(args, setup: Setup) -> dict:
    cfg, cuda = setup.cfg, setup.cuda
    return {"preset": args.preset, "backbone": cfg.model.backbone, "batch": setup.batch,
            "image_size": cfg.data.image_size, "data": setup.data_note, "n_train": setup.source.n_train,
            "precision": cfg.run.precision, "channels_last": cfg.run.channels_last, "compile": cfg.run.compile,
            "compile_step": cfg.run.compile_step, "threads": torch.get_num_threads(),
            "ref_workers": None if args.no_reference else setup.ref_workers,
            "steps": setup.steps, "warmup": setup.warmup, "rounds": setup.rounds,
            "timing": (f"best of {setup.rounds} rounds of {setup.steps} queued steps; input_overhead = ratio of the "
                       "bests" if cuda else f"median of {setup.steps * setup.rounds} single steps, (1) and (2) in "
                       "turn; input_overhead = median of the neighbouring (1)/(2) ratios")}


def rate_fields(setup: Setup, step_s: dict, overhead: float, work: dict) -> dict:
    batch, flops, peak = setup.batch, work["flops"], work["peak"]
    variants = [v for v in VARIANTS if v in step_s]
    return {"pairs_per_s": {v: ratios.pairs_per_s(batch, step_s[v]) for v in variants},
            "epoch_s": {v: ratios.epoch_s(setup.source.n_train, batch, step_s[v]) for v in variants},
            "input_overhead": overhead,
            "speedup_vs_reference": (ratios.speedup(step_s["full"], step_s["reference"])
                                     if "reference" in step_s else None),
            "aug_share": ratios.aug_share(step_s["augment_only"], step_s["full"]),
            "flops_per_pair": flops / batch, "peak_flops": peak,
            "peak_dtype": str(work["peak_dtype"]).replace("torch.", ""),
            "model_flops_per_s": {v: ratios.flop_rate(flops, step_s[v]) for v in variants},
            "mfu": ratios.mfu(flops, step_s["full"], peak),
            "mfu_by_variant": {v: ratios.mfu(flops, step_s[v], peak) for v in variants}}


def count_fields(setup: Setup, work: dict) -> dict:
    return {"host_syncs_per_step": work["syncs"], "aten_ops_per_step": work["ops"], "views_per_step": 2,
            "aten_ops_counted_by": "benchmarks.timing.count_ops: aten ops dispatched, after warm-up",
            "host_syncs_counted_by": ("CUDA sync debug mode" if setup.cuda else
                                      "benchmarks.timing.sync_points: ops that would make the host wait for a GPU")}


def run(args) -> dict:
    load_before, pressure_before = os.getloadavg(), cpu_pressure()
    setup = set_up(args)
    print_setup(setup, load_before[0])
    ours = OurVariants(setup)
    setup.started = time.perf_counter()
    samples, step_s, overhead = time_ours(setup, ours)
    work = count_work(setup, ours)                      # the matmul peak before (3): its workers would compete
    if not args.no_reference:
        time_reference(setup, samples, step_s, work["syncs"])
    return {**machine_fields(setup, load_before, pressure_before), **run_fields(args, setup),
            "step_s": step_s, "step_s_samples": samples, **rate_fields(setup, step_s, overhead, work),
            **count_fields(setup, work), "wall_s": round(time.perf_counter() - setup.started, 1)}


def report(res: dict) -> str:
    names = {"full": "(1) ours, full step", "model_only": "(2) ours, model only", "reference": "(3) official-style"}
    lines = [f"{'variant':<24} {'pairs/s':>9} {'ms/step':>9} {'s/epoch':>9} {'TFLOP/s':>9} {'MFU':>7}"]
    for v, label in names.items():
        if v in res["pairs_per_s"]:
            lines.append(f"{label:<24} {res['pairs_per_s'][v]:>9.0f} {1e3 * res['step_s'][v]:>9.1f} "
                         f"{res['epoch_s'][v]:>9.2f} {res['model_flops_per_s'][v] / 1e12:>9.3f} "
                         f"{100 * res['mfu_by_variant'][v]:>6.1f}%")
    lines.append(f"{'augmentation alone':<24} {res['batch'] / res['step_s']['augment_only']:>9.0f} "
                 f"{1e3 * res['step_s']['augment_only']:>9.1f}")
    sp = res["speedup_vs_reference"]
    lines += [f"input overhead (1)/(2) time: {res['input_overhead']:.3f}",
              f"speedup (1) over (3):        {'%.2fx' % sp if sp else 'not measured'}",
              f"augmentation share of (1):   {100 * res['aug_share']:.1f}%",
              f"model FLOPs per pair: {res['flops_per_pair'] / 1e9:.3f} GFLOP; matmul peak ({res['peak_dtype']}): "
              f"{res['peak_flops'] / 1e12:.3f} TFLOP/s; MFU of (1): {100 * res['mfu']:.1f}%",
              f"s/epoch over the {res['n_train']} training images",
              f"aten ops per step: augmentation {res['aten_ops_per_step']['augment']} ({res['views_per_step']} "
              f"views), model {_or_dash(res['aten_ops_per_step']['model'])}",
              f"host syncs per step ({res['host_syncs_counted_by']}): "
              + ", ".join(f"{k} {_or_dash(v)}" for k, v in res["host_syncs_per_step"].items()),
              f"load average before / after: {res['load_avg_before'][0]:.2f} / {res['load_avg_after'][0]:.2f}; "
              f"CPU pressure (PSI some avg10, %) before / after: {res['cpu_pressure_avg10_before']} / "
              f"{res['cpu_pressure_avg10_after']}"]
    return "\n".join(lines)


def _or_dash(value) -> str:
    return "-" if value is None else f"{value:g}"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        res = run(args)
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report(res), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
