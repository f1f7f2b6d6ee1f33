"""Where each claim was registered, and with which form: the registry of the committed records.

    python -m analysis.registry                 # each claim's registration, and what is wrong (exit 1 if anything)
    python -m analysis.registry --from-git      # rebuild records/registry.yaml, reading old sweep files from git

A claim is registered by the earliest run its verdict reads (a run of one of its rows, in any tree under
records/): the canonical forms that run's meta.json recorded when it started (core.schema.claim_forms). The
records made before 2026-12-07 recorded none; for them records/registry.yaml holds the form reconstructed from
git, as of the commit the earliest run started at (its meta.json's `commit`), with that run named. Whichever
is earlier, the file's entry or a record's own, is the registration.

The check: every claim with runs is registered, and its registered form is where its amendments start (or,
without amendments, its form today). tests/analysis/test_registry.py runs it on the committed records.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.schema.claim_forms import REGISTERED_AT_KEY, REGISTERED_KEY, canonical_form, check_against
from core.schema.claims import Claim
from core.schema.record import META, read_json, run_dirs
from core.schema.sweep_format import ABLATIONS_DIR, REPO_ROOT, Sweep, SweepFileError, known_sweeps, load_sweep

RECORDS = REPO_ROOT / "records"
REGISTRY = RECORDS / "registry.yaml"
HEADER = ("# Each claim's registered form, reconstructed from git for the records made before runs recorded their\n"
          "# claims (python -m analysis.registry --from-git; analysis/registry.py). Never edited by hand.\n")


@dataclass(frozen=True)
class Registration:
    form: dict               # the canonical form (core.schema.claim_forms)
    registered: str          # when: the start time of the earliest run the claim reads
    first_run: str           # that run, as <tree>/<sweep>/<run id>
    source: str              # "record" (its meta.json) or "git <commit>" (the sweep file at that commit)


@dataclass(frozen=True)
class Run:
    start: str
    name: str                # <tree>/<sweep>/<run id>
    meta: dict


def claim_rows(claim: Claim) -> set[str]:
    """The rows a claim's verdict reads."""
    return set(claim.cases) | {claim.other, claim.baseline} - {""}


def sweep_runs(sweep: str, roots: list[Path]) -> list[Run]:
    """Every run of `sweep` under the trees `roots` (each <root>/<sweep>/<run>), oldest first."""
    out = []
    for root in roots:
        for d in run_dirs(root, sweep):
            meta = read_json(d / META) or {}
            if meta.get("start_time"):
                out.append(Run(str(meta["start_time"]), f"{root.name}/{sweep}/{d.name}", meta))
    return sorted(out, key=lambda r: (r.start, r.name))


def record_trees(records: Path = RECORDS) -> list[Path]:
    """The run trees under records/ (every folder holding sweep folders; not benchmarks)."""
    return sorted(p for p in Path(records).iterdir() if p.is_dir() and p.name != "benchmarks") \
        if Path(records).is_dir() else []


def from_records(sweep: Sweep, runs: list[Run]) -> dict[str, Registration]:
    """Per claim, the form the earliest recording of it among the runs of its rows holds (a run records the
    claims when it starts, a copied run when it is copied), if a run recorded the claim."""
    out = {}
    for claim in sweep.claims:
        rows = claim_rows(claim)
        for run in runs:
            forms = run.meta.get(REGISTERED_KEY)
            if run.meta.get("case") in rows and isinstance(forms, dict) and claim.id in forms:
                when = str(run.meta.get(REGISTERED_AT_KEY) or run.start)
                if claim.id not in out or when < out[claim.id].registered:
                    out[claim.id] = Registration(forms[claim.id], when, run.name, "record")
    return out


def load_registry(path: Path = REGISTRY) -> dict[str, dict[str, Registration]]:
    """records/registry.yaml: {sweep: {claim id: Registration}} ({} when there is none)."""
    if not Path(path).is_file():
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    return {sweep: {cid: Registration(e["form"], str(e["registered"]), e["first_run"], e["source"])
                    for cid, e in claims.items()} for sweep, claims in data.items()}


def registrations(sweep: Sweep, runs: list[Run], registry: dict | None = None) -> dict[str, Registration]:
    """Per claim, the earlier of its registry entry and the form its earliest recording run holds."""
    out = dict((registry or {}).get(sweep.name, {}))
    for cid, reg in from_records(sweep, runs).items():
        if cid not in out or reg.registered < out[cid].registered:
            out[cid] = reg
    return out


