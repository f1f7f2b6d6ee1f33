"""Tests for the analysis package: a hand-written run tree in tmp_path (configs from the real expansion), no torch."""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.figures import curves_figure, line_label
from analysis.writer import write_report
from analysis.runs import load_curves, load_runs, resolve_duplicates
from analysis.selection import ReportError
from core.schema.numerics import NUMERICS_VERSION
from core.schema.sweep_format import Sweep, load_sweep
from analysis.tables import aggregate, format_mean_std, status_summary
from tests.conftest import expanded_config, record_group

REPO = Path(__file__).resolve().parents[2]
A, B, C = "w/ stop-grad", "w/o stop-grad", "pred lr 100% & bs_512"
SWEEP = {
    "figure": "Figure 2", "title": "Toy: with vs. without stop-gradient",
    "metrics": ["knn_acc", "linear_acc", "z_std", "loss"], "seeds": [0, 1, 2],
    "cases": {A: {"optim.pred_lr": "cosine"}, B: {"model.stop_grad": False}, C: {"optim.base_lr": 0.1}},
    "paper_metric": "ImageNet linear top-1 (%), ResNet-50, 100 ep",
    "paper": {A: "67.7 ± 0.1", B: 0.1, C: "unstable"},
}
# (run_id, case, seed, preset, start hour, result or None, grid)
KNN_A, LIN_A = [60.0, 62.0, 64.0], [70.0, 71.0, 75.0]


def _result(status, knn, lin, z_std, loss):
    return {"status": status, "loss": loss, "z_std": z_std, "knn_acc": knn, "knn_acc_init": 9.0,
            "linear_acc": lin, "wall_s": 12.0, "epochs": 4, "eval": {"knn_k": 200, "knn_t": 0.2}}


def write_run(root: Path, sweep: str, run_id: str, case: str, seed: int, preset: str, hour: int,
              result: dict | None, grid: dict | None = None, torn: bool = False, collapse: bool = False):
    """A run of `case` (of SWEEP, or a case without overrides) at the cpu preset's config, whatever `preset` says."""
    d = root / sweep / run_id
    d.mkdir(parents=True)
    cases = SWEEP["cases"] if case in SWEEP["cases"] else {case: {}}
    toy = Sweep(sweep, root / f"{sweep}.yaml", list(cases), cases, grid={k: [v] for k, v in (grid or {}).items()})
    (d / "config.yaml").write_text(yaml.safe_dump(expanded_config(toy, case, seed, grid=grid)))
    meta = {"sweep": sweep, "case": case, "seed": seed, "preset": preset, "commit": f"abc{seed}-dirty",
            "start_time": f"2024-05-01T{hour:02d}:00:00+00:00", "run_id": run_id, "grid": grid or {},
            "numerics": NUMERICS_VERSION}
    (d / "meta.json").write_text(json.dumps(meta))
    record_group(d, cases[case])
    lines = []
    for i in range(17):
        ep = i / 4
        loss = -1.0 + 0.9 * math.exp(-3 * ep) if collapse else -0.2 - 0.7 * (1 - math.exp(-ep)) - 0.01 * seed
        z = 0.125 * math.exp(-4 * ep) if collapse else 0.11 + 0.002 * seed
        row = {"epoch": ep, "step": i * 10, "loss": loss, "z_std": z, "lr": 0.05}
        if ep >= 1 and ep == int(ep):
            row["knn_acc"] = (12.0 if collapse else 40 + 5 * ep + seed)
        lines.append(json.dumps(row))
    text = "\n".join(lines) + "\n"
    if torn:
        text += '{"epoch": 4.25, "step": 17'          # killed mid-write
    (d / "metrics.jsonl").write_text(text)
    if result is not None:
        (d / "result.json").write_text(json.dumps(result))
    return d


