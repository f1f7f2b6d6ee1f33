"""The dependency rules of DESIGN.md: core imports nothing of ours outside core; analysis no torch or core."""
import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _imports(package: str) -> set[str]:
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_core_imports_nothing_from_sweeps_analysis_or_cluster_tools():
    assert not _imports("core") & {"sweeps", "analysis", "submitit", "pandas", "seaborn", "matplotlib"}


def _modules(package: str) -> set[str]:
    """Full dotted names of the absolute imports in `package` ('core.record', 'torch', ...)."""
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def test_analysis_imports_neither_torch_nor_core_beyond_the_record_schema():
    assert not _imports("analysis") & {"torch", "torchvision", "sweeps"}
    assert {m for m in _modules("analysis") if m.split(".")[0] == "core"} <= {"core.record"}


def test_the_record_schema_imports_nothing_of_ours_and_no_torch():
    code = ("import sys; import core.record; "
            "assert not {'torch', 'core.config', 'yaml'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_expanding_a_sweep_needs_no_torch():
    code = ("import sys; from sweeps.sweepfile import load_sweep; from sweeps.expand import expand; "
            "expand(load_sweep('stopgrad'), 'cpu', 'runs'); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
