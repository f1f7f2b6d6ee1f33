"""The training loop: one function that reads top to bottom.

`train(cfg, run_dir, meta)` writes the whole run directory (core.rundir), resumes from `last.pt` if one
exists, and ends with `result.json` whose status is ok, collapsed, diverged (NaN/inf loss) or failed
(exception; the traceback goes to error.txt). SIGTERM/SIGUSR1 save a checkpoint at the next step and raise
`Preempted`, so a scheduler can requeue the run and it resumes where it stopped.

Under a torch.distributed process group of W > 1 processes the run trains data-parallel (core.distributed):
each rank a B/W share of every batch, batch norm over all B, gradients averaged, rank 0 alone writing the
run directory, and a stop signal acted on at the next logging point all ranks agree on.
"""
from __future__ import annotations

import functools
import itertools
import math
import signal
import threading
import time
import traceback
from pathlib import Path

import torch

from core import config as C
from core import distributed, precision
from core.batches import make_source
from core.checkpoint import load_checkpoint, save_checkpoint
from core.evaluate import features, linear_accuracy, monitor, protocol
from core.lars import LARS
from core.linear_eval import after_pretraining
from core.losses import simsiam_loss
from core.model import SimSiam
from core.monitors import effective_rank, z_std
from core.numerics import NUMERICS_VERSION
from core.record import COLLAPSED, NUMERICS_KEY, collapse_status
from core.rundir import FollowerRunDir, RunDir, base_meta
from core.schedule import cosine_lr, scaled_lr
from core.targets import MovingAverageTargets, frozen_bn_stats, kstep_targets


class Preempted(Exception):
    """Raised after a checkpoint was saved because SIGTERM/SIGUSR1 asked the run to stop."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """'cpu (2 threads)' or 'cuda (NVIDIA H100 80GB HBM3)': where a result was computed."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


class StopFlag:
    """Set by SIGTERM/SIGUSR1 (main thread only) or `request_stop()` while training; checked between steps."""
    active: "StopFlag | None" = None        # the flag of the training loop running in this process, if any

    def __init__(self):
        self.set, self._old = False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                self._old[sig] = signal.signal(sig, self._handle)
        StopFlag.active = self
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        StopFlag.active = None
        for sig, old in self._old.items():
            signal.signal(sig, old)


def request_stop() -> bool:
    """Ask the running training loop to checkpoint at its next step boundary and raise `Preempted`, as
    SIGTERM does. False when no loop is training (set-up, evaluation, or none). Safe in a signal handler."""
    flag = StopFlag.active
    if flag is None:
        return False
    flag.set = True
    return True


def train(cfg: C.Config, run_dir: Path, meta: dict | None = None, log=functools.partial(print, flush=True)) -> dict:
    """Run (or resume) one SimSiam pre-training run and return its result dict. In a data-parallel run every
    rank calls this with the same arguments; only rank 0 writes `run_dir` and logs."""
    dp = distributed.current()
    rd = RunDir(run_dir, cfg.run.logger) if dp.main else FollowerRunDir(run_dir)
    if not dp.main:
        log = _silent
    if not rd.file("config.yaml").exists():
        rd.write_config(cfg)
    if not rd.file("meta.json").exists():
        rd.write_meta({**(meta or {}), **base_meta()})
    t0 = time.time()
    try:
        result = _train(cfg, rd, log, dp)
        result.update(after_pretraining(cfg, rd, result, log, resolve_device(cfg.run.device), StopFlag, Preempted))
    except Preempted:
        raise
    except Exception as err:
        rd.write_error(traceback.format_exc())
        result = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
        log(f"[{rd.path.name}] failed: {result['reason']}")
    result.setdefault("wall_s", round(time.time() - t0, 1))
    rd.write_result(result)
    return result


def _silent(*args, **kwargs) -> None:
    pass


def build_optimizer(cfg: C.Config, model: SimSiam, lr: float) -> torch.optim.Optimizer:
    """Param groups 'encoder' (f) and, when h has trainable parameters, 'predictor'; wd on all (Sec. 3)."""
    groups = [{"params": model.encoder_parameters(), "name": "encoder"}]
    if model.predictor_parameters():
        groups.append({"params": model.predictor_parameters(), "name": "predictor"})
    o = cfg.optim
    if o.optimizer == "lars":
        return LARS(groups, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay, trust=o.lars_trust)
    return torch.optim.SGD(groups, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, cfg: C.Config, peak_lr: float, epoch: float) -> float:
    """Cosine (with warm-up) for f; h the same, or held at the peak after warm-up (Table 1c)."""
    o = cfg.optim
    lr = cosine_lr(peak_lr, epoch, o.epochs, o.warmup_epochs)
    ramp = min(1.0, epoch / o.warmup_epochs) if o.warmup_epochs else 1.0
    for group in optimizer.param_groups:
        constant = group["name"] == "predictor" and o.pred_lr == "constant"
        group["lr"] = peak_lr * ramp if constant else lr
    return lr


