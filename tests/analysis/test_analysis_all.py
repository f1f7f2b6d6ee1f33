"""`python -m analysis.report --all` on a fixture run tree made from the real sweep files:
regeneration is exact, the index covers every sweep with verdicts, partial sweeps say what is missing."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis.axis_figures import axis_figure, numeric_axis
from analysis.recipe import ABLATION, DIFFERS, SAME, differences
from analysis.index import duration_text
from analysis.report import main
from analysis.writer import write_all
from analysis.runs import load_runs
from core.schema.numerics import NUMERICS_VERSION
from core.schema.sweep_format import known_sweeps, load_sweep
from analysis.tables import aggregate
from tests.conftest import expanded_config, record_group

PARTIAL, ABSENT = "symmetrization", "similarity"     # one sweep half run, one not run at all


def write_fixture_run(root: Path, sweep: str, case: str, overrides: dict, seed: int, i: int, finished=True):
    d = root / sweep / f"r{i:02d}-s{seed}"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(expanded_config(load_sweep(sweep), case, seed)))
    (d / "meta.json").write_text(json.dumps({
        "sweep": sweep, "case": case, "seed": seed, "preset": "cpu", "commit": "f1x7ure", "numerics": NUMERICS_VERSION,
        "start_time": f"2024-05-0{1 + seed}T10:{i:02d}:00+00:00", "run_id": d.name, "grid": {},
        **({"cpu": "Test CPU 9000"} if seed == 1 else {}),                   # older records name no CPU
        **({"copied_from": "stopgrad/r00-s0"} if (sweep, i, seed) == ("predictor", 0, 0) else {})}))
    record_group(d, overrides)
    bad = overrides.get("model.stop_grad") is False or overrides.get("model.predictor") == "none"
    rows = [{"epoch": e / 2, "step": e * 5, "loss": (-0.2 - 0.1 * e) if not bad else -1 + 0.5 ** e,
             "z_std": 0.12 if not bad else 0.12 * 0.3 ** e, "knn_acc": 40 + i + e + seed} for e in range(9)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if finished:
        result = {"status": "collapsed" if bad else "ok", "loss": rows[-1]["loss"], "z_std": rows[-1]["z_std"],
                  "knn_acc": 60.0 + i + seed, "knn_acc_init": 30.0, "linear_acc": 70.0 + i - seed,
                  "eval": {"linear": "SGD probe", "knn_k": 200, "knn_t": 0.2},
                  "wall_s": 300.0 + 60 * seed, "device": "cpu (1 threads)"}
        (d / "result.json").write_text(json.dumps(result))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Every real sweep at preset cpu: three seeds of stopgrad, one of the rest; PARTIAL lacks its last
    case (one unfinished run instead); ABSENT has no runs. Then `--all` once."""
    tmp = tmp_path_factory.mktemp("all")
    runs, out = tmp / "runs", tmp / "reports"
    for name in known_sweeps():
        if name == ABSENT:
            continue
        sweep = load_sweep(name)
        for i, case in enumerate(sweep.cases):
            last = name == PARTIAL and i == len(sweep.cases) - 1
            for seed in ([0, 1, 2] if name == "stopgrad" else [0]):
                write_fixture_run(runs, name, case, sweep.overrides[case], seed, i, finished=not last)
    assert main(["--all", "--runs-dir", str(runs), "--out", str(out)]) == 0
    return runs, out


def _snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_deleting_the_reports_and_rerunning_gives_identical_files(tree):
    runs, out = tree
    before = _snapshot(out)
    names = ("table.md", "table.csv", "table.tex", "curves.png", "README.md")
    assert {f"stopgrad/cpu/{f}" for f in names} <= set(before)
    assert "batch_size/cpu/axis.png" in before and "output_dim/cpu/axis.png" in before and "README.md" in before
    shutil.rmtree(out)
    assert main(["--all", "--runs-dir", str(runs), "--out", str(out)]) == 0
    after = _snapshot(out)
    assert sorted(after) == sorted(before)
    assert [k for k in before if before[k] != after[k]] == []


def test_index_covers_every_sweep_with_verdicts(tree):
    _, out = tree
    index = (out / "README.md").read_text()
    assert "nothing here is written by hand" in index and "--all --runs-dir" in index
    for name in known_sweeps():
        sweep = load_sweep(name)
        assert f"## {sweep.figure}: {sweep.title}" in index, name
        if name != ABSENT:
            assert f"[{name}]({name}/cpu/README.md)" in index and f"({name}/cpu/curves.png)" in index
            page = (out / name / "cpu" / "README.md").read_text()
            assert "## The paper's claims" in page and "## Recipe differences" in page
            assert page.count("| **") + page.count("| registered: **") == len(sweep.claims)
    n_claims = sum(len(load_sweep(n).claims) for n in known_sweeps())
    assert index.count("\n| **") + index.count("\n| registered: **") == n_claims
    assert f"**{n_claims} claims, as registered:**" in index
    # the index shows the figures in the paper's order, with preset, seeds, dates and commit
    order = [index.index(f"## {load_sweep(n).figure}:") for n in ("stopgrad", "predictor", "batch_size", "output_dim")]
    assert order == sorted(order)
    assert ("preset **cpu** · seeds 0, 1, 2 · 6 finished runs · run on 2024-05-01 to 2024-05-03 · commit f1x7ure"
            in index)
    assert "Differs from the paper's recipe in: data set, training images, crop size (px), backbone" in index