def problems(sweep: Sweep, runs: list[Run], regs: dict[str, Registration]) -> list[str]:
    """What is wrong: a claim with runs but no registration, or one whose amendments do not start from it."""
    out = []
    for claim in sweep.claims:
        where = f"{sweep.path.name}"
        if claim.id in regs:
            message = check_against(claim, regs[claim.id].form, where)
            if message:
                out.append(message + f" (registered {regs[claim.id].registered[:10]} by {regs[claim.id].first_run})")
        elif any(r.meta.get("case") in claim_rows(claim) for r in runs):
            out.append(f"{where}: claim '{claim.id}' has runs but no registered form: its earliest run predates "
                       "runs recording their claims and records/registry.yaml has no entry (python -m "
                       "analysis.registry --from-git)")
    return out


def _git_sweep(commit: str, name: str) -> Sweep | None:
    shown = subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{commit}:ablations/{name}.yaml"],
                           capture_output=True, text=True)
    if shown.returncode:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(shown.stdout)
        return load_sweep(path)


def from_git(sweep: Sweep, runs: list[Run]) -> dict[str, Registration]:
    """Per claim, its form in the sweep file at the commit its earliest run started at (meta.json's `commit`);
    where the file or the claim did not exist yet at that commit (a row copied from an older sweep's run), at the
    commit of the next run that has it. A claim of the old file is matched by its id, or by its position where
    the file had no ids yet."""
    out, files = {}, {}
    for i, claim in enumerate(sweep.claims):
        for run in (r for r in runs if r.meta.get("case") in claim_rows(claim)):
            commit = str(run.meta.get("commit") or "")
            if not commit or commit == "unknown":
                continue
            if commit not in files:
                files[commit] = _git_sweep(commit, sweep.name)
            old = files[commit]
            if old is None:
                continue
            by_id = {c.id: c for c in old.claims}
            then = by_id.get(claim.id) or (old.claims[i] if i < len(old.claims) and str(i + 1) in by_id else None)
            if then is not None:
                out[claim.id] = Registration(canonical_form(then), run.start, run.name, f"git {commit}")
                break
        if claim.id not in out and any(r.meta.get("case") in claim_rows(claim) for r in runs):
            found = _first_commit_with(sweep, i, claim)
            if found is not None:
                out[claim.id] = found
    return out


def _first_commit_with(sweep: Sweep, i: int, claim: Claim) -> Registration | None:
    """A claim written after every run of its rows started (rows copied from an older sweep's runs): its form at
    the first commit whose sweep file has it, registered at that commit's time, the data already there."""
    log = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "--reverse", "--format=%h %cI", "--",
                          f"ablations/{sweep.name}.yaml"], capture_output=True, text=True)
    for line in log.stdout.splitlines():
        commit, when = line.split()
        old = _git_sweep(commit, sweep.name)
        by_id = {c.id: c for c in old.claims} if old is not None else {}
        then = by_id.get(claim.id) or (old.claims[i] if old is not None and i < len(old.claims)
                                       and str(i + 1) in by_id else None)
        if then is not None:
            return Registration(canonical_form(then), when, f"(commit {commit}; its rows' runs predate it)",
                                f"git {commit}")
    return None


def dump_registry(entries: dict[str, dict[str, Registration]]) -> str:
    data = {sweep: {cid: {"registered": r.registered, "first_run": r.first_run, "source": r.source, "form": r.form}
                    for cid, r in claims.items()} for sweep, claims in sorted(entries.items()) if claims}
    return HEADER + yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.registry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-git", action="store_true",
                        help="rebuild records/registry.yaml from git for the claims whose runs recorded no forms")
    parser.add_argument("--records", default=str(RECORDS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    trees, registry = record_trees(Path(args.records)), load_registry(Path(args.records) / REGISTRY.name)
    rebuilt, found = {}, []
    for name in known_sweeps(ABLATIONS_DIR):
        try:
            sweep = load_sweep(name)
        except SweepFileError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        runs = sweep_runs(name, trees)
        if args.from_git:
            recorded = from_records(sweep, runs)
            rebuilt[name] = {cid: r for cid, r in from_git(sweep, runs).items()
                             if cid not in recorded or r.registered < recorded[cid].registered}
            registry = {**registry, name: rebuilt[name]}
        regs = registrations(sweep, runs, registry)
        for claim in sweep.claims:
            r = regs.get(claim.id)
            where = f"{r.registered[:16]} by {r.first_run} ({r.source})" if r else "not registered (no runs)"
            amended = f"; amended {len(claim.amendments)}x" if claim.amendments else ""
            print(f"{name}/{claim.id}: {where}{amended}")
        found += problems(sweep, runs, regs)
    if args.from_git:
        (Path(args.records) / REGISTRY.name).write_text(dump_registry(rebuilt))
        print(f"wrote {Path(args.records) / REGISTRY.name}")
    for p in found:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
