"""The command lines this project prints for a person to run (to resume a stopped run, to retry a failed one):
the interpreter as it was invoked, so that pasting the line runs the same code."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def python() -> str:
    """How to call this interpreter from here: 'python' when that is the one on PATH, else its path (relative
    to the working directory when it lies below it, e.g. '.venv/bin/python')."""
    exe = Path(sys.executable)
    on_path = shutil.which("python")
    if on_path and os.path.realpath(on_path) == os.path.realpath(exe):
        return "python"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def module_command(module: str, args: list[str]) -> str:
    """'.venv/bin/python -m sweeps.run stopgrad --seeds 0', quoted for a POSIX shell."""
    return " ".join([shlex.quote(python()), "-m", module, *(shlex.quote(str(a)) for a in args)])
