"""The report and sweeps.status read a run's state from the same place (core.schema.record) and say it with the same
word: a run stopped before its end is 'partial' in both, not 'running' in the report; and a report of another runs
directory never goes into the committed reports/ (analysis.report's command line)."""
import json

import yaml

from analysis.report import main as report_main
from analysis.runs import load_runs
from analysis.tables import aggregate, status_summary
from core.schema.sweep_format import load_sweep
from sweeps.status import local_state
from tests.conftest import expanded_config, record_group


def _run(root, sweep, case, seed, finished):
    d = root / sweep / f"{'wo' if 'w/o' in case else 'w'}-s{seed}"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(expanded_config(load_sweep(sweep), case, seed)))
    (d / "meta.json").write_text(json.dumps({"sweep": sweep, "case": case, "seed": seed, "preset": "cpu",
                                             "run_id": d.name, "grid": {}, "numerics": 2,
                                             "start_time": f"2024-05-01T10:0{seed}:00+00:00"}))
    (d / "metrics.jsonl").write_text(json.dumps({"epoch": 0.5, "step": 5, "loss": -0.3, "z_std": 0.1}) + "\n")
    if finished:
        (d / "result.json").write_text(json.dumps({"status": "ok", "knn_acc": 60.0, "linear_acc": 70.0,
                                                   "z_std": 0.1, "loss": -0.9}))
    record_group(d, load_sweep(sweep).overrides[case])        # as the sweep records it when it creates the run
    return d


def test_an_interrupted_run_is_partial_in_the_status_and_in_the_report(tmp_path):
    sweep = load_sweep("stopgrad")
    done = _run(tmp_path, "stopgrad", "w/ stop-grad", 0, finished=True)
    stopped = _run(tmp_path, "stopgrad", "w/o stop-grad", 0, finished=False)
    state, _ = local_state(stopped)
    assert local_state(done)[0].value == "done" and state.value == "partial"
    table = aggregate(load_runs(tmp_path, "stopgrad"), sweep).set_index("case")
    assert table.loc["w/o stop-grad", "status"] == f"missing; 1 {state.value}"
    assert table.loc["w/ stop-grad", "status"] == "ok"
    assert status_summary(["ok"], ["partial", "new", "partial"]) == "ok; 1 new, 2 partial"


def test_a_report_of_another_runs_directory_goes_beside_it_not_into_the_committed_reports(tmp_path, monkeypatch):
    for case in load_sweep("stopgrad").cases:
        for seed in (0, 1, 2):
            _run(tmp_path / "mine", "stopgrad", case, seed, finished=True)
    committed = tmp_path / "reports" / "stopgrad" / "cpu"
    committed.mkdir(parents=True)
    (committed / "table.md").write_text("the committed table\n")
    monkeypatch.chdir(tmp_path)                                  # the repository's root, as the command runs there
    assert report_main(["stopgrad", "--runs-dir", "mine"]) == 0
    assert (committed / "table.md").read_text() == "the committed table\n"
    assert sorted(p.name for p in committed.iterdir()) == ["table.md"]
    assert (tmp_path / "mine" / "reports" / "stopgrad" / "cpu" / "table.md").exists()


def test_a_report_that_would_land_in_the_committed_reports_or_records_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "records" / "cpu_full").mkdir(parents=True)
    for runs in (".", "records/cpu_full"):
        assert report_main(["stopgrad", "--runs-dir", runs]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: the report of --runs-dir ") and "name its folder with --out" in err
        assert err.count("\n") == 1
    assert not (tmp_path / "reports").exists() and not (tmp_path / "records" / "cpu_full" / "reports").exists()
    (tmp_path / "afile").write_text("x")
    assert report_main(["stopgrad", "--runs-dir", "records/cpu_full", "--out", "afile"]) == 2
    assert capsys.readouterr().err == "error: --out afile is not a directory\n"
