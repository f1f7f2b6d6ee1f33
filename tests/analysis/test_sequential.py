"""Seeds until decided (analysis.sequential): which rows get seeds at each look, and the loop that adds them,
on a toy sweep whose per-seed numbers are written by hand."""
from __future__ import annotations

import json

import yaml

from core.schema.numerics import NUMERICS_VERSION
from core.schema.sweep_format import load_sweep
from tests.conftest import expanded_config, record_group
from analysis.sequential import next_look, plan_look, run_looks, seeds_for, look_now

# 'a' - 'b' linear accuracy per seed: noisy in the first three, steady at +1 after: undecided at 3 and 6 seeds,
# decided at 10 (the third look; every look judged at the Bonferroni level over the three).
DIFF = {0: 2.5, 1: -0.5, 2: 1.0, **{s: 1.0 for s in range(3, 10)}}


def _sweep(tmp_path, margin=0.0):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({
        "figure": "Toy", "title": "a toy", "seeds": [0, 1, 2],
        "cases": {"a": {}, "b": {"model.stop_grad": False}, "c": {"model.predictor": "none"}},
        "claims": [{"paper": "a beats b (Sec. 0)", "reading": "r", "test": "exceeds", "case": "a", "other": "b",
                    "metric": "linear_acc", "margin": margin},
                   {"paper": "a beats c by far (Sec. 0)", "reading": "r", "test": "exceeds", "case": "a",
                    "other": "c", "metric": "linear_acc", "margin": 5}]}))
    return load_sweep(str(path))


def _write(runs, case: str, seed: int, sweep=None):
    d = runs / "toy" / f"{case}-s{seed}"
    d.mkdir(parents=True)
    value = {"a": 70.0 + seed, "b": 70.0 + seed - DIFF[seed], "c": 40.0 + seed}[case]
    config = expanded_config(load_sweep(str(runs.parent / "toy.yaml")), case, seed)
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    (d / "meta.json").write_text(json.dumps({"sweep": "toy", "case": case, "seed": seed, "preset": "cpu",
                                             "run_id": d.name, "grid": {}, "numerics": NUMERICS_VERSION,
                                             "start_time": f"2024-05-01T10:{seed:02d}:00+00:00"}))
    record_group(d, load_sweep(str(runs.parent / "toy.yaml")).overrides[case])
    (d / "result.json").write_text(json.dumps({"status": "ok", "linear_acc": value, "z_std": 0.1, "loss": -0.9}))


def _trainer(runs, calls):
    def train(name, cases, seeds):
        calls.append((name, tuple(cases or ()), tuple(seeds)))
        for case in cases:
            for s in seeds:
                if not (runs / "toy" / f"{case}-s{s}").exists():
                    _write(runs, case, s)
    return train


def test_the_looks_and_the_seeds_they_add():
    assert [next_look(n, 10) for n in (0, 2, 3, 5, 6, 9, 10)] == [3, 3, 6, 6, 10, 10, None]
    assert next_look(3, 6) == 6 and next_look(6, 6) is None and next_look(3, 4) == 4
    assert seeds_for({0, 1, 2}, 6) == (0, 1, 2, 3, 4, 5)
    assert seeds_for({0, 2, 7}, 5) == (0, 1, 2, 3, 7)


def test_only_the_rows_of_an_open_claim_get_seeds(tmp_path):
    sweep, runs = _sweep(tmp_path), tmp_path / "runs"
    for case in ("a", "b", "c"):
        for s in (0, 1, 2):
            _write(runs, case, s)
    look, verdicts = look_now(sweep, runs, "cpu", 0.95, max_seeds=10)
    assert [v.verdict for v in verdicts] == ["inconclusive", "reproduced"]     # a - c is 30 points, every seed
    assert look.seeds == {"a": (0, 1, 2, 3, 4, 5), "b": (0, 1, 2, 3, 4, 5)} and look.floor_seeds == ()
    assert [v.claim.paper for v in look.open_claims] == ["a beats b (Sec. 0)"]
    capped = plan_look(verdicts, _runs(sweep, runs), max_seeds=3)
    assert capped.seeds == {} and len(capped.stuck) == 1


def _runs(sweep, runs):
    from analysis.judge import judge_sweep
    return judge_sweep(sweep, runs, "cpu")[1]


def test_seeds_are_added_look_by_look_until_the_claim_is_decided(tmp_path):
    sweep, runs, calls = _sweep(tmp_path), tmp_path / "runs", []
    for case in ("a", "b", "c"):
        for s in (0, 1, 2):
            _write(runs, case, s)
    lines = run_looks(sweep, runs, "cpu", 0.95, 10, _trainer(runs, calls))
    assert calls == [("toy", ("a", "b"), (0, 1, 2, 3, 4, 5)), ("toy", ("a", "b"), tuple(range(10)))]
    assert lines[0] == "until decided (looks at 3, 6, 10 seeds, at most 10; 95% overall, 98.3% at every look):"
    assert "reproduced with 10 seeds: a beats b (Sec. 0)" in "\n".join(lines)
    assert not (runs / "toy" / "c-s3").exists()                                  # the decided claim's row


def test_a_claim_still_open_at_max_seeds_says_what_a_decision_would_need(tmp_path):
    sweep, runs, calls = _sweep(tmp_path), tmp_path / "runs", []
    for case in ("a", "b", "c"):
        for s in (0, 1, 2):
            _write(runs, case, s)
    lines = run_looks(sweep, runs, "cpu", 0.95, 6, _trainer(runs, calls))
    assert calls == [("toy", ("a", "b"), (0, 1, 2, 3, 4, 5))]
    text = "\n".join(lines)
    assert "undecided with 6 seeds (a decision would need about " in text
    assert "seeds a row at the observed spread): a beats b" in text


def test_until_decided_trains_what_each_look_asks_through_the_runner(tmp_path, monkeypatch):
    """sweeps.run --until-decided: each look's seeds become a run of the runner with the same options, the
    sweep's name replaced by the sweep to train (the floor's, or the rows' with --cases), never a report."""
    import analysis.sequential
    import sweeps.run as run
    asked, seen = [], []

    def fake_looks(sweep, runs_dir, preset, level, max_seeds, train):
        asked.append((sweep.name, preset, level, max_seeds))
        train("random_network", None, (0, 1, 2, 3, 4, 5))
        train("stopgrad", ["w/ stop-grad", "w/o stop-grad"], (0, 1, 2, 3, 4, 5))
        return ["until decided (looks at 3, 6, 10 seeds)", "  reproduced with 6 seeds: a claim"]

    real_main = run.main
    monkeypatch.setattr(analysis.sequential, "run_looks", fake_looks)
    monkeypatch.setattr(run, "finish", lambda args, sweep, specs: 0)

    def fake_main(argv=None):
        if "--until-decided" in argv:
            return real_main(argv)
        seen.append(argv)
        return 0
    monkeypatch.setattr(run, "main", fake_main)
    argv = ["--preset", "cpu", "stopgrad", "--runs-dir", str(tmp_path), "--until-decided", "--max-seeds", "6",
            "--jobs", "2"]
    assert real_main(argv) == 0
    assert asked == [("stopgrad", "cpu", None, 6)]
    assert seen[0] == ["random_network", "--preset", "cpu", "--runs-dir", str(tmp_path), "--jobs", "2",
                       "--seeds", "0", "1", "2", "3", "4", "5", "--no-report"]
    assert seen[1][:1] == ["stopgrad"] and seen[1][-3:] == ["--cases", "w/ stop-grad", "w/o stop-grad"]
    assert "--until-decided" not in seen[1] and "--max-seeds" not in seen[1]
