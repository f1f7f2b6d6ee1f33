"""What runs inside a SLURM job: `SlurmRun`, the checkpointable callable submitted for each run.

Preemption and time-out. submitit signals the job (SIGUSR2 by default) `signal_delay_s` before its time
limit. Its own handler would call `checkpoint()` and requeue at once, in the middle of a training step, and
core.train.loop saves its state only at a step boundary. So while a run trains, `SlurmRun`
defers submitit's handler: the signal sets core.train.loop's stop flag, train saves `last.pt` at the next step
boundary and raises `Preempted`, and only then is submitit's handler called, which dumps `checkpoint()` (a
fresh `SlurmRun` for the same run directory), requeues the job and exits. Outside the training loop (set-up,
final evaluation) `last.pt` is already current and submitit's handler runs at once. submitit counts
time-outs and gives up after `max_timeouts`; the run then ends `failed` with that reason.

A bare SIGTERM (scancel, `scontrol requeue`, a preemption that SLURM requeues by itself) also stops the run
at a step boundary with `last.pt` saved (so do SIGINT and SIGUSR1; outside training those two stop it at once);
the job then exits without a result and SLURM decides whether it runs again. Either way the next attempt resumes
from the run directory, which depends on the config only. SLURM signals every process of the job step, the
DataLoader workers too: they leave every stop signal to the main process (core.data.loader_workers), so a
signalled run is interrupted, never failed.

Retries. Every attempt appends a line to `attempts.jsonl` (job id, host, start, step reached so far). When
`max_stalls` attempts in a row start from the same step (a run that keeps dying: OOM, a crash outside
Python, a time limit shorter than its set-up), the next attempt ends the run as `failed` with that reason.

Only rank 0 touches the run directory's claim and attempts; core.train.loop writes the rest from rank 0 only.
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import sys
from pathlib import Path

import submitit

from core.runtime.checkpoint_policy import SAFE, CheckpointError, CheckpointPolicy
from core.runtime.run_directory import read_jsonl
from sweeps import runlock
from sweeps.status import is_finished


def last_step(run_dir: Path) -> int:
    """The highest step logged in metrics.jsonl (0 for none): how far the run has got."""
    from core.runtime.run_directory import RunDir
    return max((int(r.get("step") or 0) for r in RunDir(run_dir).read_metrics()), default=0)


class DeferredRequeue:
    """submitit's preemption/time-out signal, handled at core.train.loop's next step boundary (module docstring)."""

    def __enter__(self):
        from core.runtime.stopping import StopFlag
        self.sig = submitit.JobEnvironment._usr_sig()
        self.submitit_handler = signal.getsignal(self.sig)
        self.asked = False
        signal.signal(self.sig, self._on_signal)
        self.others, StopFlag.others = StopFlag.others, StopFlag.others | {self.sig}   # the loop leaves it to us
        return self

    def _on_signal(self, signum, frame):
        self.asked = True
        # no import in a signal handler (it may interrupt one): a loop can be training only if core.train.loop is loaded
        request_stop = getattr(sys.modules.get("core.train.loop"), "request_stop", None)
        if request_stop is None or not request_stop():   # training: checkpoint at the next step, raise Preempted
            self.requeue()                      # set-up or final evaluation: requeue now

    def requeue(self):
        """submitit's handler: dump checkpoint(), `scontrol requeue`, exit (raises SystemExit; on rank > 0 it
        returns), or raise UncompletedJobError when the time-out budget is spent."""
        self.submitit_handler(self.sig, None)

    def __exit__(self, *exc):
        from core.runtime.stopping import StopFlag
        signal.signal(self.sig, self.submitit_handler)
        StopFlag.others = self.others


class SlurmRun(submitit.helpers.Checkpointable):
    """Train (or resume) the run in `run_dir`, holding the claim with `token` that the submission took."""

    def __init__(self, run_dir: str, token: str, max_stalls: int = 3, checkpoints: CheckpointPolicy = SAFE):
        self.run_dir, self.token, self.max_stalls, self.checkpoints = run_dir, token, max_stalls, checkpoints

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        # train's state is in last.pt, not in this object: the requeued job is the same call again
        return submitit.helpers.DelayedSubmission(type(self)(self.run_dir, self.token, self.max_stalls,
                                                             self.checkpoints))

    def __call__(self) -> dict:
        from core.runtime.stopping import InterruptOutside
        env = submitit.JobEnvironment()
        # first thing: the signal may come during set-up already. SIGINT and SIGUSR1 outside training stop the
        # attempt at once; SIGTERM outside training is submitit's to bypass
        with DeferredRequeue() as signals, InterruptOutside((signal.SIGINT, signal.SIGUSR1)):
            try:
                return self._attempt(env, signals)
            except KeyboardInterrupt as stopped:   # outside training, or a DataLoader worker stopped (WorkerStopped)
                raise SystemExit(f"interrupted before a step boundary{f' ({stopped})' if str(stopped) else ''}; "
                                 "the last checkpoint is kept; SLURM requeues or ends this job") from None
            except submitit.core.utils.UncompletedJobError as err:
                # submitit's time-out budget is spent: the run ends here, last.pt kept
                result = {"status": "failed", "reason": f"{err} (SLURM time limit reached more often than "
                                                        "--max-timeouts allows; raise it or --time)"}
                if env.global_rank == 0 and not is_finished(Path(self.run_dir)):
                    from core.runtime.run_directory import RunDir
                    RunDir(Path(self.run_dir)).write_result(result)
                    runlock.release(Path(self.run_dir), {"token": self.token})
                return result

    def _attempt(self, env, signals: DeferredRequeue) -> dict:
        if env.num_tasks > 1:
            start_distributed()
        rank0 = env.global_rank == 0
        verdict = broadcast(self._begin(env) if rank0 else None)
        if verdict is not None:                 # nothing to train: finished, held by another, or given up
            return verdict
        if os.environ.get("SLURM_CPUS_PER_TASK"):
            import torch
            torch.set_num_threads(int(os.environ["SLURM_CPUS_PER_TASK"]))
        from core.runtime.run_directory import RunDir
        from core.train.loop import Preempted, train
        from sweeps.progress import Display
        rd = RunDir(Path(self.run_dir))
        display = Display()                     # plain lines every SIMSIAM_PROGRESS_EVERY seconds in the job's log
        try:
            result = train(rd.read_config(), rd.path, rd.read_meta(), log=display.write,
                           progress=display.progress_for(rd.path.name), checkpoints=self.checkpoints)
        except CheckpointError as err:          # the run stays as it was, unclaimed, for the user to decide
            if rank0:
                runlock.release(rd.path, {"token": self.token})
            raise SystemExit(f"error: {err}") from None
        except Preempted as stopped:
            if signals.asked:
                signals.requeue()               # rank 0: requeues and exits, or raises UncompletedJobError
                raise SystemExit(f"{stopped}; rank {env.global_rank} leaves the requeue to rank 0") from None
            raise SystemExit(f"{stopped}; SLURM requeues or ends this job") from None
        finally:
            display.close()
        if rank0:
            runlock.release(rd.path, {"token": self.token})
        return result

    def _begin(self, env) -> dict | None:
        """Rank 0: hold the claim, record the attempt, give up on a run that makes no progress.
        None to train; else the reason not to."""
        from core.runtime.run_directory import RunDir
        rd = RunDir(Path(self.run_dir))
        mine = {**runlock.new_claim("slurm"), "token": self.token, "job_id": env.job_id}
        held = runlock.acquire(rd.path, mine)
        if held is not None:
            return {"status": "skipped", "reason": f"{runlock.describe(held)} holds the run"}
        if is_finished(rd.path):
            runlock.release(rd.path, mine)
            return {"status": "skipped", "reason": "finished already"}
        step = last_step(rd.path)
        attempts = read_attempts(rd.path)
        with open(rd.file("attempts.jsonl"), "a") as fh:
            fh.write(json.dumps({"job_id": env.job_id, "host": socket.gethostname(), "pid": os.getpid(),
                                 "start": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                                 "step": step}) + "\n")
        stalled = 0                             # earlier attempts in a row that started where this one does
        for a in reversed(attempts):
            if a.get("step") != step:
                break
            stalled += 1
        if stalled >= self.max_stalls:
            reason = (f"gave up: {stalled} attempts in a row made no progress past step {step} (killed, out of "
                      f"memory, a time limit too short?); job logs in {rd.path.parent / 'slurm'}; to try again, "
                      "re-run the sweep with --retry-failed")
            result = {"status": "failed", "reason": reason}
            rd.write_result(result)
            runlock.release(rd.path, mine)
            return result
        meta = rd.read_meta()
        rd.write_meta({**meta, "slurm_job_id": env.job_id, "host": socket.gethostname()})
        return None


def read_attempts(run_dir: Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / "attempts.jsonl")


# ---- torch.distributed ---------------------------------------------------------------------------------
def start_distributed() -> None:
    """One process group per job from submitit's job environment: NCCL on GPUs, gloo on CPUs."""
    import torch

    from core.runtime.distributed import init_from_env
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    init_from_env("cuda" if torch.cuda.is_available() else "cpu")      # reads the variables just exported


def broadcast(obj):
    """Rank 0's `obj` on every rank (itself when there is no process group)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
