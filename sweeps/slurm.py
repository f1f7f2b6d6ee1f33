"""The `slurm` executor: a sweep's unfinished runs as one submitit job array, one task per run.

Cluster options come from flags and from an optional YAML profile (`--profile FILE`; flags win), never from
constants here; keys are the fields of `SlurmOptions`. The job side (the checkpointable callable that
requeues itself on preemption or time-out) is in sweeps.slurm_job. submitit's files and the jobs' logs go to
`runs/<sweep>/slurm/`. Each submitted run is claimed first (sweeps.runlock) and its claim names its job id,
so a second submission skips runs that are queued or running.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.config.hyperparameters import ConfigError
from core.runtime.checkpoint_policy import SAFE, CheckpointPolicy
from sweeps import runlock
from sweeps.executors import take
from sweeps.expand import RunSpec
from sweeps.words import plural

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: int = 60                      # time limit per job, minutes (flags also take D-HH:MM:SS)
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None   # processes per node; default one per GPU (or 1)
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    constraint: str | None = None
    array_parallelism: int = 256        # tasks of the array running at once
    signal_delay_s: int = 120           # submitit's signal comes this long before the time limit
    max_timeouts: int = 3               # time-outs a run may be requeued after (submitit's budget)
    max_stalls: int = 3                 # attempts in a row with no progress before a run is marked failed
    setup: tuple = ()                   # shell lines run before the job (module load, source a venv, ...)
    sbatch: dict = field(default_factory=dict)   # any other sbatch flag, e.g. {exclude: node7, requeue: true}
    python: str | None = None           # the job's python command (default: this interpreter)

    @property
    def ntasks_per_node(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        return self.nodes * self.ntasks_per_node

    def submitit_parameters(self, job_name: str) -> dict:
        """Keyword arguments of submitit's SlurmExecutor.update_parameters."""
        params = {"job_name": job_name, "time": self.time, "nodes": self.nodes,
                  "ntasks_per_node": self.ntasks_per_node, "array_parallelism": self.array_parallelism,
                  "signal_delay_s": self.signal_delay_s,
                  "setup": [f"export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}", *self.setup],
                  "additional_parameters": {"requeue": True, **self.sbatch}}
        for key in ("partition", "account", "qos", "cpus_per_task", "constraint"):
            if getattr(self, key) is not None:
                params[key] = getattr(self, key)
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        if self.mem_gb is not None:
            whole = self.mem_gb == int(self.mem_gb)
            params["mem"] = f"{int(self.mem_gb)}GB" if whole else f"{int(self.mem_gb * 1024)}MB"
        return params


FIELDS = {f.name: f for f in dataclasses.fields(SlurmOptions)}
HELP = {"time": "time limit per job: minutes, H:M:S or D-H:M:S", "tasks_per_node": "processes per node",
        "array_parallelism": "array tasks running at once", "signal_delay_s": "submitit's signal this long before "
        "the time limit", "max_timeouts": "requeues after a time-out", "max_stalls": "attempts in a row without "
        "progress before a run is marked failed"}
FLAGS = ("partition", "account", "qos", "time", "nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task",
         "mem_gb", "constraint", "array_parallelism", "signal_delay_s", "max_timeouts", "max_stalls")


