"""With only the `test` extra installed (no `live`, no `wandb`), a test that needs an optional extra skips and the
rest pass: the tests that touch TensorBoard or W&B are run here once more with both packages hidden from import."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

EXTRAS = ("tensorboard", "wandb")          # pyproject.toml: the `live` and `wandb` extras


@pytest.mark.slow
def test_the_tests_of_the_optional_extras_skip_without_them(tmp_path):
    (tmp_path / "without_extras.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None   # import {name} fails, find_spec finds none\n"
                                 for name in EXTRAS))
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
                   if p.name != "test_optional_extras.py" and any(e in p.read_text() for e in EXTRAS))
    assert "tests/core/runtime/test_live_log_wandb.py" in files
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "without_extras", "-p", "no:randomly",
                           "-m", "not slow and not cluster", *files], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert " failed" not in proc.stdout and " skipped" in proc.stdout
