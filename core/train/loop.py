"""The training loop: one function that reads top to bottom.

`train(cfg, run_dir, meta)` writes the whole run directory (core.runtime.run_directory), resumes from `last.pt` if one
exists, and ends with `result.json` whose status is ok, collapsed, diverged (NaN/inf loss) or failed
(exception; the traceback goes to error.txt). A stop signal (SIGTERM, SIGINT, SIGUSR1, SIGUSR2) saves a checkpoint
at the next step and raises `Preempted`, so a scheduler can requeue the run and it resumes where it stopped
(core.runtime.stopping). `wall_s` counts every segment of a resumed run, up to the checkpoint each resumed from.

Every method and ablation trains through the same step (core.train.step.train_step), given the run's target
provider (core.objective.targets: same network, momentum copy, k-step cache, moving-average eta) and objective
(core.objective.objectives: D, InfoNCE, SwAV), both chosen from the config once, in the set-up below.

Under a torch.distributed process group of W > 1 processes the run trains data-parallel (core.runtime.distributed):
each rank a B/W share of every batch, batch norm over all B, gradients averaged, rank 0 alone writing the
run directory, and a stop signal acted on at the next logging point all ranks agree on.
"""
from __future__ import annotations

import functools
import math
import time
import traceback
from pathlib import Path

import torch

from core.config import hyperparameters as C
from core.config.sizes import check_sizes
from core.data.batches import make_source
from core.eval.frozen_backbone import features, linear_accuracy, monitor, protocol
from core.eval.linear_eval import after_pretraining
from core.eval.monitors import effective_rank
from core.model.simsiam import build_model
from core.objective.objectives import make_objective
from core.objective.targets import make_targets
from core.optim.optimizer import build_optimizer, set_lr
from core.optim.schedule import scaled_lr
from core.runtime import distributed, host_tuning, precision
from core.runtime.checkpoint import LINEAR as LINEAR_CKPT
from core.runtime.checkpoint import PRETRAIN as PRETRAIN_CKPT
from core.runtime.checkpoint import drop_previous, load_checkpoint, save_checkpoint
from core.runtime.checkpoint_policy import SAFE, CheckpointError, CheckpointPolicy
from core.runtime.progress_hooks import PRETRAIN, Progress, timed_stage
from core.runtime.run_directory import FollowerRunDir, RunDir, base_meta
from core.runtime.stopping import Preempted, StopFlag, request_stop
from core.schema.numerics import NUMERICS_VERSION
from core.schema.record import COLLAPSED, NUMERICS_KEY, collapse_status
from core.train.resume_fit import pretraining_fit
from core.train.state import TrainState
from core.train.step import lr_as_tensor, step_function