@pytest.fixture
def tree(tmp_path):
    """runs/toy: case A x 3 seeds (+ an older duplicate of seed 0, + a gpu-preset run),
    case B: 1 collapsed seed + 1 unfinished seed with a torn line; case C: no runs."""
    runs = tmp_path / "runs"
    for seed, (knn, lin) in enumerate(zip(KNN_A, LIN_A)):
        write_run(runs, "toy", f"a-s{seed}-new", A, seed, "cpu", 10 + seed, _result("ok", knn, lin, 0.11, -0.9),
                  torn=(seed == 2))
    # older duplicate of (A, seed 0); its name sorts after the newer one so "last read wins" would fail
    write_run(runs, "toy", "a-s0-old", A, 0, "cpu", 5, _result("ok", 10.0, 10.0, 0.11, -0.9))
    write_run(runs, "toy", "a-gpu", A, 0, "gpu", 1, _result("ok", 99.0, 99.0, 0.11, -0.9))
    write_run(runs, "toy", "b-s0", B, 0, "cpu", 14, _result("collapsed", 12.5, 11.0, 1e-5, -1.0), collapse=True)
    write_run(runs, "toy", "b-s1", B, 1, "cpu", 15, None, torn=True, collapse=True)
    (runs / "toy" / "empty-dir").mkdir()                             # not a run: skipped
    (runs / "toy" / "no-meta").mkdir()                               # a run dir whose meta.json is lost
    (runs / "toy" / "no-meta" / "config.yaml").write_text("model: {dim: 64}\n")
    sweep_file = tmp_path / "toy.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP, sort_keys=False, allow_unicode=True))
    return tmp_path, runs, sweep_file


def _table(runs, sweep_file, preset="cpu"):
    sweep = load_sweep(sweep_file)
    df = load_runs(runs, "toy")
    df, notes = resolve_duplicates(df[df["preset"] == preset])
    return aggregate(df, sweep).set_index("case", drop=False), notes


def test_load_runs_and_curves_tolerate_unfinished_and_torn(tree):
    _, runs, _ = tree
    df = load_runs(runs, "toy").set_index("run_id")
    assert len(df) == 8 and "empty-dir" not in df.index and pd.isna(df.loc["no-meta", "case"])
    assert df.loc["b-s1", "status"] == "unfinished" and pd.isna(df.loc["b-s1", "knn_acc"])
    assert df.loc["b-s0", "status"] == "collapsed" and df.loc["b-s0", "dim"] == 512
    assert df.loc["a-s1-new", "knn_acc"] == 62.0 and df.loc["a-s1-new", "commit"] == "abc1-dirty"
    curves = load_curves(runs, "toy")
    assert set(curves["run_id"]) == set(df.index) - {"no-meta"}          # it has no metrics.jsonl
    assert (curves.groupby("run_id").size() == 17).all()          # torn lines skipped, rest kept
    assert curves.loc[curves["run_id"] == "b-s1", "case"].iloc[0] == B
    assert load_runs(runs, "nothing_here").empty and load_curves(runs, "nothing_here").empty


def test_table_rows_stats_status_and_paper(tree):
    _, runs, sweep_file = tree
    t, notes = _table(runs, sweep_file)
    assert list(t["case"]) == [A, B, C]                              # sweep-file order
    a = t.loc[A]
    assert (a["knn_acc_mean"], a["knn_acc_std"], a["n"]) == (62.0, 2.0, 3)
    assert a["linear_acc_mean"] == pytest.approx(statistics.mean(LIN_A))
    assert a["linear_acc_std"] == pytest.approx(statistics.stdev(LIN_A))
    assert a["status"] == "ok" and a["paper"] == "67.7 ± 0.1" and a["paper_value"] == 67.7
    b = t.loc[B]                                                     # unfinished seed not counted
    assert b["n"] == 1 and b["knn_acc_mean"] == 12.5 and math.isnan(b["knn_acc_std"])
    assert b["status"] == "collapsed; 1 partial" and b["paper_value"] == 0.1     # sweeps.status's word
    c = t.loc[C]
    assert c["status"] == "missing" and c["n"] == 0 and math.isnan(c["knn_acc_mean"])
    assert c["paper"] == "unstable" and pd.isna(c["paper_value"])
    # the duplicate (A, seed 0) resolves to the newest start_time and is noted
    assert "a-s0-new" in a["run_ids"] and "a-s0-old" not in a["run_ids"]
    assert len(notes) == 1 and "a-s0-new" in notes[0] and "a-s0-old" in notes[0]


