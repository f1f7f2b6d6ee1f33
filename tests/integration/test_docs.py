"""README.md and docs/ name only what exists: every link, repository path, module, symbol, config key, command,
flag, make target and sweep they mention; every code excerpt is a real excerpt; the README stays short; and the
recipes' running example is read where the recipe says."""
from __future__ import annotations

import ast
import contextlib
import fnmatch
import functools
import importlib
import io
import re
import shlex
import tokenize
from pathlib import Path

import pytest

from core.config.hyperparameters import all_keys
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
OURS = ("core", "sweeps", "analysis", "benchmarks", "tests")
TOP = {p.name for p in REPO.iterdir() if not p.name.startswith(".") and p.name not in ("runs", "build")}
SECTIONS = {key.split(".")[0] for key in all_keys()}
# pages other branches add; a link to one is allowed while it is missing (test_pending_pages_are_still_missing)
PENDING: set[str] = set()     # pages another branch brings: their links are not checked until they arrive
# file names the docs give that are not ours: the official code's, and the one the habits forbid
NOT_OURS_FLAGS = {"--fix-pred-lr", "--lars"}   # the official main_simsiam.py's and main_lincls.py's
NOT_OURS = {"main_lincls.py", "main_simsiam.py", "builder.py", "convert-pretrain-to-detectron2.py", "utils.py"}
PLACEHOLDER = re.compile(r"<|>|\*|\.\.\.|^[A-Z][A-Z0-9_]*(\.\w+)?$")     # <sweep>, RUN_ID, OUT.json, *.yaml


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _fenced(text: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced code block."""
    return [(m.group(1), m.group(2).splitlines()) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def _prose(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _prose(text))


# ---- what exists ------------------------------------------------------------------------------------------------

def _module_file(dotted: str) -> Path | None:
    base = REPO / dotted.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _defines(tree: ast.AST, name: str) -> ast.AST | None:
    """The top-level statement of `tree` (a module or class body) that binds `name`, or None."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(getattr(t, "id", None) == name for t in targets):
            return node
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return node
    return None


def symbol_problem(dotted: str) -> str | None:
    """None if `dotted` (a module, or a module then names: core.objective.losses.simsiam_loss, a.B.method) exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:cut]))
        if path is None:
            continue
        scope: ast.AST = ast.parse(path.read_text())
        for i, name in enumerate(parts[cut:cut + 2]):          # a name in the module, then in its class
            found = _defines(scope, name) if hasattr(scope, "body") else None
            if found is None:
                return f"{'.'.join(parts[:cut + i])} defines no {name!r}"
            scope = found
        return None
    return "no such module"


def path_problem(token: str, base: Path = REPO) -> str | None:
    """None if the repository path `token` exists (a placeholder segment: the part before it; `a/b.NAME`: the
    name NAME defined in a/b.py)."""
    token = token.split("#")[0].rstrip("/")
    segments = token.split("/")
    kept = []
    for seg in segments:
        if PLACEHOLDER.search(seg):
            if "*" in seg:
                return None if list((base / "/".join(kept)).glob(seg)) else "nothing matches"
            break
        kept.append(seg)
    path = base / "/".join(kept)
    if path.exists() or not kept:
        return None
    module, _, name = "/".join(kept).rpartition(".")
    if name and (base / f"{module}.py").exists():
        return symbol_problem(f"{module.replace('/', '.')}.{name}")
    return "does not exist"


def key_problem(key: str) -> str | None:
    return None if any(fnmatch.fnmatchcase(k, key) for k in all_keys()) else "no such config key"


@functools.cache
def help_flags(module: str) -> frozenset[str]:
    """The flags `python -m module --help` lists (none for a module without an argument parser)."""
    path = _module_file(module)
    if path is None or "ArgumentParser" not in path.read_text():
        return frozenset()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        importlib.import_module(module).main(["--help"])
    return frozenset(re.findall(r"(?<![\w-])--[a-z][\w-]*", out.getvalue()))


def _all_flags() -> frozenset[str]:
    """The flags of every command of ours (a module that runs as __main__ with an argument parser)."""
    modules = [_rel(p)[:-3].replace("/", ".") for pkg in ("sweeps", "analysis", "benchmarks")
               for p in sorted((REPO / pkg).glob("*.py")) if "__main__" in p.read_text()]
    return frozenset().union(*(help_flags(m) for m in modules))


SWEEPS = {p.stem for p in (REPO / "ablations").glob("*.yaml")}
MAKE_TARGETS = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
EXTRAS = set(re.findall(r"^(\w+) = \[", (REPO / "pyproject.toml").read_text(), re.M))


def command_problems(words: list[str]) -> list[str]:
    """What a command line names that does not exist: module, flags, --set keys, sweep, make target, script."""
    if not words:
        return []
    if words[0] == "make":
        return [f"make target {t!r}" for t in words[1:] if t not in MAKE_TARGETS]
    if words[0] == "bash":
        return [f"script {words[1]}"] if path_problem(words[1]) else []
    if words[:2] == ["pip", "install"]:
        extras = [e for w in words for e in re.findall(r"\.\[([\w,]+)\]", w)]
        return [f"extra {e!r}" for group in extras for e in group.split(",") if e not in EXTRAS]
    if "-m" not in words or words[0] not in ("python", ".venv/bin/python", "torchrun"):
        return []
    module, args = words[words.index("-m") + 1], words[words.index("-m") + 2:]
    problems = [f"module {module}"] if _module_file(module) is None else []
    problems += [f"flag {w}" for w in args if w.startswith("--") and not _known_flag(w, help_flags(module))]
    problems += [f"--set key {v}" for f, v in zip(args, args[1:]) if f == "--set" and key_problem(v.split("=")[0])]
    named = [w for w in args[:1] if not w.startswith("-") and "/" not in w and not PLACEHOLDER.search(w)]
    if module in ("sweeps.run", "sweeps.status", "analysis.report") and named and named[0] not in SWEEPS:
        problems.append(f"sweep {named[0]!r}")
    return problems


def _known_flag(word: str, flags: frozenset[str]) -> bool:
    return word.split("=")[0] in flags | NOT_OURS_FLAGS


def _shell_lines(lines: list[str]) -> list[list[str]]:
    joined = "\n".join(lines).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


# ---- the checks -------------------------------------------------------------------------------------------------

COMMANDS = ("python", ".venv/bin/python", "make", "bash", "torchrun", "pip")


def span_problem(span: str) -> str | None:
    """What is wrong with an inline code span that names a path, a symbol, a config key or a file, or None
    (also for spans that name nothing of ours; commands and flags: command_span_problem)."""
    words = span.split()
    if words[0] in COMMANDS or words[0].startswith("--"):
        bad = [v for f, v in zip(words, words[1:]) if f == "--set" and key_problem(v.split("=")[0])]
        return f"--set of unknown keys {bad}" if bad else None
    if len(words) > 1 and not re.fullmatch(r"[a-z_]+\.[a-z_*]+:", words[0]):
        return None
    token = words[0].rstrip(":,")
    first = re.split(r"[/.]", token)[0]
    if "/" in token and first in TOP:
        return path_problem(token)
    if "/" not in token and first in OURS and "." in token:
        return symbol_problem(token)
    if re.fullmatch(r"[a-z_]+\.[a-z_*]+(=.*)?", token) and first in SECTIONS:
        return key_problem(token.split("=")[0])
    if re.fullmatch(r"[\w-]+\.(py|sh)", token) and token not in NOT_OURS:
        here = [p for p in REPO.rglob(token) if p.parts[len(REPO.parts)] in TOP - {"records", "reports"}]
        return None if here else "no file of that name"
    return None


def command_span_problem(span: str) -> str | None:
    """What is wrong with an inline code span that is a command or flags, or None."""
    words = shlex.split(span)
    if words[0] in COMMANDS:
        return "; ".join(command_problems(words)) or None
    if words[0].startswith("--"):
        bad = [w for w in words if w.startswith("--") and not _known_flag(w, _all_flags())]
        return f"unknown flags {bad}" if bad else None
    return None


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_link_names_a_page_that_exists(doc):
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc.read_text())):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.exists() and _rel(path) not in PENDING:
            bad.append(target)
    assert not bad, f"{_rel(doc)} links to missing files: {bad}"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_path_symbol_and_config_key_in_the_text_exists(doc):
    bad = [(span, problem) for span in _spans(doc.read_text()) if (problem := span_problem(span))]
    bad = [(span, problem) for span, problem in bad if span.rstrip("/") not in PENDING]
    assert not bad, f"{_rel(doc)}: {bad}"


@pytest.mark.slow           # imports every command, torch included, for its --help
@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_command_and_flag_exists(doc):
    text = doc.read_text()
    bad = [(span, problem) for span in _spans(text) if (problem := command_span_problem(span))]
    bad += [(words, p) for lang, lines in _fenced(text) if lang == "bash"
            for words in _shell_lines(lines) if (p := command_problems(words))]
    assert not bad, f"{_rel(doc)}: {bad}"


def _lines_of(suffix: str) -> set[str]:
    """Every line of our files of that kind, stripped, with and without its trailing comment."""
    out = set()
    for pkg in ("core", "ablations", "sweeps", "analysis", "benchmarks"):
        for path in (REPO / pkg).rglob(f"*{suffix}"):
            for line in path.read_text().splitlines():
                out |= {line.strip(), _uncommented(line)}
    return out


def _uncommented(line: str) -> str:
    """`line` stripped, without a trailing ` # comment` that lies outside double quotes."""
    for m in re.finditer(r"\s+#", line):
        if line[:m.start()].count('"') % 2 == 0:
            return line[:m.start()].strip()
    return line.strip()


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_python_and_yaml_excerpts_are_copied_from_the_code(doc):
    """A ```python or ```yaml block quotes real lines (`...` stands for lines left out); a block whose first line
    is a comment naming a file that is not ours (an example profile) is an example, not an excerpt."""
    bad = []
    for lang, lines in _fenced(doc.read_text()):
        suffix = {"python": ".py", "yaml": ".yaml"}.get(lang)
        example = lines and re.fullmatch(r"# ([\w.-]+\.yaml)", lines[0].strip())
        if suffix is None or (example and not list(REPO.rglob(example.group(1)))):
            continue
        known = _lines_of(suffix)
        bad += [line for line in lines if line.strip() not in known | {"", "...", "- ..."}]
    assert not bad, f"{_rel(doc)}: lines found in no {sorted({'.py', '.yaml'})} file: {bad}"


def test_pending_pages_are_still_missing():
    """Once another branch's page is merged, take it out of PENDING so its links are checked like the rest."""
    arrived = sorted(p for p in PENDING if (REPO / p).exists())
    assert not arrived, f"{arrived} exist now: remove them from PENDING in tests/integration/test_docs.py"


def test_the_readme_stays_short():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= 220, f"README.md has {lines} lines; move reference material to docs/"


# ---- the recipes' running example --------------------------------------------------------------------------------

def readers(field: str, section: str = "model", root: Path = REPO) -> set[str]:
    """The files of root/core that read `<section>.<field>` in code (not in strings or comments)."""
    found = set()
    for path in (root / "core").rglob("*.py"):
        with open(path, "rb") as fh:
            names = [t.string for t in tokenize.tokenize(fh.readline) if t.type in (tokenize.NAME, tokenize.OP)]
        if any(names[i:i + 3] == [section, ".", field] for i in range(len(names) - 2)):
            found.add(str(path.relative_to(root)))
    return found


def test_the_reader_finder_finds_a_read_and_ignores_strings_and_comments(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "reads.py").write_text("def f(cfg):\n    return cfg.model.stop_grad\n")
    (tmp_path / "core" / "mentions.py").write_text('"""model.stop_grad"""\nX = "model.stop_grad"  # model.stop_grad\n')
    assert readers("stop_grad", root=tmp_path) == {"core/reads.py"}


def test_the_recipe_names_every_place_where_stop_grad_is_read():
    """docs/adding-an-ablation.md says model.stop_grad is read once, in the objective, and checked in one rule."""
    read_in = {"core/objective/objectives.py", "core/config/method_rules.py"}
    assert readers("stop_grad") == read_in
    guide = (REPO / "docs" / "adding-an-ablation.md").read_text()
    assert all(f"`{path}`" in guide for path in read_in)


@pytest.mark.parametrize("doc", ["README.md", "docs/results.md"])
def test_every_verdict_count_in_the_docs_is_the_indexs(doc):
    """The counts of verdicts a doc states sit in a marked block copied from the committed index
    (reports/README.md): its headline of registered verdicts and its amendments line, word for word."""
    import re
    text = (REPO / doc).read_text()
    block = re.search(r"<!-- verdict-counts:begin[^>]*-->\n(.*?)\n<!-- verdict-counts:end -->", text, re.S)
    assert block, f"{doc}: no verdict-counts block"
    index = (REPO / "reports" / "README.md").read_text().split("\n")
    head = next(line for line in index if "as registered:**" in line)
    amendments = next(line for line in index if line.startswith("**Amendments:**"))
    assert block.group(1) == f"{head}\n\n{amendments}"
    outside = text.replace(block.group(0), "")
    assert not re.search(r"\b\d+ (reproduced|not reproduced|inconclusive)\b", outside), \
        f"{doc}: a count of verdicts outside the block"