__all__ = ["train", "Preempted", "request_stop", "build_optimizer", "set_lr", "resolve_device", "describe_device"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """'cpu (2 threads)' or 'cuda (NVIDIA H100 80GB HBM3)': where a result was computed."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def train(cfg: C.Config, run_dir: Path, meta: dict | None = None, log=functools.partial(print, flush=True),
          progress: Progress | None = None, checkpoints: CheckpointPolicy = SAFE) -> dict:
    """Run (or resume) one pre-training run (SimSiam, or a Sec. 6 method) and return its result dict.
    In a data-parallel run every rank calls this with the same arguments; only rank 0 writes `run_dir`, logs
    and reports progress (core.runtime.progress_hooks). A checkpoint that cannot be used raises CheckpointError (no
    result
    written), unless `checkpoints` says otherwise (core.runtime.checkpoint_policy)."""
    dp = distributed.current()
    rd = RunDir(run_dir, cfg.run.logger) if dp.main else FollowerRunDir(run_dir)
    if not dp.main:
        log, progress = _silent, None
    progress = progress or Progress()
    if not rd.file("config.yaml").exists():
        rd.write_config(cfg)
    if not rd.file("meta.json").exists():
        rd.write_meta({**(meta or {}), **base_meta()})
    t0, training = time.time(), None
    try:
        training = _Training(cfg, rd, log, dp, progress, checkpoints, started=t0)
        result = training.run()
        result.update(after_pretraining(cfg, rd, result, log, resolve_device(cfg.run.device), progress,
                                        checkpoints=checkpoints))
    except (Preempted, CheckpointError):
        progress.finish()
        raise
    except Exception as err:
        rd.write_error(traceback.format_exc())
        result = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
        log(f"[{rd.path.name}] failed: {result['reason']}")
    # every segment of a resumed run: the earlier ones up to the checkpoint this one resumed from, then this one
    earlier = training.earlier_s if training is not None else 0.0
    result.setdefault("wall_s", round(earlier + time.time() - t0, 1))
    rd.write_result(result)
    if dp.main and result["status"] != "failed" and cfg.run.keep_checkpoints < 2:
        for names in (PRETRAIN_CKPT, LINEAR_CKPT):                  # the run has ended: last.pt alone is kept
            drop_previous(rd.path, names)
    progress.finish()
    return result


def _silent(*args, **kwargs) -> None:
    pass


class _Training:
    """One run's training: the set-up (here), then the sections of the loop, each a method named for what it
    does: resume or start, the random network's monitor, the epochs (each: its steps, then its end), the
    final evaluation."""

    # ---- setup -----------------------------------------------------------------------------------
    def __init__(self, cfg: C.Config, rd: RunDir, log, dp: distributed.Dist, progress: Progress,
                 checkpoints: CheckpointPolicy = SAFE, started: float | None = None):
        self.cfg, self.rd, self.log, self.dp, self.progress = cfg, rd, log, dp, progress
        self.checkpoints = checkpoints
        self.started = time.time() if started is None else started   # this segment's start (wall_s)
        self.earlier_s = 0.0                    # wall seconds of the segments before this one (from the checkpoint)
        distributed.check_supported(cfg, dp.world)                               # before any work
        host_tuning.keep_large_buffers()        # large buffers stay on the heap: same bits, fewer page faults
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        self.device = device = resolve_device(cfg.run.device)
        precision.configure_backends(device)                                     # cudnn.benchmark on CUDA
        torch.manual_seed(cfg.run.seed)
        self.n_pairs = n_pairs = 2 if cfg.loss.symmetry == "asym2x" else 1        # Sec. 4.6
        self.source = source = make_source(cfg, device, n_pairs, dp.rank, dp.world)  # this rank's share of each batch
        check_sizes(cfg, source.n_train, "run", source.n_test)
        model = build_model(cfg, source.channels).to(device)                     # Table 1 h, Table 3 BN, App. B d
        model = distributed.convert_batchnorm(model, device)                     # BN over all ranks (W > 1 only)
        precision.prepare_model(model, cfg.run)                      # channels_last, compile (off by default)
        self.model = model
        o = cfg.optim
        self.peak_lr = scaled_lr(o.base_lr, o.batch_size)                        # Sec. 3: lr = base_lr x batch/256
        self.optimizer = build_optimizer(cfg, model, self.peak_lr)
        lr_as_tensor(self.optimizer, cfg.run, device)                            # run.compile_step only
        self.step_fn = step_function(cfg.run)                                    # train_step, or compiled
        self.spe = source.steps_per_epoch
        self.total_steps = o.epochs * (source.n_train // o.steps_as_batch if o.steps_as_batch else self.spe)
        self.schedule_epochs = self.total_steps / self.spe if o.steps_as_batch else None   # None: optim.epochs
        # the Sec. 6 switches, each read in one place: the target encoder (and the Sec. 5.2 targets), the objective
        self.targets = make_targets(cfg, model, source, n_pairs, device, self.total_steps)  # core/objective/targets.py
        self.objective = make_objective(cfg, model, device)                      # core/objective/objectives.py
        self.k = self.targets.block                                              # steps between stopping points
        self.sqrt_d = math.sqrt(cfg.model.dim)
        self.name = rd.path.name
        self.state = TrainState()
        self.evaluated = None                                    # (step, Features) of the latest kNN point
        self.z_floor, self.patience = cfg.eval.collapse_frac / self.sqrt_d, cfg.eval.collapse_patience

    def run(self) -> dict:
        self.resume_or_start()
        self.progress.start(PRETRAIN, self.state.step, self.total_steps, self.spe)
        if self.state.knn_acc_init is None:                      # what a random network already scores
            self.monitor_random_init()
        diverged = self.train_epochs()
        return diverged if diverged is not None else self.final_result()

    # ---- resume or start -------------------------------------------------------------------------
    def resume_or_start(self) -> None:
        rd, model, optimizer, targets, objective = self.rd, self.model, self.optimizer, self.targets, self.objective
        ckpt = load_checkpoint(rd.path, map_location=self.device, policy=self.checkpoints, log=self.log,
                               main=self.dp.main, fits=pretraining_fit(model, optimizer, targets, objective))
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["torch_rng"])
            targets.load_state_dict(ckpt.get("targets", ckpt.get("eta")))          # "eta": checkpoints before Sec. 6
            objective.load_state_dict(ckpt.get("objective"))
            self.state = TrainState.from_dict(ckpt["state"])
            self.earlier_s = self.state.wall_s
            rd.truncate_metrics(self.state.step)
            self.log(f"[{self.name}] resumed at step {self.state.step} (epoch {self.state.step / self.spe:.2f})")
        else:
            rd.discard_metrics()  # a run killed before its first checkpoint starts over
            rd.write_meta({**rd.read_meta(), NUMERICS_KEY: NUMERICS_VERSION})   # the numerics that train it
            targets.start(model, self.source)                               # Sec. 5.3: eta from the initial network

    def checkpoint(self) -> None:
        self.state.wall_s = self.earlier_s + time.time() - self.started     # the run's wall time up to here
        if self.dp.main:
            save_checkpoint(self.rd.path, {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                           "torch_rng": torch.get_rng_state(), "state": self.state.to_dict(),
                                           "targets": self.targets.state_dict(),
                                           "objective": self.objective.state_dict()})

    def monitor_random_init(self) -> None:
        state = self.state
        with timed_stage(self.progress, "kNN monitor of the random network") as took:
            init = monitor(features(self.model.backbone, self.source), self.source.num_classes, self.cfg.eval)
        state.knn_acc_init, state.init = init["knn_acc"], init
        self.rd.append_metrics({"epoch": 0.0, "step": 0, "loss": None, "z_std": None, **init})
        self.log(f"[{self.name}] random-init kNN acc {state.knn_acc_init:.2f}%, backbone std "
                 f"{init['backbone_std']:.4f} erank {init['backbone_erank']:.1f} (kNN monitor {took.seconds:.1f}s)")
        self.checkpoint()

    def log_row(self, row: dict) -> bool:
        """Append a metrics row; True once z_std stayed below the collapse floor for collapse_patience rows."""
        self.rd.append_metrics(row)
        self.progress.advance(row["step"], row["loss"])          # read for the row already: no extra sync
        if self.state.note_row(row, self.z_floor, self.patience):
            self.log(f"[{self.name}] collapsed since epoch {self.state.below.since}: z_std below {self.z_floor:.5f} "
                     f"for {self.patience} logging points; stopping early")
        return self.state.stopped_early

    def stop_asked(self, flag: bool) -> bool:
        """Whether any rank was signalled to stop (a collective: all ranks call it at the same steps)."""
        if not self.dp.active:
            return flag
        return bool(distributed.all_reduce_sum(torch.tensor([float(flag)], device=self.device), self.dp.world).item())

    def preempted(self) -> Preempted:
        """The checkpoint is saved: where the run stopped, for whoever stopped it."""
        step = self.state.step
        return Preempted(f"stopped at step {step} of {self.total_steps} (epoch {step / self.spe:.2f} of "
                         f"{self.cfg.optim.epochs}); last.pt saved")

    # ---- train -----------------------------------------------------------------------------------
    def train_epochs(self) -> dict | None:
        """Every epoch still to train; the result of a diverged run, else None."""
        state = self.state
        self.model.train()
        with StopFlag() as stop:
            while state.step < self.total_steps and not state.stopped_early:
                epoch, start = divmod(state.step, self.spe)
                t_epoch = time.time()
                lr, out, diverged = self.train_epoch(epoch, start, stop)
                if diverged is not None:
                    return diverged
                state.train_s += time.time() - t_epoch
                if state.stopped_early:
                    break
                if self.end_of_epoch(epoch, lr, out, t_epoch, stop):
                    break
        return None

    def train_epoch(self, epoch: int, start: int, stop: StopFlag):
        """The steps of `epoch` from `start`: (the last lr, the last step's output, a diverged run's result)."""
        cfg, state, spe, dp, k, device = self.cfg, self.state, self.spe, self.dp, self.k, self.device
        sums = state.device_sums(device)           # loss and z_std summed on the device (core.train.state)
        pulled = state.step
        for i, (pairs, idx) in enumerate(self.source.train_epoch(epoch, start, self.n_pairs), start=start):
            lr = set_lr(self.optimizer, cfg, self.peak_lr, epoch + i / spe, self.schedule_epochs)
            self.targets.begin(epoch, i)             # k-step: targets for the next k steps, theta fixed (Eq. 10)
            out = self.step_fn(self.model, self.optimizer, pairs, idx, self.targets, self.objective, cfg.run,
                               state.step, dp.world)
            state.add_step()
            step_stats = out.stats
            if dp.active:                                    # the mean over ranks, so every rank logs alike
                step_stats = distributed.all_reduce_sum(step_stats, dp.world) / dp.world
            sums += step_stats                               # (2,) onto both rows; no host sync
            last = state.step == self.total_steps            # optim.steps_as_batch can end inside an epoch
            log_now = state.step % cfg.run.log_every == 0 and i < spe - 1 and not last   # the end row logs it
            # stop between steps, but not inside a k-step block (its targets are not checkpointed) and not
            # at an epoch's last step (its end-of-epoch work comes first); data-parallel ranks agree on it
            # at logging points only (one all-reduce there, none per step)
            stop_now = ((not dp.active or log_now) and i < spe - 1 and (i + 1) % k == 0
                        and self.stop_asked(stop.set))
            if log_now or stop_now or i == spe - 1 or last:
                if not state.pull(sums):  # a NaN/inf loss or z_std is caught here, within log_every steps
                    self.log(f"[{self.name}] diverged: non-finite loss or z_std in steps {pulled + 1}-{state.step}")
                    return lr, out, diverged_result(state, spe)
                pulled = state.step
            if log_now:
                collapsed_now = self.log_row({"epoch": round(state.step / spe, 4), "step": state.step, "lr": lr,
                                              **state.acc.flush(), "z_erank": effective_rank(out.z1).item()})
                sums[0].zero_()
                if collapsed_now:
                    break
            if stop_now:
                self.checkpoint()
                raise self.preempted()
            if last:
                break
        return lr, out, None

    # ---- end of epoch: log, kNN monitor, checkpoint ----------------------------------------------
    def end_of_epoch(self, epoch: int, lr: float, out, t_epoch: float, stop: StopFlag) -> bool:
        """Log the epoch's row (with a kNN point when due) and checkpoint; True when training stops here."""
        cfg, state = self.cfg, self.state
        done = state.step >= self.total_steps
        epochs = -(-self.total_steps // self.spe)                  # the epochs begun (optim.steps_as_batch)
        row = {"epoch": float(epoch + 1) if state.step % self.spe == 0 else round(state.step / self.spe, 4),
               "step": state.step, "lr": lr, **state.acc.flush(),
               "z_erank": effective_rank(out.z1).item()}
        every, knn_s = cfg.eval.knn_every, None
        if (every and (epoch + 1) % every == 0) or done:
            with timed_stage(self.progress, "kNN monitor") as took:
                self.evaluated = (state.step, features(self.model.backbone, self.source))
                row.update(monitor(self.evaluated[1], self.source.num_classes, cfg.eval))
            knn_s = took.seconds
        if self.log_row(row):
            self.checkpoint()
            return True
        if not done:
            state.epoch_acc.flush()
        knn = (f" knn {row['knn_acc']:.2f}% backbone std {row['backbone_std']:.4f} erank "
               f"{row['backbone_erank']:.1f} (kNN monitor {knn_s:.1f}s)") if "knn_acc" in row else ""
        self.log(f"[{self.name}] epoch {epoch + 1}/{epochs} loss {row['loss']:.4f} z_std {row['z_std']:.4f} "
                 f"(1/sqrt(d) {1 / self.sqrt_d:.4f}){knn} {time.time() - t_epoch:.1f}s")
        self.checkpoint()
        if self.stop_asked(stop.set):
            raise self.preempted()
        return False

    # ---- final evaluation and status -------------------------------------------------------------
    def final_result(self) -> dict:
        cfg, state, source, sqrt_d = self.cfg, self.state, self.source, self.sqrt_d
        final = state.epoch_acc.means()                              # means over the last epoch
        n = cfg.eval.linear_epochs
        what = "final evaluation: kNN monitor" + (f", linear probe ({n} epoch{'s' if n != 1 else ''} on cached "
                                                  "features)" if cfg.eval.linear == "sgd" else "")
        with timed_stage(self.progress, what) as took:
            evaluated = self.evaluated
            feats = (evaluated[1] if evaluated is not None and evaluated[0] == state.step
                     else features(self.model.backbone, source))
            evals = monitor(feats, source.num_classes, cfg.eval)     # the last kNN point's, when it was at this step
            linear_acc = linear_accuracy(feats, source.num_classes, cfg.eval, cfg.run.seed)
        status = COLLAPSED if state.stopped_early else collapse_status(
            final["z_std"], cfg.model.dim, cfg.eval.collapse_frac, cfg.eval.near_collapse_frac)
        init = state.init or {}
        result = {"status": status, "epoch": round(state.step / self.spe, 4), "step": state.step,
                  "loss": final["loss"], "z_std": final["z_std"], "z_std_ref": 1 / sqrt_d,
                  "z_erank": state.z_erank, "stopped_early": state.stopped_early,
                  "collapsed_at_epoch": state.below.since if status == COLLAPSED else None,
                  "knn_acc": evals["knn_acc"], "knn_acc_init": state.knn_acc_init, "linear_acc": linear_acc,
                  "backbone_std": evals["backbone_std"], "backbone_erank": evals["backbone_erank"],
                  "backbone_std_ref": 1 / math.sqrt(feats.query.shape[1]),
                  "backbone_std_init": init.get("backbone_std"), "backbone_erank_init": init.get("backbone_erank"),
                  "train_s": round(state.train_s, 1), "device": describe_device(self.device),
                  "world_size": self.dp.world, "num_classes": source.num_classes,
                  "eval": protocol(cfg.eval, source.n_train, source.n_test)}
        self.log(f"[{self.name}] done: {result['status']} loss {result['loss']:.4f} z_std {result['z_std']:.4f} "
                 f"knn {result['knn_acc']:.2f}% (init {result['knn_acc_init']:.2f}%) linear "
                 f"{_pct(result['linear_acc'])} backbone std {result['backbone_std']:.4f} erank "
                 f"{result['backbone_erank']:.1f} (final evaluation {took.seconds:.1f}s)")
        return result


def diverged_result(state: TrainState, spe: int) -> dict:
    """result.json of a run whose loss or z_std became NaN/inf (status diverged, no final metrics)."""
    return {"status": "diverged", "epoch": round(state.step / spe, 3), "step": state.step,
            "loss": None, "z_std": None, "knn_acc": None, "linear_acc": None,
            "knn_acc_init": state.knn_acc_init, "train_s": round(state.train_s, 1)}


def _pct(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}%"