def test_partial_and_absent_sweeps_report_what_is_missing(tree):
    _, out = tree
    index = (out / "README.md").read_text()
    last = load_sweep(PARTIAL).cases[-1]
    assert f"**Missing (partial sweep):** '{last}': no finished run (1 unfinished)" in index
    assert f"| {last} | missing; 1 partial | 0 |" in (out / PARTIAL / "cpu" / "table.md").read_text()
    assert "| **no data yet** | Symmetrization helps accuracy" in index       # the claim that reads the missing row
    section = index[index.index(f"## {load_sweep(ABSENT).figure}"):]
    section = section[:section.find("\n## ", 3)] if "\n## " in section[3:] else section
    assert section.startswith(f"## {load_sweep(ABSENT).figure}: {load_sweep(ABSENT).title}\n\n**Nothing to report:** "
                              f"no runs found for sweep '{ABSENT}'")
    n_claims = len(load_sweep(ABSENT).claims)
    assert section.count("| **no data yet** | ") == section.count("| no runs to report |") == n_claims
    assert not (out / ABSENT).exists()


def test_fixture_verdicts_follow_the_numbers(tree):
    _, out = tree
    page = (out / "stopgrad" / "cpu" / "README.md").read_text()
    # fixture: w/o stop-grad collapses (loss -> -1, z_std -> 0) in 3 seeds; accuracies are close (not chance)
    assert "| **reproduced** | Without stop-gradient the optimizer finds a degenerate solution" in page
    # the gap is read in the scale's own units; the fixture's untrained network (seed 0 only) scores what the
    # baseline does, so there is no gain to read the gap in: no verdict, rather than one in ImageNet points. The
    # registered test (a gap in points) is judged beside it: the claim was amended after its data
    assert ("| registered: **not reproduced (reversed)**; amended 2026-12-03: **no data yet** | With stop-gradient kNN "
            "accuracy is far above that without it") in page
    assert "the untrained network (the floor), or no baseline above its floor" in page
    batch = (out / "batch_size" / "cpu" / "README.md").read_text()
    assert ("| registered: **not testable at this scale**; amended 2026-12-03: **not testable at this scale** | "
            "From batch 256 to 2048") in batch
    # one seed elsewhere: the data cannot decide, whatever the numbers
    kstep = (out / "kstep" / "cpu" / "README.md").read_text()
    assert "| **inconclusive** | 10-step alternation is better" in kstep and "fewer than 3 seeds" in kstep


def test_recipe_differences_come_from_config_yaml(tree, tmp_path):
    runs, _ = tree
    sweep = load_sweep("batch_size")
    kinds = {s.label: s for s in differences(sweep, load_runs(runs, "batch_size"))}
    assert kinds["data set"].kind == DIFFERS and kinds["data set"].ours == "fashion_mnist"
    assert kinds["backbone"].paper == "ResNet-50" and kinds["output dim d"].ours == "512"
    assert kinds["SGD momentum"].kind == SAME
    assert kinds["batch size"].kind == ABLATION and kinds["batch size"].ours.startswith("per row: 64, 128, 256")
    assert kinds["blur probability"].kind == DIFFERS and kinds["blur probability"].ours == "0"
    old = tmp_path / "batch_size"                              # records from before a key existed
    shutil.copytree(runs / "batch_size", old)
    for p in old.glob("*/config.yaml"):
        cfg = yaml.safe_load(p.read_text())
        del cfg["augment"]["blur_p"]
        p.write_text(yaml.safe_dump(cfg))
    kinds = {s.label: s for s in differences(sweep, load_runs(tmp_path, "batch_size"))}
    assert kinds["blur probability"].ours == "(not in config.yaml)"


def test_numeric_axis_figure_marks_collapse_and_1_over_sqrt_d(tree):
    runs, _ = tree
    assert numeric_axis(load_sweep("batch_size")) == "optim.batch_size"
    assert numeric_axis(load_sweep("output_dim")) == "model.dim"
    assert numeric_axis(load_sweep("stopgrad")) is None and numeric_axis(load_sweep("kstep")) is None
    sweep = load_sweep("output_dim")
    df = load_runs(runs, "output_dim")
    df.loc[df["case"] == "512", "status"] = "collapsed"
    fig = axis_figure(aggregate(df, sweep), df, sweep, "model.dim")
    ours, paper, std = fig.axes
    assert [t.get_text() for t in paper.texts] == ["65.3", "67.2", "67.5", "68.1"]
    assert "collapsed" in [t.get_text() for t in ours.texts] and "1/√d" in [t.get_text() for t in std.texts]
    ref = [line for line in std.get_lines() if line.get_linestyle() == "--"][0]
    assert math.isclose(ref.get_ydata()[0], 1 / 16) and math.isclose(ref.get_ydata()[-1], 1 / math.sqrt(2048))
    assert ours.get_xscale() == "log"