def _train(cfg: C.Config, rd: RunDir, log, dp: distributed.Dist) -> dict:
    # ---- setup -----------------------------------------------------------------------------------
    distributed.check_supported(cfg, dp.world)                                   # before any work
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = resolve_device(cfg.run.device)
    precision.configure_backends(device)                                         # cudnn.benchmark on CUDA
    torch.manual_seed(cfg.run.seed)
    # the ablation switches, each read here once
    stop_grad, similarity = cfg.model.stop_grad, cfg.loss.similarity            # Fig. 2; Sec. 4.5
    n_pairs = 2 if cfg.loss.symmetry == "asym2x" else 1                           # Sec. 4.6
    symmetric = cfg.loss.symmetry == "sym"
    source = make_source(cfg, device, n_pairs, dp.rank, dp.world)              # this rank's share of each batch
    model = SimSiam(cfg.model, source.channels).to(device)                       # Table 1 h, Table 3 BN, App. B d
    model = distributed.convert_batchnorm(model, device)                         # BN over all ranks (W > 1 only)
    precision.prepare_model(model, cfg.run)                                      # channels_last, compile (off by default)
    o = cfg.optim
    peak_lr = scaled_lr(o.base_lr, o.batch_size)                                 # Sec. 3: lr = base_lr x batch/256
    optimizer = build_optimizer(cfg, model, peak_lr)
    spe, total_steps = source.steps_per_epoch, o.epochs * source.steps_per_epoch
    k = cfg.target.k_steps or spe                                                # Sec. 5.2: k-step alternation
    ema = (MovingAverageTargets(source.n_train, cfg.model.dim, cfg.target.eta_momentum, device)
           if cfg.target.eta == "moving_average" else None)                      # Sec. 5.2: moving-average eta
    sqrt_d = math.sqrt(cfg.model.dim)
    name = rd.path.name

    # ---- resume or start -------------------------------------------------------------------------
    state = {"step": 0, "knn_acc_init": None, "train_s": 0.0,
             "acc": {"loss": 0.0, "z_std": 0.0, "n": 0}, "epoch_acc": {"loss": 0.0, "z_std": 0.0, "n": 0}}
    ckpt = load_checkpoint(rd.path, map_location=device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ema is not None:
            ema.load_state_dict(ckpt["eta"])
        state = ckpt["state"]
        rd.truncate_metrics(state["step"])
        log(f"[{name}] resumed at step {state['step']} (epoch {state['step'] / spe:.2f})")
    else:
        rd.discard_metrics()  # a run killed before its first checkpoint starts over
        rd.write_meta({**rd.read_meta(), NUMERICS_KEY: NUMERICS_VERSION})   # the numerics that train it
        if ema is not None and cfg.target.eta_init == "network":       # Sec. 5.3: eta from the initial network
            with precision.autocast(device, cfg.run.precision):
                ema.start_from(model, source.eval_batches("train"))

    def checkpoint():
        if not dp.main:
            return
        save_checkpoint(rd.path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                  "torch_rng": torch.get_rng_state(), "state": state,
                                  "eta": ema.state_dict() if ema is not None else None})

    if state["knn_acc_init"] is None:                            # what a random network already scores
        init = monitor(features(model.backbone, source), source.num_classes, cfg.eval)
        state["knn_acc_init"], state["init"] = init["knn_acc"], init
        rd.append_metrics({"epoch": 0.0, "step": 0, "loss": None, "z_std": None, **init})
        log(f"[{name}] random-init kNN acc {state['knn_acc_init']:.2f}%, backbone std {init['backbone_std']:.4f} "
            f"erank {init['backbone_erank']:.1f}")
        checkpoint()
    evaluated = None                                             # (step, Features) of the latest kNN point

    def flush(acc: dict) -> dict:
        n = max(acc["n"], 1)
        out = {"loss": acc["loss"] / n, "z_std": acc["z_std"] / n}
        acc.update(loss=0.0, z_std=0.0, n=0)
        return out

    def pull(sums: torch.Tensor) -> bool:
        """Copy the device sums into state (the one host sync per log interval); False if any was NaN/inf."""
        (a_loss, a_std), (e_loss, e_std) = sums.tolist()
        state["acc"].update(loss=a_loss, z_std=a_std)
        state["epoch_acc"].update(loss=e_loss, z_std=e_std)
        return all(math.isfinite(v) for v in (a_loss, a_std, e_loss, e_std))

    state.setdefault("below", {"points": 0, "since": None})   # collapse early-stop (eval.collapse_patience)
    state.setdefault("stopped_early", False)
    state.setdefault("z_erank", None)
    z_floor = cfg.eval.collapse_frac / sqrt_d

    def log_row(row: dict) -> bool:
        """Append a metrics row; True once z_std stayed below the collapse floor for collapse_patience rows."""
        rd.append_metrics(row)
        state["z_erank"] = row.get("z_erank", state["z_erank"])
        below = state["below"]
        if row["z_std"] < z_floor:
            below["points"] += 1
            below["since"] = row["epoch"] if below["since"] is None else below["since"]
        else:
            below.update(points=0, since=None)
        patience = cfg.eval.collapse_patience
        state["stopped_early"] = bool(patience) and below["points"] >= patience
        if state["stopped_early"]:
            log(f"[{name}] collapsed since epoch {below['since']}: z_std below {z_floor:.5f} for {patience} "
                f"logging points; stopping early")
        return state["stopped_early"]

    def stop_asked(flag: bool) -> bool:
        """Whether any rank was signalled to stop (a collective: all ranks call it at the same steps)."""
        if not dp.active:
            return flag
        return bool(distributed.all_reduce_sum(torch.tensor([float(flag)], device=device), dp.world).item())

    # ---- train -----------------------------------------------------------------------------------
    model.train()
    with StopFlag() as stop:
        while state["step"] < total_steps and not state["stopped_early"]:
            epoch, start = divmod(state["step"], spe)
            t_epoch = time.time()
            # per-step loss and z_std are summed on the device and read every log_every steps, not every step.
            # Rows: since the last log point, this epoch; columns: loss, z_std. float64, so the sums are the
            # same additions, in the same order, as the Python-float sums they replace (bit for bit on CPU).
            acc, eacc = state["acc"], state["epoch_acc"]
            sums = torch.tensor([[acc["loss"], acc["z_std"]], [eacc["loss"], eacc["z_std"]]],
                                dtype=torch.float64, device=device)
            pulled = state["step"]
            for i, (pairs, idx) in enumerate(source.train_epoch(epoch, start, n_pairs), start=start):
                lr = set_lr(optimizer, cfg, peak_lr, epoch + i / spe)
                if k != 1 and i % k == 0:                        # Eq. 10: targets for the next k steps, theta fixed
                    coming = itertools.islice(source.train_epoch(epoch, i, n_pairs), min(k, spe - i))
                    with frozen_bn_stats(model), precision.autocast(device, cfg.run.precision):
                        cached = kstep_targets(model.f, [ps for ps, _ in coming])

                losses = []
                for j, (x1, x2) in enumerate(pairs):
                    p1, p2, z1, z2 = precision.forward(model, x1, x2, cfg.run)  # (B, d) each, fp32
                    if ema is not None:
                        t1 = t2 = ema.update(idx, z1, z2)
                    elif k != 1:
                        t1, t2 = cached[i % k][j]
                    else:
                        t1, t2 = z1, z2
                    losses.append(simsiam_loss(p1, p2, t1, t2, stop_grad, similarity, symmetric))
                    if j == 0:
                        std_t, z_first = z_std(z1), z1
                loss = sum(losses) / len(losses)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                distributed.average_gradients(model.parameters(), dp.world)    # W > 1: mean over ranks
                optimizer.step()

                state["step"] += 1
                step_stats = torch.stack([loss.detach().double(), std_t.double()])
                if dp.active:                                    # the mean over ranks, so every rank logs alike
                    step_stats = distributed.all_reduce_sum(step_stats, dp.world) / dp.world
                sums += step_stats                               # (2,) onto both rows; no host sync
                acc["n"] += 1
                eacc["n"] += 1
                log_now = state["step"] % cfg.run.log_every == 0 and i < spe - 1
                # stop between steps, but not inside a k-step block (its targets are not checkpointed) and not
                # at an epoch's last step (its end-of-epoch work comes first); data-parallel ranks agree on it
                # at logging points only (one all-reduce there, none per step)
                stop_now = ((not dp.active or log_now) and i < spe - 1 and (i + 1) % k == 0
                            and stop_asked(stop.set))
                if log_now or stop_now or i == spe - 1:
                    if not pull(sums):        # a NaN/inf loss or z_std is caught here, within log_every steps
                        log(f"[{name}] diverged: non-finite loss or z_std in steps {pulled + 1}-{state['step']}")
                        return {"status": "diverged", "epoch": round(state["step"] / spe, 3), "step": state["step"],
                                "loss": None, "z_std": None, "knn_acc": None, "linear_acc": None,
                                "knn_acc_init": state["knn_acc_init"], "train_s": round(state["train_s"], 1)}
                    pulled = state["step"]
                if log_now:
                    collapsed_now = log_row({"epoch": round(state["step"] / spe, 4), "step": state["step"], "lr": lr,
                                             **flush(acc), "z_erank": effective_rank(z_first).item()})
                    sums[0].zero_()
                    if collapsed_now:
                        break
                if stop_now:
                    checkpoint()
                    raise Preempted(f"stopped by signal at step {state['step']}")
            state["train_s"] += time.time() - t_epoch
            if state["stopped_early"]:
                break

            # ---- end of epoch: log, kNN monitor, checkpoint ----------------------------------------
            row = {"epoch": float(epoch + 1), "step": state["step"], "lr": lr, **flush(state["acc"]),
                   "z_erank": effective_rank(z_first).item()}
            every = cfg.eval.knn_every
            if (every and (epoch + 1) % every == 0) or epoch + 1 == o.epochs:
                evaluated = (state["step"], features(model.backbone, source))
                row.update(monitor(evaluated[1], source.num_classes, cfg.eval))
            if log_row(row):
                checkpoint()
                break
            if epoch + 1 < o.epochs:
                state["epoch_acc"] = {"loss": 0.0, "z_std": 0.0, "n": 0}
            knn = (f" knn {row['knn_acc']:.2f}% backbone std {row['backbone_std']:.4f} erank "
                   f"{row['backbone_erank']:.1f}") if "knn_acc" in row else ""
            log(f"[{name}] epoch {epoch + 1}/{o.epochs} loss {row['loss']:.4f} z_std {row['z_std']:.4f} "
                f"(1/sqrt(d) {1 / sqrt_d:.4f}){knn} {time.time() - t_epoch:.1f}s")
            checkpoint()
            if stop_asked(stop.set):
                raise Preempted(f"stopped by signal at step {state['step']}")

    # ---- final evaluation and status -------------------------------------------------------------
    final = flush(dict(state["epoch_acc"]))                      # means over the last epoch
    feats = evaluated[1] if evaluated is not None and evaluated[0] == state["step"] else features(model.backbone, source)
    evals = monitor(feats, source.num_classes, cfg.eval)         # the last kNN point's, when it was at this step
    status = COLLAPSED if state["stopped_early"] else collapse_status(
        final["z_std"], cfg.model.dim, cfg.eval.collapse_frac, cfg.eval.near_collapse_frac)
    init = state.get("init") or {}
    result = {"status": status, "epoch": round(state["step"] / spe, 4), "step": state["step"],
              "loss": final["loss"], "z_std": final["z_std"], "z_std_ref": 1 / sqrt_d,
              "z_erank": state["z_erank"], "stopped_early": state["stopped_early"],
              "collapsed_at_epoch": state["below"]["since"] if status == COLLAPSED else None,
              "knn_acc": evals["knn_acc"], "knn_acc_init": state["knn_acc_init"],
              "linear_acc": linear_accuracy(feats, source.num_classes, cfg.eval, cfg.run.seed),
              "backbone_std": evals["backbone_std"], "backbone_erank": evals["backbone_erank"],
              "backbone_std_ref": 1 / math.sqrt(feats.query.shape[1]),
              "backbone_std_init": init.get("backbone_std"), "backbone_erank_init": init.get("backbone_erank"),
              "train_s": round(state["train_s"], 1), "device": describe_device(device), "world_size": dp.world,
              "eval": protocol(cfg.eval, source.n_train, source.n_test)}
    log(f"[{name}] done: {result['status']} loss {result['loss']:.4f} z_std {result['z_std']:.4f} "
        f"knn {result['knn_acc']:.2f}% (init {result['knn_acc_init']:.2f}%) linear {_pct(result['linear_acc'])} "
        f"backbone std {result['backbone_std']:.4f} erank {result['backbone_erank']:.1f}")
    return result


def _pct(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}%"
