"""The dependency rules of docs/design.md, read from the source (every import, also those inside functions):
core imports nothing of ours outside core; analysis no torch and of core only the schema (core.schema: it reads
each run's group as its meta.json records it, never core.config); sweeps
reaches analysis only for the report at the end of a sweep (and, for now, the sweep file's report side);
benchmarks imports neither sweeps nor analysis; and no module of ours imports itself back through others."""
import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("core", "sweeps", "analysis", "benchmarks")


@dataclass(frozen=True)
class Import:
    file: str            # path relative to the repository, e.g. 'sweeps/run.py'
    module: str          # the dotted module imported (`from pkg import mod` gives 'pkg.mod' where mod is a module)
    names: tuple         # what a `from` import takes, () for a plain import
    lazy: bool           # inside a function (or class), not at module level


def _our_modules() -> set[str]:
    out = set()
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def imports(package: str) -> list[Import]:
    """Every absolute import in `package`'s files."""
    ours = _our_modules()
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        rel = str(path.relative_to(REPO))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(rel, a.name, (), id(node) not in top) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                if all(s in ours for s in subs):            # `from core import config, record`: submodules
                    found += [Import(rel, s, (), id(node) not in top) for s in subs]
                else:
                    found.append(Import(rel, node.module, tuple(a.name for a in node.names), id(node) not in top))
    return found


def _roots(package: str) -> set[str]:
    return {i.module.split(".")[0] for i in imports(package)}


def test_core_imports_nothing_from_sweeps_analysis_benchmarks_or_cluster_tools():
    assert not _roots("core") & {"sweeps", "analysis", "benchmarks", "submitit", "pandas", "seaborn", "matplotlib"}


def test_sweeps_reaches_analysis_only_for_the_report():
    into_analysis = {i for i in imports("sweeps") if i.module.split(".")[0] == "analysis"}
    assert into_analysis == {
        # the report written at the end of a sweep: one entry point, imported when it is needed
        Import("sweeps/run.py", "analysis.writer", ("write_report",), lazy=True),
        # --until-decided: the sequential rule's looks, planned on the verdicts (the runner only trains)
        Import("sweeps/run.py", "analysis.sequential", ("run_looks",), lazy=True),
    }
    assert "benchmarks" not in _roots("sweeps")