def parse_time(value) -> int:
    """SLURM's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> whole minutes, rounded up."""
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ConfigError(f"time: '{value}' is not a SLURM time (minutes, H:M:S or D-H:M:S)")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:                                    # D-H[:M[:S]]
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:                                     # H:M:S
        seconds = a * 3600 + b * 60 + c
    else:                                                   # M or M:S
        seconds = a * 60 + (b or 0)
    if seconds <= 0:
        raise ConfigError(f"time: '{value}' must be positive")
    return -(-seconds // 60)


def _coerce(name: str, value, source: str):
    if value is None:
        return None
    try:
        if name == "time":
            return parse_time(value)
        if name == "setup":
            return tuple([value] if isinstance(value, str) else value)
        if name == "sbatch":
            if not isinstance(value, dict):
                raise TypeError("a mapping of sbatch flag to value")
            return dict(value)
        kind = FIELDS[name].type
        if "int" in kind:
            value = int(value)
            if value < (0 if name in ("gpus_per_node", "max_timeouts") else 1):
                raise ValueError("out of range")
            return value
        if "float" in kind:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: bad value for '{name}': {value!r} ({err})") from None


def _yaml_loader():
    """SafeLoader without YAML 1.1's base-60 integers, so `time: 4:00:00` stays a SLURM time, not 14400."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass
    int_tag = "tag:yaml.org,2002:int"
    Loader.yaml_implicit_resolvers = {c: [(t, rx) for t, rx in rs if t != int_tag]
                                      for c, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(int_tag, re.compile(r"^[-+]?(0|[1-9][0-9_]*)$"), list("-+0123456789"))
    return Loader


def load_profile(path: str) -> dict:
    import yaml
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--profile: no such file: {path}")
    try:
        data = yaml.load(p.read_text(), Loader=_yaml_loader()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of SLURM options")
    out = {}
    for key, value in data.items():
        if key not in FIELDS:
            near = difflib.get_close_matches(str(key), FIELDS, n=1)
            raise ConfigError(f"{path}: unknown key '{key}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
        out[key] = _coerce(key, value, path)
    return out


def add_arguments(ap) -> None:
    g = ap.add_argument_group("SLURM (--executor slurm; flags override --profile)")
    g.add_argument("--profile", help="YAML file of SLURM options (keys: " + ", ".join(FIELDS) + ")")
    for name in FLAGS:
        kind = FIELDS[name].type
        metavar = "TIME" if name == "time" else "GB" if name == "mem_gb" else "N" if "int" in kind else name.upper()
        default = f" (default {FIELDS[name].default})" if FIELDS[name].default is not None else ""
        g.add_argument("--" + name.replace("_", "-"), dest="slurm_" + name, metavar=metavar,
                       help=HELP.get(name, "") + default or None)


def options_from(args, preset: str | None = None) -> SlurmOptions:
    """The job's options: the preset's SLURM defaults (core/config/presets), then the --profile, then the flags."""
    from core.config.presets import preset_slurm
    values = {k: _coerce(k, v, f"preset {preset}") for k, v in preset_slurm(preset).items()} if preset else {}
    for key in values:
        if key not in FIELDS:
            raise ConfigError(f"preset {preset}: unknown SLURM option '{key}'")
    values.update(load_profile(args.profile) if args.profile else {})
    for name in FLAGS:
        flag = getattr(args, "slurm_" + name, None)
        if flag is not None:
            values[name] = _coerce(name, flag, "--" + name.replace("_", "-"))
    return SlurmOptions(**{k: v for k, v in values.items() if v is not None})


def describe_resources(options: SlurmOptions, preset: str) -> list[str]:
    """What each job asks for, and a warning when a GPU preset's job asks for no GPU."""
    from core.config.presets import preset_needs_gpu
    hours, minutes = divmod(options.time, 60)
    lines = [f"SLURM: each job {options.nodes} node(s) x {options.gpus_per_node} GPU(s), time limit "
             f"{hours}:{minutes:02d}:00 (preset {preset}'s defaults, then --profile, then the flags)"]
    if preset_needs_gpu(preset) and options.gpus_per_node == 0:
        lines.append(f"warning: preset {preset} is sized for a GPU, but its jobs ask for none (--gpus-per-node 0): "
                     "they will train on the nodes' CPUs, far slower")
    return lines


# ---- submission --------------------------------------------------------------------------------------
def log_folder(specs: list[RunSpec]) -> Path:
    return specs[0].run_dir.parent / "slurm"


def sbatch_script(specs: list[RunSpec], options: SlurmOptions) -> str:
    """The sbatch file submitit would write for these runs (for --dry-run; needs no SLURM)."""
    from submitit.slurm.slurm import _make_sbatch_string
    params = options.submitit_parameters(f"simsiam-{specs[0].sweep}")
    params["map_count"] = len(specs) if len(specs) > 1 else None
    command = f"{options.python or sys.executable} -u -m submitit.core._submit {log_folder(specs)}"
    return _make_sbatch_string(command=command, folder=log_folder(specs), **params)


def check_options(options: SlurmOptions) -> None:
    if options.signal_delay_s >= options.time * 60:
        raise ConfigError(f"--signal-delay-s {options.signal_delay_s} is not shorter than the time limit "
                          f"({options.time} min): every job would be signalled to stop as it starts")


def check_runs(specs: list[RunSpec], options: SlurmOptions) -> None:
    """Each run must be one data-parallel training can do with options.world_size processes."""
    from core.runtime.distributed import check_supported
    for spec in specs:
        try:
            check_supported(spec.config, options.world_size)
        except ConfigError as err:
            raise ConfigError(f"run {spec.run_id} with {options.world_size} processes (nodes x tasks per node): "
                              f"{err}") from None


def submit(specs: list[RunSpec], options: SlurmOptions, dry_run: bool = False,
           checkpoints: CheckpointPolicy = SAFE) -> list:
    """Claim the runs nobody holds, submit them as one job array, record the job ids in the claims; each job
    reads its checkpoints under `checkpoints` (sweeps.run's --trust-checkpoint, --restart-unreadable)."""
    check_options(options)
    check_runs(specs, options)
    queue = runlock.Queue()
    queue.prefetch((runlock.read(s.run_dir) or {}).get("job_id") for s in specs)
    folder = log_folder(specs)
    if dry_run:
        print(f"would submit {plural(len(specs), 'run')} as {'a job array' if len(specs) > 1 else 'one job'}; "
              f"logs in {folder}/; the sbatch file:")
        print("    " + sbatch_script(specs, options).replace("\n", "\n    "))
        return []
    mine = [(s, c) for s in specs for c in [runlock.new_claim("slurm")] if take(s, c, queue)]
    if not mine:
        print("nothing to submit: every run is finished, queued or running")
        return []
    import submitit
    from sweeps.slurm_job import SlurmRun
    try:
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=options.max_timeouts,
                                          **({"python": options.python} if options.python else {}))
        executor.update_parameters(**options.submitit_parameters(f"simsiam-{specs[0].sweep}"))
        with executor.batch():
            jobs = [executor.submit(SlurmRun(str(s.run_dir), c["token"], options.max_stalls, checkpoints))
                    for s, c in mine]
    except Exception as err:                    # nothing was queued: give the runs back
        for s, c in mine:
            runlock.release(s.run_dir, c)
        raise ConfigError(f"SLURM submission failed: {type(err).__name__}: {err}") from None
    for (s, c), job in zip(mine, jobs):
        runlock.update(s.run_dir, {**c, "job_id": job.job_id})
    array = jobs[0].job_id.split("_")[0]
    what = f"job array {array} ({len(jobs)} tasks)" if len(jobs) > 1 else f"job {array}"
    print(f"submitted {what}; logs: {folder}/<job id>_0_log.out and .err")
    for (s, _), job in zip(mine, jobs):
        print(f"  {job.job_id:14s} {s.run_id}")
    print(f"follow it with: python -m sweeps.status {specs[0].sweep} --runs-dir {specs[0].run_dir.parent.parent}")
    return jobs