def test_single_sweep_cli_with_default_dirs_still_works(tree, tmp_path, monkeypatch):
    runs, _ = tree
    shutil.copytree(runs / "stopgrad", tmp_path / "records" / "cpu" / "stopgrad")   # the committed records' place
    monkeypatch.chdir(tmp_path)
    assert main(["stopgrad"]) == 0
    assert sorted(p.name for p in (tmp_path / "reports" / "stopgrad" / "cpu").iterdir()) == [
        "README.md", "curves.png", "table.csv", "table.md", "table.tex"]
    assert not (tmp_path / "reports" / "README.md").exists()        # the index comes from --all only
    paths, problems = write_all(tmp_path / "records" / "cpu", tmp_path / "rep2")
    assert len(problems) == len(known_sweeps()) - 1 and (tmp_path / "rep2" / "README.md").exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_every_latex_table_compiles_with_booktabs(tree, tmp_path):
    _, out = tree
    tables = sorted(out.glob("*/*/table.tex"))
    doc = tmp_path / "tables.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\usepackage[landscape,margin=1cm]{geometry}\n"
                   "\\begin{document}\\tiny\n" + "".join(f"\\input{{{t}}}\\par\n" for t in tables)
                   + "\\end{document}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert len(tables) == len(known_sweeps()) - 1 and (tmp_path / "tables.pdf").stat().st_size > 1000


def test_the_index_states_what_the_runs_cost(tree):
    runs, out = tree
    metas = [(json.loads(p.read_text()), p.parent / "result.json") for p in runs.rglob("meta.json")]
    walls: dict[str, list[float]] = {}                                  # per CPU model named in meta.json
    for meta, result in metas:
        if result.exists() and "copied_from" not in meta:
            walls.setdefault(meta.get("cpu", "CPU model not recorded"), []).append(
                json.loads(result.read_text())["wall_s"])
    line = next(x for x in (out / "README.md").read_text().splitlines() if x.startswith("**Compute:**"))
    assert set(walls) == {"Test CPU 9000", "CPU model not recorded"}
    for cpu, ws in walls.items():
        assert f"{len(ws)} runs, {duration_text(sum(ws))} on cpu (1 threads), {cpu}" in line
    assert "1 more row is a copy of another sweep's identical run (not counted)" in line


def test_a_sweep_that_lost_its_runs_loses_its_old_page(tree, tmp_path):
    """Records re-made under new numerics may not all be there yet: the page of a sweep without runs must not
    keep showing the numbers of records that are gone, while a file the report did not write stays. So with
    pages of the layout before groups (<out>/<sweep>/README.md) and of a group no longer in the records."""
    runs, out = tree
    copy = tmp_path / "reports"
    shutil.copytree(out, copy)
    stale = copy / ABSENT
    (stale / "cpu").mkdir(parents=True)
    for name in ("README.md", "table.md", "curves.png"):
        (stale / name).write_text("old numbers")                         # the layout before groups
        (stale / "cpu" / name).write_text("old numbers")
        (copy / "stopgrad" / name).write_text("old numbers")
    (copy / "stopgrad" / "cpu_optim.base_lr=0.05").mkdir()              # a group whose runs are gone
    (copy / "stopgrad" / "cpu_optim.base_lr=0.05" / "README.md").write_text("old numbers")
    (copy / "output_dim" / "cpu" / "notes.txt").write_text("mine")
    gone = tmp_path / "runs"
    shutil.copytree(runs, gone)
    shutil.rmtree(gone / "output_dim")
    assert main(["--all", "--runs-dir", str(gone), "--out", str(copy)]) == 0
    assert not stale.exists()
    assert sorted(p.name for p in (copy / "output_dim").rglob("*")) == ["cpu", "notes.txt"]
    assert sorted(p.name for p in (copy / "stopgrad").iterdir()) == ["cpu"]
    assert "old numbers" not in (copy / "stopgrad" / "cpu" / "README.md").read_text()


def test_the_compute_line_says_how_much_old_resumed_records_under_count():
    from types import SimpleNamespace

    import pandas as pd

    from analysis.index import compute_line
    finished = pd.DataFrame([{"wall_s": 40.0, "train_s": 334.0, "device": "cpu (1 threads)", "cpu": "x"},
                             {"wall_s": 500.0, "train_s": 400.0, "device": "cpu (1 threads)", "cpu": "x"}])
    entry = SimpleNamespace(report=SimpleNamespace(finished=finished))
    line = compute_line([entry])
    assert "2 runs, 9.0 min on cpu (1 threads), x" in line
    assert "1 of these runs were resumed" in line and "under-counts them by at least 4.9 min" in line
    finished.loc[0, "wall_s"] = 400.0
    assert "resumed" not in compute_line([entry])