def test_benchmarks_import_neither_sweeps_nor_analysis():
    assert not _roots("benchmarks") & {"sweeps", "analysis"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph` (module -> the modules it imports), each as a path back to its start."""
    cycles, state = [], {}                   # state: 1 on the current path, 2 done

    def visit(module, path):
        state[module] = 1
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_our_modules():
    ours = _our_modules()
    graph = {m: set() for m in ours}
    for pkg in PACKAGES:
        for i in imports(pkg):
            parts = i.file[:-3].split("/")
            importer = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if i.module in ours and i.module != importer:
                graph[importer].add(i.module)
    assert _cycles(graph) == []


# ---- core's layout: begin (the rules that name core's modules) ----
# core by stage: each subpackage is one stage of a run, and imports only the stages listed for it. The schema
# (core.schema) is torch-free: the formats that core, sweeps and analysis share.
SCHEMA = "core.schema"
STAGES = {
    "schema": set(),
    "config": {"schema"},
    "runtime": {"schema", "config"},
    "data": {"schema", "config"},
    "model": {"schema", "config"},
    "optim": {"schema", "config"},
    "objective": {"schema", "config", "runtime", "optim"},
    "eval": {"schema", "config", "runtime", "data", "model", "optim"},
    "train": {"schema", "config", "runtime", "data", "model", "optim", "objective", "eval"},
}
TOP_LEVEL_FILES = 10


def _module(file: str) -> str:
    parts = file[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str | None:
    """'core.train.loop' -> 'train'; None outside core's stages."""
    parts = module.split(".")
    return parts[1] if parts[0] == "core" and len(parts) > 1 and parts[1] in STAGES else None


def _schema_modules() -> set[str]:
    return {m for m in _our_modules() if _stage(m) == "schema"}


def test_core_is_a_few_files_and_one_package_per_stage():
    entries = [p for p in (REPO / "core").iterdir() if p.name != "__pycache__"]
    packages = {p.name for p in entries if (p / "__init__.py").exists()}
    assert packages == set(STAGES)
    assert not [p.name for p in entries if p.is_dir() and p.name not in packages]
    assert len([p for p in entries if p.is_file()]) <= TOP_LEVEL_FILES


def test_each_stage_imports_only_the_stages_it_builds_on():
    bad = []
    for i in imports("core"):
        mine, theirs = _stage(_module(i.file)), _stage(i.module)
        if theirs is not None and theirs != mine and theirs not in STAGES.get(mine, set()):
            bad.append((i.file, i.module))
    assert not bad


def test_the_stages_have_an_order():
    assert _cycles(STAGES) == []


def test_no_module_name_repeats_across_our_packages():
    where: dict[str, list[str]] = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            if path.name != "__init__.py":
                where.setdefault(path.stem, []).append(str(path.relative_to(REPO)))
    assert not {name: paths for name, paths in where.items() if len(paths) > 1}


def test_analysis_imports_neither_torch_nor_core_beyond_the_schema():
    """analysis reads the record, the sweep files and each run's recorded group (core.schema), never the config
    tree: a preset or a case edited after a run was made must not regroup it."""
    assert not _roots("analysis") & {"torch", "torchvision", "sweeps", "benchmarks"}
    into_core = {(i.file, i.module) for i in imports("analysis") if i.module.split(".")[0] == "core"}
    assert {(f, m) for f, m in into_core if m not in _schema_modules()} == set()


def test_the_config_tree_imports_no_torch():
    mine = [i for i in imports("core") if _stage(_module(i.file)) == "config"]
    assert not {i.module.split(".")[0] for i in mine} & {"torch", "torchvision"}


def test_the_schema_imports_no_torch_and_nothing_of_core_outside_it():
    mine = [i for i in imports("core") if _stage(_module(i.file)) == "schema"]
    assert not {i.module.split(".")[0] for i in mine} & {"torch", "torchvision"}
    assert {i.module for i in mine if i.module.split(".")[0] == "core"} <= _schema_modules()


def test_loading_the_report_imports_no_torch_no_sweeps_and_of_core_only_the_schema():
    code = ("import sys, analysis.report; ours = {m for m in sys.modules if m.split('.')[0] in ('core', 'sweeps')}; "
            f"bad = sorted(m for m in ours if m != 'core' and not m.startswith({SCHEMA!r})); "
            "assert 'torch' not in sys.modules and not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_schema_loads_no_torch_and_nothing_else_of_core():
    code = (f"import sys; import {', '.join(sorted(_schema_modules()))}; "
            "bad = [m for m in sys.modules if m == 'torch' or "
            f"(m.startswith('core.') and not m.startswith({SCHEMA!r}))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
# ---- core's layout: end ----


def test_expanding_a_sweep_needs_no_torch():
    code = ("import sys; from sweeps.sweepfile import load_sweep; from sweeps.expand import expand; "
            "expand(load_sweep('stopgrad'), 'cpu', 'runs'); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


MAX_FUNCTION_LINES = 80


def test_no_function_of_ours_is_over_80_lines():
    long = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


# ---- analysis's order: each module imports only modules of its own layer or below ------------------------------------
# The record and the statistics; then the parts of a verdict; the verdict and the judge; what compares and what
# words it; the writer; the command line. The judge returns data; only the writer and the command line write files.
ANALYSIS_LAYERS = (
    {"stats", "verdict_words", "runs", "tables", "datasets", "collapse_lines", "curve_metrics", "table_files",
     "paper_recipe", "recipe", "speed", "figures", "axis_figures"},
    {"facts", "registry", "selection"},
    {"parts"},
    {"status_parts"},
    {"claim_tests"},
    {"verdicts"},
    {"registered", "collapse_site"},
    {"judge", "changes"},
    {"comparisons", "report_page", "sequential"},
    {"comparison_text"},
    {"index"},
    {"writer"},
    {"report"},
)


def test_analysis_modules_import_only_their_own_layer_or_below():
    layer = {m: i for i, names in enumerate(ANALYSIS_LAYERS) for m in names}
    found = {p.stem for p in (REPO / "analysis").glob("*.py") if p.stem != "__init__"}
    assert found == set(layer), f"place each analysis module in ANALYSIS_LAYERS: {sorted(found ^ set(layer))}"
    upward = [(i.file, i.module) for i in imports("analysis") if i.module.startswith("analysis.")
              and layer[i.module.split(".")[1]] > layer[Path(i.file).stem]]
    upward += [(i.file, f"analysis.{n}") for i in imports("analysis") if i.module == "analysis"
               for n in i.names if n in layer and layer[n] > layer[Path(i.file).stem]]
    assert upward == []


def test_the_judge_and_the_runner_s_looks_write_nothing():
    """analysis.judge and analysis.sequential reach neither the writer nor the command line."""
    for stem in ("judge", "sequential", "comparisons", "index"):
        mods = {i.module for i in imports("analysis") if Path(i.file).stem == stem}
        assert not mods & {"analysis.writer", "analysis.report"}, stem


def test_no_analysis_module_is_over_about_300_lines():
    long = {p.name: n for p in (REPO / "analysis").glob("*.py") if (n := len(p.read_text().splitlines())) > 320}
    assert long == {}


def test_the_tests_mirror_the_packages():
    """Every test file sits beside what it tests: tests/core/<stage>/ for a stage of core, tests/<package>/ for
    the other packages, tests/integration/ for a test that spans stages; none left flat in tests/, and each
    folder a package (so two test files may share a name in different folders)."""
    allowed = {Path("core") / stage for stage in STAGES} | {Path(p) for p in PACKAGES if p != "core"}
    allowed |= {Path("integration")}
    tests = REPO / "tests"
    placed = {p.parent.relative_to(tests) for p in tests.rglob("test_*.py")}
    assert placed <= allowed, placed - allowed
    assert not list(tests.glob("test_*.py"))
    assert all((tests / d / "__init__.py").exists() and (tests / d.parts[0] / "__init__.py").exists()
               for d in placed)
