"""analysis.speed: throughput records (benchmarks.throughput --json) into the index page's speed table."""
import json

from analysis.report import main
from analysis.speed import load_benchmarks, speed_section, speed_table
from benchmarks.throughput import main as bench_main
from tests.benchmarks.test_benchmark import TINY_ARGS

CPU = {"device": "cpu (2 threads); AMD EPYC, 2 cores", "time": "2026-11-23T01:35:00+00:00", "commit": "abc1234",
       "backbone": "small_resnet", "batch": 256, "precision": "fp32", "channels_last": True, "compile": False,
       "pairs_per_s": {"full": 793.4, "model_only": 823.0, "reference": 367.2},
       "epoch_s": {"full": 12.594, "model_only": 12.13, "reference": 27.19},
       "input_overhead": 1.0312, "speedup_vs_reference": 2.1608, "aug_share": 0.0249, "mfu": 0.712,
       "host_syncs_per_step": {"full": 0.2, "model_only": 0.2, "reference": 1.0},
       "aten_ops_per_step": {"augment": 180, "model": 741}}
GPU = {"device": "cuda (NVIDIA H100 80GB HBM3)", "time": "2026-11-20T09:00:00+00:00", "backbone": "resnet18",
       "batch": 512, "precision": "bf16", "channels_last": True, "compile": True,
       "pairs_per_s": {"full": 14338.0, "model_only": 21296.0}, "input_overhead": 1.49, "speedup_vs_reference": None}


def _write(d, name, obj):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))


def test_records_load_in_time_order_and_bad_files_are_problems_not_errors(tmp_path):
    _write(tmp_path, "a-cpu.json", CPU)
    _write(tmp_path, "b-gpu.json", GPU)
    _write(tmp_path, "broken.json", "{not json")
    _write(tmp_path, "other.json", {"device": "x"})
    _write(tmp_path, "scalar.json", dict(CPU, pairs_per_s=793.4))
    records, problems = load_benchmarks(tmp_path)
    assert [r["file"] for r in records] == ["b-gpu.json", "a-cpu.json"]          # 20 Nov before 23 Nov
    assert len(problems) == 3 and "broken.json" in problems[0] and "not readable" in problems[0]
    assert "other.json" in problems[1] and "pairs_per_s, input_overhead" in problems[1]
    assert "scalar.json" in problems[2] and "not a mapping" in problems[2]
    assert load_benchmarks(tmp_path / "absent") == ([], [])


def test_table_rows_show_the_measured_numbers_and_dashes_for_what_was_not_measured():
    head, rule, gpu, cpu = speed_table([dict(GPU, file="g.json"), dict(CPU, file="c.json")])
    assert head.count("|") == rule.count("|") == gpu.count("|") == cpu.count("|")
    cells = [c.strip() for c in cpu.strip("|").split("|")]
    assert cells == ["c.json", "cpu (2 threads); AMD EPYC, 2 cores", "small_resnet, batch 256, fp32, channels_last",
                     "793", "12.59", "823", "367", "1.031", "2.16x", "2.5%", "71.2%", "180 / 741", "0.2 / 1",
                     "abc1234"]
    cells = [c.strip() for c in gpu.strip("|").split("|")]
    assert cells[2] == "resnet18, batch 512, bf16, channels_last, compiled"
    step_row = speed_table([dict(GPU, file="s.json", compile_step=True)])[2]
    assert "resnet18, batch 512, bf16, channels_last, compiled step |" in step_row
    assert cells[3:] == ["14338", "-", "21296", "-", "1.490", "-", "-", "-", "- / -", "- / -", "-"]
    assert speed_table([]) == [] and speed_section([], "x") == []


def test_index_gets_the_speed_section_from_bench_dir_only(tmp_path):
    bench = tmp_path / "bench"
    _write(bench, "cpu.json", CPU)
    runs = tmp_path / "runs"
    runs.mkdir()
    assert main(["--all", "--runs-dir", str(runs), "--out", str(tmp_path / "with"), "--bench-dir", str(bench)]) == 0
    page = (tmp_path / "with" / "README.md").read_text()
    assert "## Speed" in page and "| cpu.json |" in page and f"--bench-dir {bench}" in page
    assert main(["--all", "--runs-dir", str(runs), "--out", str(tmp_path / "without")]) == 0
    assert "## Speed" not in (tmp_path / "without" / "README.md").read_text()   # own runs: no committed records


def test_the_benchmarks_own_json_is_a_record(tmp_path):
    out = tmp_path / "bench" / "tiny.json"
    assert bench_main(TINY_ARGS + ["--no-reference", "--json", str(out)]) == 0
    records, problems = load_benchmarks(out.parent)
    assert problems == [] and len(records) == 1
    row = [c.strip() for c in speed_table(records)[2].strip("|").split("|")]
    pps = json.loads(out.read_text())["pairs_per_s"]
    assert row[3] == f"{pps['full']:.0f}" and row[5] == f"{pps['model_only']:.0f}" and row[6] == "-"
    ops = json.loads(out.read_text())["aten_ops_per_step"]
    assert row[11] == f"{ops['augment']} / {ops['model']}" and ops["augment"] > 0 and ops["model"] > 0
    assert row[12] == "0.5 / -" and row[13] == records[0]["commit"]