def test_formatting_and_status_summary():
    assert format_mean_std(62.0, 2.0, "knn_acc") == "62.0 ± 2.0"
    assert format_mean_std(67.54, float("nan"), "linear_acc") == "67.5"
    assert format_mean_std(float("nan"), float("nan"), "knn_acc") == ""
    assert format_mean_std(-0.9123, 0.0042, "loss") == "-0.912 ± 0.004"
    assert status_summary(["ok", "collapsed", "ok"]) == "2 ok, 1 collapsed"
    assert status_summary(["diverged"]) == "diverged" and status_summary([]) == "missing"


def test_grid_rows_follow_case_then_grid_order(tmp_path):
    runs = tmp_path / "runs"
    spec = {"figure": "Table 9", "title": "grid", "cases": {"x": {}, "y": {}}, "grid": {"optim.batch_size": [256, 512]},
            "metrics": ["knn_acc"]}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(spec))
    for case, bs, knn in [("y", 512, 1.0), ("x", 512, 2.0), ("x", 256, 3.0), ("x", 256, 5.0)]:
        write_run(runs, "g", f"{case}-{bs}-{knn}", case, int(knn), "cpu", int(knn),
                  _result("ok", knn, knn, 0.1, -0.9), grid={"optim.batch_size": bs})
    t = aggregate(load_runs(runs, "g"), load_sweep(tmp_path / "g.yaml"))
    assert list(zip(t["case"], t["optim.batch_size"])) == [("x", 256), ("x", 512), ("y", 256), ("y", 512)]
    assert list(t["knn_acc_mean"].fillna(-1)) == [4.0, 2.0, -1, 1.0]
    assert list(t["status"]) == ["ok", "ok", "missing", "ok"]


def test_write_report_files(tree):
    tmp, runs, sweep_file = tree
    paths = write_report(sweep_file, runs, tmp / "reports")
    assert [p.name for p in paths] == ["table.md", "table.csv", "table.tex", "curves.png", "README.md"]
    assert all(p.parent == tmp / "reports" / "toy" / "cpu" for p in paths)           # <out>/<sweep>/<group>/
    md = paths[0].read_text()
    assert "# Figure 2: Toy: with vs. without stop-gradient" in md
    for text in ("**Group:** cpu:", "abc0-dirty, abc1-dirty, abc2-dirty", "ImageNet linear top-1 (%)",
                 "**Shared by every row:** preset cpu; data set fashion_mnist; 10000 training images; 28 px; "
                 f"10 epochs; batch 256; base lr 1.5; numerics v{NUMERICS_VERSION}",
                 "other groups in", "'gpu' (1 run)", "kept the newest", "unfinished, not counted",
                 "without a readable meta.json: no-meta"):
        assert text in md, text
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| case | status | n | kNN acc (%) |") and rows[0].endswith("| paper |")
    assert rows[1].startswith(f"| {A} | ok | 3 | 62.0 ± 2.0 | {statistics.mean(LIN_A):.1f} ± ")
    assert rows[1].endswith("| 67.7 ± 0.1 |")
    assert rows[2].startswith(f"| {B} | collapsed; 1 partial | 1 | 12.5 | 11.0 | 1.00e-05 | -1.000 |")
    assert rows[3].startswith(f"| {C} | missing | 0 |  |") and rows[3].endswith("| unstable |")

    csv = pd.read_csv(paths[1]).set_index("case")
    assert csv.loc[A, ["knn_acc_mean", "knn_acc_std", "knn_acc_n"]].tolist() == [62.0, 2.0, 3]
    assert math.isnan(csv.loc[B, "knn_acc_std"]) and csv.loc[C, "n"] == 0
    assert csv.loc[B, "paper_value"] == 0.1

    tex = paths[2].read_text()
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    assert body[0].startswith(r"\begin{tabular}{") and body[-1] == r"\end{tabular}"
    assert body.index(r"\toprule") < body.index(r"\midrule") < body.index(r"\bottomrule")
    assert r"pred lr 100\% \& bs\_512" in tex and r"62.0 $\pm$ 2.0" in tex and "±" not in "".join(body)
    assert "& -0.900" not in tex and r"& $-$1.000 & 0.1 \\" in tex          # math minus, not a hyphen
    ncols = len(body[0].split("}{")[1].rstrip("}"))
    for line in body[2:2 + 1] + body[4:4 + 3]:                         # header + 3 data rows
        assert line.replace(r"\&", "").count("&") == ncols - 1 and line.endswith(r"\\")

    png = paths[3].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    width = int.from_bytes(png[16:20], "big")
    assert 1000 < width < 2000                                         # ~9 in at 150 dpi


