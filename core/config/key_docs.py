"""The documentation of every config key, read from the one place it is written: the comment beside each field
in core/config/hyperparameters.py (and its continuation lines, `#` followed by spaces, under it; a field with no
comment of its
own takes the comment block above it). `python -m sweeps.run --list-keys [PREFIX]` prints it.

Each key gets its type, its default, the paper sections its comment cites (Sec., Table, Fig., App., Eq.) and the
comment itself; a field marked identity False is not part of the run id."""
from __future__ import annotations

import ast
import dataclasses
import io
import re
import tokenize
import typing
from dataclasses import dataclass
from pathlib import Path

from core.config import hyperparameters as C

CITATION = re.compile(r"\b(?:Sec\.|Table|Fig\.|App\.|Eq\.|footnote)\s?\d*[\d.]*[A-Z]?(?:\s?\([a-d]\)|[a-d]\b)?")


@dataclass(frozen=True)
class KeyDoc:
    key: str                 # 'model.stop_grad'
    type: str                # 'bool', 'int', 'float', 'str' or 'one of a | b | c'
    default: object
    cites: tuple[str, ...]   # ('Sec. 4.1', 'Fig. 2')
    doc: str                 # the comment
    identity: bool           # part of the run id when it differs from its default


def _comments(source: str) -> dict[int, tuple[bool, str]]:
    """{line: (whether the comment is all the line holds, its text after '#')} of every comment in `source`."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = (tok.line.strip().startswith("#"), tok.string[1:])
    return out


def _is_continuation(text: str) -> bool:
    return text.startswith("    ")               # '#                                 more of the comment above'


def _field_lines(source: str) -> dict[str, dict[str, tuple[int, int]]]:
    """{class name: {field: (first line, last line)}} of the dataclasses in `source`."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {f.target.id: (f.lineno, f.end_lineno) for f in node.body
                              if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)}
    return out


def _doc(comments: dict, first: int, last: int, fields_start: set[int]) -> str:
    """The comment block right above the field (a group's heading), then its own comment and continuations."""
    own = [comments[n][1].strip() for n in range(first, last + 1) if n in comments]
    n = last + 1
    while n in comments and comments[n][0] and _is_continuation(comments[n][1]) and n not in fields_start:
        own.append(comments[n][1].strip())
        n += 1
    above, n = [], first - 1
    while n in comments and comments[n][0] and not _is_continuation(comments[n][1]):
        above.insert(0, comments[n][1].strip())
        n -= 1
    head = " ".join(above)
    return f"{head}{'' if not head or head.endswith('.') else '.'} {' '.join(own)}".strip() if own else head


def _type_text(ftype) -> str:
    if typing.get_origin(ftype) is typing.Literal:
        return "one of " + " | ".join(str(c) for c in typing.get_args(ftype))
    return getattr(ftype, "__name__", str(ftype))


def key_docs(prefix: str = "") -> list[KeyDoc]:
    """Every config key starting with `prefix`, in the order of core/config/hyperparameters.py."""
    source = Path(C.__file__).read_text()
    comments, lines = _comments(source), _field_lines(source)
    out = []
    for sec in dataclasses.fields(C.Config):
        owner = type(getattr(C.Config(), sec.name))
        hints = typing.get_type_hints(owner)
        spans = lines[owner.__name__]
        starts = {a for a, _ in spans.values()}
        for f in dataclasses.fields(owner):
            key = f"{sec.name}.{f.name}"
            if not key.startswith(prefix):
                continue
            doc = _doc(comments, *spans[f.name], starts)
            out.append(KeyDoc(key, _type_text(hints[f.name]), f.default, tuple(dict.fromkeys(CITATION.findall(doc))),
                              doc, f.metadata.get("identity", True)))
    return out


def format_keys(docs: list[KeyDoc], preset: dict | None = None, preset_name: str = "") -> str:
    """Two lines a key: 'key: type = default [cites]' (and the preset's value where it differs), then the comment."""
    lines = []
    for d in docs:
        cites = f"  [{', '.join(d.cites)}]" if d.cites else ""
        at_preset = ""
        if preset and d.key in preset and preset[d.key] != d.default:
            at_preset = f"  (preset {preset_name}: {preset[d.key]!r})"
        ident = "" if d.identity else "  (not in the run id)"
        lines.append(f"{d.key}: {d.type} = {d.default!r}{at_preset}{cites}{ident}")
        lines.append(f"    {d.doc}" if d.doc else "    (no comment in core/config/hyperparameters.py)")
    return "\n".join(lines)
