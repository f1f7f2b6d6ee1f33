"""The kNN monitor's cost, before and after issue 34, on one machine.

    python -m benchmarks.knn_monitor                          # cpu preset, 1 thread, 6 rounds: before vs after
    python -m benchmarks.knn_monitor --compare before batch256 --rounds 4 --threads 2 --json out.json

A kNN point is what core/train/loop.py runs at the end of an epoch: the backbone's pool5 features of every
training and test image (core.eval.frozen_backbone.features), then the weighted kNN and the backbone's spread
(monitor). The variants (VARIANTS):
  before:    the monitor as at 4a8f308: 1024 images a forward pass, 1024 kNN queries a chunk, glibc's
             allocator at its defaults;
  after:     as this code's core.train.loop runs it: core.runtime.host_tuning.keep_large_buffers at the start
             of the process, the batches of core.eval.frozen_backbone;
  and for comparison batch256 (256 images a pass and queries a chunk, allocator at its defaults) and
  allocator+batch256.
Each variant runs in a fresh process (benchmarks.ab): the cpu preset's network at its seed-0 initialization,
one untimed point, then --points timed points; its time is the median point. Each round runs both variants,
the order flipped every round, and gives the ratio after / before; the report is the median ratio and the
range over the rounds. Every child also hashes what its last point computed (the features and labels of both
splits, and the logged kNN accuracy and backbone spread): the variants must agree bit for bit, and the report
says whether they did. The child's
minor page faults per point and peak RSS are reported too.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from benchmarks import ab

# name -> (allocator thresholds raised, images per forward pass, kNN queries per chunk); None: this code's own
VARIANTS = {
    "before": (False, 1024, 1024),
    "after": (True, None, None),
    "batch256": (False, 256, 256),
    "allocator+batch256": (True, 256, 256),
}
MODULE = "benchmarks.knn_monitor"
MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")   # children start at glibc's defaults


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.knn_monitor", description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", nargs=2, default=["before", "after"], choices=sorted(VARIANTS),
                    metavar="VARIANT", help="before and after (default: before after); choices: "
                    + ", ".join(VARIANTS))
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each child (default 1: a run of --jobs 2 "
                    "on two cores)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--points", type=int, default=3, help="timed kNN points per child, after one untimed")
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ---- a child: one variant in its own process ------------------------------------------------------------

def child(args) -> dict:
    allocator, batch, chunk = VARIANTS[args.child]
    set_thresholds = {}
    if allocator:
        from core.runtime.host_tuning import keep_large_buffers
        set_thresholds = keep_large_buffers()       # first, as core.train.loop: before any tensor exists
    import torch

    from core.config.hyperparameters import apply_overrides
    from core.config.presets import preset_config
    from core.data.batches import make_source
    from core.eval.frozen_backbone import KNN_CHUNK, features, monitor
    from core.model.simsiam import build_model
    from core.runtime import precision
    torch.set_num_threads(args.threads)
    cfg = apply_overrides(preset_config(args.preset), {"run.device": "cpu"}, "benchmark")
    torch.manual_seed(cfg.run.seed)
    source = make_source(cfg, torch.device("cpu"))
    backbone = precision.prepare_model(build_model(cfg, source.channels), cfg.run).backbone
    chunk = chunk or KNN_CHUNK

    def point():
        feats = features(backbone, source, batch)
        return feats, monitor(feats, source.num_classes, cfg.eval, chunk)

    point()                                         # untimed: the first touch of everything
    times, faults = [], []
    for _ in range(args.points):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        feats, logged = point()
        times.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    digest = hashlib.sha256()
    for t in (feats.bank, feats.bank_y, feats.query, feats.query_y):
        digest.update(t.contiguous().numpy().tobytes())
    digest.update(json.dumps(logged, sort_keys=True).encode())
    return {"point_s": statistics.median(times), "points_s": times, "faults_per_point": statistics.median(faults),
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "sha256": digest.hexdigest(),
            "thresholds_set": set_thresholds, "logged": logged}


# ---- the parent: rounds of both variants ------------------------------------------------------------------

def run(args) -> dict:
    from core.runtime.host_tuning import thread_env
    before, after = args.compare
    env = ab.child_env(drop=MALLOC_VARS, OMP_NUM_THREADS=str(args.threads), **thread_env(args.threads))
    child_args = ["--preset", args.preset, "--threads", str(args.threads), "--points", str(args.points)]
    start = ab.machine()
    t0 = time.perf_counter()

    def progress(r: int, last: dict) -> None:
        print(f"  round {r + 1}: " + ", ".join(f"{name} {res['point_s']:.2f} s/point ({res['faults_per_point']:.0f} "
                                                 f"faults)" for name, res in last.items())
              + f"; ratio {last[after]['point_s'] / last[before]['point_s']:.3f} ({time.perf_counter() - t0:.0f}s)",
              flush=True)

    results = ab.interleave((before, after), lambda name: ab.run_child(MODULE, name, child_args, env), args.rounds,
                            progress)
    summary = ab.ratio_summary([r["point_s"] for r in results[before]], [r["point_s"] for r in results[after]])
    hashes = {r["sha256"] for rs in results.values() for r in rs}
    return {"benchmark": "knn_monitor", "compare": [before, after], "preset": args.preset, "threads": args.threads,
            "rounds": args.rounds, "points": args.points, "machine_before": start, "machine_after": ab.machine(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "point_s": {name: [r["point_s"] for r in rs] for name, rs in results.items()},
            "faults_per_point": {name: statistics.median(r["faults_per_point"] for r in rs)
                                 for name, rs in results.items()},
            "max_rss_mib": {name: max(r["max_rss_mib"] for r in rs) for name, rs in results.items()},
            "thresholds_set": {name: rs[0]["thresholds_set"] for name, rs in results.items()},
            "ratio": summary, "bit_identical": len(hashes) == 1, "sha256": sorted(hashes),
            "wall_s": round(time.perf_counter() - t0, 1)}


def report(res: dict) -> str:
    before, after = res["compare"]
    m = res["machine_before"]
    lines = [f"kNN monitor, preset {res['preset']}, {res['threads']} thread(s), {m['cpu']}; load average "
             f"{m['load_avg'][0]:.2f} -> {res['machine_after']['load_avg'][0]:.2f}"]
    for name in (before, after):
        lines.append(f"  {name:<20} median {statistics.median(res['point_s'][name]):.2f} s/point (rounds "
                     + " ".join(f"{t:.2f}" for t in res["point_s"][name])
                     + f"), {res['faults_per_point'][name]:.0f} page faults/point, peak RSS "
                     f"{res['max_rss_mib'][name]} MiB")
    lines.append(f"  {after} / {before}: {ab.describe_ratio(res['ratio'])}; per round "
                 + " ".join(f"{r:.3f}" for r in res["ratio"]["ratios"]))
    lines.append("  outputs bit-identical across every child: " + ("yes" if res["bit_identical"] else
                                                                   f"NO ({len(res['sha256'])} different hashes)"))
    return "\n".join(lines)


def main(argv=None) -> int:
    return ab.main(parse_args(argv), child, run, report)


if __name__ == "__main__":
    sys.exit(main())