def test_a_sweep_without_paper_numbers_has_no_paper_column(tree):
    tmp, runs, sweep_file = tree
    reference = {k: v for k, v in SWEEP.items() if k not in ("paper", "paper_metric")}
    sweep_file.write_text(yaml.safe_dump(reference, sort_keys=False, allow_unicode=True))
    md, _, tex = (p.read_text() for p in write_report(sweep_file, runs, tmp / "reports")[:3])
    head = next(line for line in md.splitlines() if line.startswith("| case"))
    assert head.endswith("| loss |") and "paper" not in head
    row = next(line for line in md.splitlines() if line.startswith(f"| {A} |"))
    assert row.count("|") == head.count("|")
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    spec = body[0].split("}{")[1].rstrip("}")
    assert spec == "llrrrrr"                           # case, status (text); n and the 4 metrics, no paper
    assert body[2].count("&") == len(spec) - 1 and "paper" not in body[2]


def test_report_preset_option(tree):
    tmp, runs, sweep_file = tree
    md = write_report(sweep_file, runs, tmp / "out", preset="gpu")[0].read_text()
    assert f"| {A} | ok | 1 | 99.0 |" in md and "**Group:** gpu:" in md and "preset gpu;" in md
    with pytest.raises(ReportError, match="presets found: cpu, gpu"):
        write_report(sweep_file, runs, tmp / "out", preset="tpu")


def test_figure_legend_marks_collapse_and_reference_lines(tree):
    _, runs, _ = tree
    df = load_runs(runs, "toy")
    df = df[(df["preset"] == "cpu") & (df["run_id"] != "a-s0-old")]
    fig = curves_figure(load_curves(runs, "toy", list(df["run_id"])), df, [(A, ""), (B, ""), (C, "")])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [A, f"{B} (collapsed)"]                  # C has no runs: no line
    loss_ax, std_ax, knn_ax = fig.axes
    assert loss_ax.get_ylim()[0] == -1.0
    assert any(t.get_text() == "1/√d" for t in std_ax.texts)
    assert any(abs(line.get_ydata()[0] - 1 / math.sqrt(512)) < 1e-12 for line in std_ax.get_lines())
    assert any(t.get_text() == "chance (10%)" for t in knn_ax.texts)
    a_knn = knn_ax.get_lines()[0]
    assert a_knn.get_xdata()[0] == 0.0 and a_knn.get_ydata()[0] == 9.0   # knn_acc_init at epoch 0
    assert line_label(B, "", ["collapsed"]) == f"{B} (collapsed)"
    assert line_label(B, "", ["unfinished"]) == f"{B} (partial)"
    assert line_label(B, "bs=256", ["ok", "diverged", "ok"]) == f"{B}, bs=256 (1 of 3 diverged)"


def _cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "analysis.report", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_errors_are_one_line(tree, tmp_path):
    _, runs, sweep_file = tree
    r = _cli("no_such_sweep_xyz", "--runs-dir", runs)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "unknown sweep 'no_such_sweep_xyz'" in r.stderr and "known sweeps" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty_runs"
    empty.mkdir()
    r = _cli(sweep_file, "--runs-dir", empty, "--out", tmp_path / "rep")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert str(empty / "toy") in r.stderr and "python -m sweeps.run toy" in r.stderr
    assert not (tmp_path / "rep" / "toy").exists()


def test_cli_success_prints_paths_and_table(tree):
    tmp, runs, sweep_file = tree
    r = _cli(sweep_file, "--runs-dir", runs, "--out", tmp / "rep")
    assert r.returncode == 0, r.stderr
    assert f"wrote {tmp / 'rep' / 'toy' / 'cpu' / 'curves.png'}" in r.stdout and "| 62.0 ± 2.0 |" in r.stdout
