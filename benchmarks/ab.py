"""Before/after timing of whole processes on a shared machine: each variant runs in a fresh Python process (so
process-wide settings such as the allocator's thresholds or OpenMP's wait policy start from scratch), the
variants in turn, the order flipped every round (A B, B A, A B, ...), so neighbouring runs of the two see the same
background load; each round gives one ratio, after over before, and the report is their median with the
spread of all rounds. Used by benchmarks.knn_monitor and benchmarks.thread_wait.

A child is `python -m MODULE --child NAME ...`; it prints one JSON object as its last line of stdout.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent


def run_child(module: str, name: str, args: list[str], env: dict[str, str]) -> dict:
    """Run `python -m module --child name *args` in `env`; its last stdout line, parsed as JSON."""
    out = subprocess.run([sys.executable, "-m", module, "--child", name, *args], env=env, cwd=REPO,
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_env(drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """This process's environment without the variables in `drop`, with `extra` added, our repository importable."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def interleave(order: tuple[str, str], run: Callable[[str], dict], rounds: int,
               progress: Callable[[int, dict], None] | None = None) -> dict[str, list[dict]]:
    """`rounds` results of `run(name)` for both names of `order`, run A B, then B A, and so on."""
    results: dict[str, list[dict]] = {name: [] for name in order}
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            results[name].append(run(name))
        if progress is not None:
            progress(r, {name: res[-1] for name, res in results.items()})
    return results


def ratio_summary(before: list[float], after: list[float]) -> dict:
    """Per-round ratios after / before (below 1: after is faster), their median and their range."""
    if len(before) != len(after) or not before:
        raise ValueError("ratio_summary needs as many after times as before times, at least one")
    ratios = [a / b for a, b in zip(after, before)]
    return {"ratios": [round(r, 4) for r in ratios], "median": round(statistics.median(ratios), 4),
            "min": round(min(ratios), 4), "max": round(max(ratios), 4), "rounds": len(ratios)}


def describe_ratio(s: dict) -> str:
    """'0.58x (0.51-0.66 over 6 rounds)'."""
    return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f} over {s['rounds']} rounds)"


def machine() -> dict:
    """The CPU's name and count, and the load when asked."""
    from benchmarks.machine import cpu_pressure
    from core.schema.host import cpu_name
    return {"cpu": f"{cpu_name()}, {os.cpu_count()} cores", "load_avg": [round(x, 2) for x in os.getloadavg()],
            "cpu_pressure_avg10": cpu_pressure()}


def main(args, child: Callable, run: Callable, report: Callable) -> int:
    """The command line of an A/B benchmark: as a child, one measurement as a JSON line; else every round, the
    report, the JSON file when asked (--json), and exit 1 when the children's outputs were not bit-identical."""
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    res = run(args)
    print(report(res), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0 if res["bit_identical"] else 1
