"""Rolling checkpoints, written atomically; the previous one is kept. Pre-training's is `last.pt` (the previous:
`prev.pt`); the paper's linear evaluation (core/eval/linear_eval.py) keeps its own pair under other names.

A checkpoint is data, not code. It holds plain data only: tensors, numbers, strings, lists and dicts
(`save_checkpoint` refuses anything else, naming it), and is read with torch.load(weights_only=True), which
rebuilds those and refuses every other pickled object. No type is added to torch's safe-globals list: none is
needed. Only the user's --trust-checkpoint (CheckpointPolicy.trust) unpickles a file the safe loader refused.

Reading a stage's checkpoint (`load_checkpoint`): the newest file that reads and fits (the caller's `fits`
check) is used. When a newer one is unusable (refused, corrupt, or not fitting) and an older one is usable, the
stage resumes from the older one, says so in one line, and keeps the unusable file as <name>.unusable (so the
next save does not rotate it over the good one). When none is usable the stage stops with a one-line
CheckpointError, or, with CheckpointPolicy.restart, starts over (the files kept aside likewise). `load_final`
reads one file of a finished stage, with no fallback: what sweeps.evaluate and sweeps.export take.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path

import torch

from core.runtime.checkpoint_policy import RESTART_FLAG, SAFE, TRUST_FLAG, CheckpointError, CheckpointPolicy

PRETRAIN = ("last.pt", "prev.pt")          # (newest, previous)
LINEAR = ("linear.pt", "linear.prev.pt")   # the paper's linear evaluation, a stage after pre-training
UNUSABLE = ".unusable"                     # suffix of a checkpoint set aside as unusable
PLAIN_SCALARS = (bool, int, float, str, type(None))
PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


class Unusable(Exception):
    """Why one checkpoint file cannot be used; `refused`: the safe loader refused what it holds."""

    def __init__(self, why: str, refused: bool = False):
        super().__init__(why)
        self.refused = refused


def check_plain(obj, where: str = "checkpoint") -> None:
    """TypeError naming the first value that is not plain data (exact types: a numpy scalar is not a float)."""
    if type(obj) in PLAIN_TENSORS or type(obj) in PLAIN_SCALARS:
        return
    if type(obj) in (dict, OrderedDict):                 # a state_dict is an OrderedDict
        for key, value in obj.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}, not a string or an int")
            check_plain(value, f"{where}[{key!r}]")
        return
    if type(obj) is list:
        for i, value in enumerate(obj):
            check_plain(value, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: a {type(obj).__module__}.{type(obj).__qualname__} is not plain data (tensors, "
                    "numbers, strings, lists, dicts): convert it before saving, and back after loading")


def save_checkpoint(run_dir: Path, state: dict, names: tuple[str, str] = PRETRAIN) -> None:
    check_plain(state)
    path, prev = Path(run_dir) / names[0], Path(run_dir) / names[1]
    tmp = path.with_name(f".{names[0]}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        os.replace(path, prev)
    os.replace(tmp, path)


def read_checkpoint(path: Path, map_location="cpu", trust: bool = False, log=print) -> dict:
    """The dict in `path`, by the safe loader (or, if it refused and `trust`, by unpickling); Unusable if not."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:   # whatever the file does to the loader, the user gets its name and why
        refused = _refused(err)
        if refused is None:
            raise Unusable(_unreadable(err)) from None
        if not trust:
            raise Unusable(f"refused: it holds {refused}, and a checkpoint may hold only tensors, numbers, strings, "
                           "lists and dicts", refused=True) from None
        log(f"{path}: holds {refused}; unpickling it as {TRUST_FLAG} asks")
        ckpt = _unpickle_trusted(path, map_location)
    if not isinstance(ckpt, dict):
        raise Unusable(f"holds a {type(ckpt).__name__}, not a checkpoint's dict")
    return ckpt


