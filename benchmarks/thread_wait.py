"""The training step at more than one torch thread, with OpenMP's idle threads spinning (libgomp's default) and
sleeping (OMP_WAIT_POLICY=PASSIVE, what sweeps.executors gives such a run since issue 34), on one machine.

    python -m benchmarks.thread_wait                          # cpu preset, 2 threads, 6 rounds
    python -m benchmarks.thread_wait --threads 2 --steps 20 --rounds 4 --json out.json

Each variant runs in a fresh process (libgomp reads its environment once, when torch loads it; benchmarks.ab):
  spin:    OMP_WAIT_POLICY and GOMP_SPINCOUNT removed from the environment (libgomp's default);
  passive: the environment core.runtime.host_tuning.thread_env gives a run of --threads threads.
A child trains the preset's network from its seed-0 initialization on the trainer's own batches
(benchmarks.steps.OurStep: core.train.step.train_step), --warmup untimed steps then --steps timed ones; its time
is the median step. Each round runs both, the order flipped every round, and gives the ratio passive / spin;
the report is the median ratio and the range over the rounds. Every child hashes its parameters after its last
step: the two policies must train the same bits, and the report says whether they did.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import statistics
import sys
import time
from pathlib import Path

from benchmarks import ab

MODULE = "benchmarks.thread_wait"
VARIANTS = ("spin", "passive")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of each child (default 2: a run of --jobs 1 "
                    "on two cores)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=15, help="timed training steps per child")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps per child, before the timed ones")
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def child(args) -> dict:
    import torch

    from benchmarks.steps import OurStep, our_batches
    from core.config.hyperparameters import apply_overrides
    from core.config.presets import preset_config
    from core.data.batches import make_source
    torch.set_num_threads(args.threads)
    cfg = apply_overrides(preset_config(args.preset), {"run.device": "cpu"}, "benchmark")
    device = torch.device("cpu")
    source = make_source(cfg, device)
    step, batches = OurStep(cfg, source, device), our_batches(source)
    for _ in range(args.warmup):
        step(*next(batches))
    times = []
    for _ in range(args.steps):
        views = next(batches)
        t0 = time.perf_counter()
        step(*views)
        times.append(time.perf_counter() - t0)
    digest = hashlib.sha256()
    for p in step.model.state_dict().values():
        digest.update(p.detach().contiguous().numpy().tobytes())
    return {"step_s": statistics.median(times), "steps_s": times, "sha256": digest.hexdigest(),
            "threads": torch.get_num_threads()}


def run(args) -> dict:
    from core.runtime.host_tuning import WAIT_POLICY_VARS, thread_env
    envs = {"spin": ab.child_env(drop=WAIT_POLICY_VARS, OMP_NUM_THREADS=str(args.threads)),
            "passive": ab.child_env(drop=WAIT_POLICY_VARS, OMP_NUM_THREADS=str(args.threads),
                                    **thread_env(args.threads, {}))}
    child_args = ["--preset", args.preset, "--threads", str(args.threads), "--steps", str(args.steps),
                  "--warmup", str(args.warmup)]
    start, t0 = ab.machine(), time.perf_counter()

    def progress(r: int, last: dict) -> None:
        print(f"  round {r + 1}: spin {1e3 * last['spin']['step_s']:.0f} ms/step, passive "
              f"{1e3 * last['passive']['step_s']:.0f} ms/step; ratio "
              f"{last['passive']['step_s'] / last['spin']['step_s']:.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    results = ab.interleave(VARIANTS, lambda name: ab.run_child(MODULE, name, child_args, envs[name]), args.rounds,
                            progress)
    hashes = {r["sha256"] for rs in results.values() for r in rs}
    return {"benchmark": "thread_wait", "compare": list(VARIANTS), "preset": args.preset, "threads": args.threads,
            "rounds": args.rounds, "steps": args.steps, "warmup": args.warmup,
            "passive_env": {k: v for k, v in envs["passive"].items() if k in WAIT_POLICY_VARS},
            "machine_before": start, "machine_after": ab.machine(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "step_s": {name: [r["step_s"] for r in rs] for name, rs in results.items()},
            "ratio": ab.ratio_summary([r["step_s"] for r in results["spin"]],
                                      [r["step_s"] for r in results["passive"]]),
            "bit_identical": len(hashes) == 1, "sha256": sorted(hashes), "wall_s": round(time.perf_counter() - t0, 1)}


def report(res: dict) -> str:
    m = res["machine_before"]
    lines = [f"training step, preset {res['preset']}, {res['threads']} threads, {m['cpu']}; load average "
             f"{m['load_avg'][0]:.2f} -> {res['machine_after']['load_avg'][0]:.2f}"]
    for name in VARIANTS:
        lines.append(f"  {name:<8} median {1e3 * statistics.median(res['step_s'][name]):.0f} ms/step (rounds "
                     + " ".join(f"{1e3 * t:.0f}" for t in res["step_s"][name]) + ")")
    lines.append(f"  passive / spin: {ab.describe_ratio(res['ratio'])}; per round "
                 + " ".join(f"{r:.3f}" for r in res["ratio"]["ratios"]))
    lines.append("  parameters bit-identical across every child: " + ("yes" if res["bit_identical"] else
                                                                      f"NO ({len(res['sha256'])} different hashes)"))
    return "\n".join(lines)


def main(argv=None) -> int:
    return ab.main(parse_args(argv), child, run, report)


if __name__ == "__main__":
    sys.exit(main())