def _unpickle_trusted(path: Path, map_location):
    """The only torch.load that may run code in the file: on the user's --trust-checkpoint alone."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise Unusable(_unreadable(err)) from None


def usable(path: Path, map_location="cpu", trust: bool = False, fits=None, log=print) -> dict:
    """read_checkpoint, then `fits(ckpt)` (raises Unusable, or a KeyError/TypeError/... on a malformed one)."""
    ckpt = read_checkpoint(path, map_location, trust, log)
    if fits is not None:
        try:
            fits(ckpt)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise Unusable(f"does not fit ({type(err).__name__}: {one_line(err)})") from None
    return ckpt


def load_checkpoint(run_dir: Path, map_location="cpu", names: tuple[str, ...] = PRETRAIN,
                    policy: CheckpointPolicy = SAFE, fits=None, log=print, main: bool = True) -> dict | None:
    """The newest usable checkpoint of `names` (newest first); None if there is none, or (policy.restart) none
    usable. An unusable newer file is set aside (by the `main` process only) and named in one line; none usable
    and no policy.restart: CheckpointError."""
    run_dir, bad = Path(run_dir), []
    for name in names:
        path = run_dir / name
        if not path.exists():
            continue
        try:
            ckpt = usable(path, map_location, policy.trust, fits, log)
        except Unusable as why:
            bad.append((path, why))
            continue
        if bad:
            _set_aside(bad, main)
            log(f"{_listing(bad)}; resuming from {name} (step {_step(ckpt)}) instead{_kept(bad, main)}")
        return ckpt
    if not bad:
        return None
    if not policy.restart:
        raise CheckpointError(f"{_listing(bad)}; no usable checkpoint, so this stops here. "
                              f"{_options(bad, policy, True)}")
    _set_aside(bad, main)
    log(f"{_listing(bad)}; no usable checkpoint: starting over as {RESTART_FLAG} asks{_kept(bad, main)}")
    return None


def drop_previous(run_dir: Path, names: tuple[str, str] = PRETRAIN) -> None:
    """Delete the previous checkpoint (names[1]) of a run that has ended: run.keep_checkpoints 1."""
    (Path(run_dir) / names[1]).unlink(missing_ok=True)


def load_final(run_dir: Path, name: str = PRETRAIN[0], map_location="cpu", policy: CheckpointPolicy = SAFE, fits=None,
               log=print) -> dict | None:
    """`name` of a finished stage, with no fallback to an older file (its weights are not the final ones); None if
    it does not exist; CheckpointError if it cannot be used."""
    path = Path(run_dir) / name
    if not path.exists():
        return None
    try:
        return usable(path, map_location, policy.trust, fits, log)
    except Unusable as why:
        raise CheckpointError(f"{_listing([(path, why)])}; nothing done. {_options([(path, why)], policy, False)}") \
            from None


def one_line(text, limit: int = 200) -> str:
    """`text` on one line: no terminal colour codes, whitespace runs as one space, at most `limit` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(text)).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _refused(err: Exception) -> str | None:
    """What the safe loader refused ('a pickled io.open'), from its error; None if `err` is no refusal."""
    text = str(err)
    if "Weights only load failed" not in text:
        return None
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"a pickled {found.group(1)}"
    found = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
    return f"what the safe loader cannot rebuild ({one_line(found.group(1) if found else text, 120)})"


def _unreadable(err: Exception) -> str:
    first = str(err).split(". ")[0]                    # torch's zip errors go on with paragraphs of advice
    return f"unreadable, corrupt or truncated ({type(err).__name__}{': ' + one_line(first, 160) if first else ''})"


def _listing(bad: list) -> str:
    return "; ".join(f"{path}: {why}" for path, why in bad)


def _step(ckpt: dict):
    state = ckpt.get("state")
    return state.get("step") if isinstance(state, dict) else None


def _set_aside(bad: list, main: bool) -> None:
    if main:
        for path, _ in bad:
            if path.exists():
                os.replace(path, path.with_name(path.name + UNUSABLE))


def _kept(bad: list, main: bool) -> str:
    return f" (kept as {', '.join(path.name + UNUSABLE for path, _ in bad)})" if main else ""


def _options(bad: list, policy: CheckpointPolicy, restart: bool) -> str:
    options = []
    if not policy.trust and any(why.refused for _, why in bad):
        options.append(f"{TRUST_FLAG} to unpickle it anyway (only if you trust where it came from: unpickling can "
                       "run any code)")
    if restart:
        options.append(f"{RESTART_FLAG} to start over (the files kept as <name>{UNUSABLE})")
    options.append("put a good copy in its place")
    return "Options: " + "; ".join(options[:-1]) + ("; or " if len(options) > 1 else "") + options[-1]
