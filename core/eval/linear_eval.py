"""The paper's linear evaluation (App. A; official main_lincls.py): `eval.linear: paper`, or sweeps.evaluate.

A linear classifier on the frozen backbone's pool5 features, trained on augmented crops and tested on centre
crops. It is a stage of the run directory after pre-training, with its own checkpoint and record:

    backbone    last.pt's, without gradient and in eval mode throughout: its BN layers use their running
                statistics also while the classifier trains (main_lincls.py calls model.eval() before training)
    classifier  fc: feature dim -> classes, weight ~ N(0, 0.01), bias 0 (main_lincls.py)
    optimizer   LARS on every fc parameter, the bias included (apex LARC, trust eval.lincls_trust, no clipping),
                momentum 0.9, wd 0, lr = lincls_base_lr x lincls_batch / 256, cosine decay set once per epoch,
                no warm-up; cross-entropy, the mean over the whole batch
    data        core.data.linear_eval_images: random resized crop (0.08-1) + flip for training; resize + centre crop
                for testing
    result      top-1 on the test split after every epoch (main_lincls.py validates every epoch); the last epoch's
                is `linear_acc_paper`, the best (main_lincls.py keeps model_best.pth.tar) `linear_acc_paper_best`

linear.pt (classifier, optimizer, step, per-epoch top-1, the protocol and the pre-training step it belongs to)
is saved at the end of every epoch and when a stop signal arrives (at the next step); linear_eval.json is the
stage's record, rewritten every epoch. A stage that finds a linear.pt of another protocol, or of another
pre-training checkpoint, starts over. Data-parallel runs evaluate data-parallel: each rank a share of every
batch (core.data.linear_eval_images), gradients averaged, rank 0 writing; no BN is synchronized, as every BN is in eval
mode.
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.config.hyperparameters import Config, EvalConfig, RunConfig
from core.data.batches import make_source
from core.data.linear_eval_images import SALT, LinclsImages, resize_size
from core.model.simsiam import SimSiam, build_model
from core.optim.lars import LARS
from core.optim.schedule import cosine_lr, scaled_lr
from core.runtime import distributed, precision
from core.runtime.checkpoint import LINEAR, load_checkpoint, load_final, save_checkpoint
from core.runtime.checkpoint_fit import linear_fit, weights_fit
from core.runtime.checkpoint_policy import SAFE, CheckpointPolicy
from core.runtime.progress_hooks import LINEAR_EVAL as PHASE
from core.runtime.progress_hooks import Progress, timed_stage
from core.runtime.run_directory import RunDir
from core.runtime.stopping import Preempted, StopFlag
from core.schema.record import LINEAR_EVAL, LINEAR_PAPER, LINEAR_PROTOCOL, TRAINED

LARC_EPS = 1e-8                    # apex LARC's eps in the trust ratio's denominator
FC_INIT_STD = 0.01                 # main_lincls.py: fc.weight ~ N(0, 0.01), fc.bias = 0


class LinearEvalError(RuntimeError):
    """Nothing to evaluate (no pre-training checkpoint); the message says what is missing."""


def protocol(cfg: Config) -> dict:
    """Everything the stage's numbers depend on beyond the pre-trained weights; linear.pt must match it."""
    e = cfg.eval
    return {"protocol": LINEAR_PAPER, "epochs": e.lincls_epochs, "batch": e.lincls_batch,
            "base_lr": e.lincls_base_lr, "lr": scaled_lr(e.lincls_base_lr, e.lincls_batch),
            "momentum": e.lincls_momentum, "weight_decay": e.lincls_weight_decay, "trust": e.lincls_trust,
            "crop_scale": [e.lincls_crop_scale_min, 1.0], "image_size": cfg.data.image_size,
            "test_resize": resize_size(cfg.data.image_size), "seed": cfg.run.seed}


def describe(e: EvalConfig) -> str:
    """The protocol in one line, as result.json's `eval` records it."""
    return (f"paper (App. A, main_lincls.py): fc on frozen pool5 features, backbone BN in eval mode; LARS trust "
            f"{e.lincls_trust:g} on all fc parameters, batch {e.lincls_batch}, lr {e.lincls_base_lr:g} x "
            f"{e.lincls_batch}/256, cosine per epoch, {e.lincls_epochs} ep, wd {e.lincls_weight_decay:g}, momentum "
            f"{e.lincls_momentum:g}; random resized crop ({e.lincls_crop_scale_min:g}-1) + flip for training, resize "
            f"256/224 + centre crop for testing; last epoch's top-1")


def build_classifier(dim: int, classes: int, seed: int, device: torch.device) -> nn.Linear:
    """fc with weight ~ N(0, 0.01) and bias 0 (main_lincls.py), drawn from the run's seed alone."""
    fc = nn.Linear(dim, classes)
    with torch.no_grad():
        fc.weight.normal_(0.0, FC_INIT_STD, generator=torch.Generator().manual_seed(seed + SALT))
        fc.bias.zero_()
    return fc.to(device)


def build_optimizer(classifier: nn.Module, e: EvalConfig) -> LARS:
    """apex LARC (no clipping) around momentum SGD, as main_lincls.py --lars: the ratio on every parameter."""
    return LARS(classifier.parameters(), lr=scaled_lr(e.lincls_base_lr, e.lincls_batch), momentum=e.lincls_momentum,
                weight_decay=e.lincls_weight_decay, trust=e.lincls_trust, larc=True, eps=LARC_EPS)


def epoch_lr(e: EvalConfig, epoch: int) -> float:
    """main_lincls.py's adjust_learning_rate: lr x 0.5 (1 + cos(pi epoch / epochs)), once per epoch."""
    return cosine_lr(scaled_lr(e.lincls_base_lr, e.lincls_batch), epoch, e.lincls_epochs)


def pretrained_model(cfg: Config, channels: int) -> SimSiam:
    """The model whose state dict last.pt's "model" is loaded into (built on the meta device to check a fit):
    the run's own, SwAV's prototypes included."""
    return build_model(cfg, channels)


def frozen_backbone(cfg: Config, weights: dict, channels: int, device: torch.device) -> tuple[nn.Module, int]:
    """The pre-trained backbone from a SimSiam state dict, frozen and in eval mode; and its feature dim."""
    model = pretrained_model(cfg, channels)
    model.load_state_dict(weights)
    backbone = model.backbone.to(device).eval().requires_grad_(False)
    if cfg.run.channels_last:
        backbone.to(memory_format=torch.channels_last)
    return backbone, model.feature_dim


def pool5(backbone: nn.Module, x: torch.Tensor, run: RunConfig) -> torch.Tensor:
    """(B, D) fp32 features of the frozen backbone, at the run's precision and memory format, no graph."""
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), precision.autocast(x.device, run.precision):
        return backbone(x).float()


def top1(backbone: nn.Module, classifier: nn.Module, images: LinclsImages, run: RunConfig) -> float:
    """Top-1 (%) on the test split (each rank its part, counts summed over ranks)."""
    counts = torch.zeros(2, dtype=torch.float64, device=images.source.device)      # correct, seen
    with torch.no_grad():
        for x, y in images.test_batches():
            pred = classifier(pool5(backbone, x, run)).argmax(dim=1)
            counts += torch.stack([(pred == y).sum(), torch.tensor(len(y), device=y.device)]).double()
    correct, seen = distributed.all_reduce_sum(counts, images.world).tolist()
    return 100.0 * correct / max(seen, 1)


def run_stage(cfg: Config, rd: RunDir, log, device: torch.device, progress: Progress | None = None,
              checkpoints: CheckpointPolicy = SAFE) -> dict:
    """Train (or resume, or just read back) the paper's linear evaluation of rd's last.pt; its record.

    A SIGINT/SIGTERM/SIGUSR1 (core.runtime.stopping's StopFlag, as in pre-training) saves linear.pt at the next
    step and raises Preempted. `progress` hears of every step (core.runtime.progress_hooks; no loss is read for
    it). last.pt is read as it is (no older checkpoint in its place); a linear.pt that cannot be used gives way
    to linear.prev.pt (core.runtime.checkpoint), under `checkpoints`."""
    dp, e, name = distributed.current(), cfg.eval, rd.path.name
    progress = progress or Progress()
    if dp.active:
        torch.distributed.barrier()                          # rank 0 has saved last.pt before it gets here
    source = make_source(cfg, device, 1, dp.rank, dp.world)
    ckpt = _pretrained(cfg, rd, source.channels, checkpoints, log)
    backbone, dim = frozen_backbone(cfg, ckpt["model"], source.channels, device)
    frozen = {k: v.clone() for k, v in backbone.state_dict().items()}
    images = LinclsImages(source, cfg, dp.rank, dp.world)
    classifier = build_classifier(dim, source.num_classes, cfg.run.seed, device)
    optimizer = build_optimizer(classifier, e)
    spe, proto = images.steps_per_epoch, protocol(cfg)
    saved = load_checkpoint(rd.path, map_location=device, names=LINEAR, policy=checkpoints, log=log, main=dp.main,
                            fits=linear_fit(classifier, optimizer))
    state = _resume(saved, proto, ckpt["state"]["step"], classifier, optimizer,
                    lambda s: log(f"[{name}] linear eval (paper) {s}"))
    if state["step"]:
        log(f"[{name}] linear eval (paper) resumed at epoch {state['step'] / spe:.2f} of {e.lincls_epochs}")

    def checkpoint():
        if dp.main:
            save_checkpoint(rd.path, {"classifier": classifier.state_dict(), "optimizer": optimizer.state_dict(),
                                      "state": state, "protocol": proto}, names=LINEAR)

    def stop_asked(flag: bool) -> bool:                      # a collective under data parallelism
        if not dp.active:
            return flag
        return bool(distributed.all_reduce_sum(torch.tensor([float(flag)], device=device), dp.world).item())

    for epoch, (acc, lr) in enumerate(zip(state["top1"], state["lr"])):   # a mirror turned on late catches up
        rd.mirror_row({"step": epoch + 1, "linear_eval/top1": acc, "linear_eval/lr": lr})
    progress.start(PHASE, state["step"], e.lincls_epochs * spe, spe)
    with StopFlag() as stop:
        while state["step"] < e.lincls_epochs * spe:
            epoch, start = divmod(state["step"], spe)
            t0, lr = time.time(), epoch_lr(e, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            for i, (x, y) in enumerate(images.train_epoch(epoch, start), start=start):
                logits = classifier(pool5(backbone, x, cfg.run))                  # (b, classes)
                # the mean over the whole batch: each rank's sum / B, times W, then gradients averaged over W
                loss = F.cross_entropy(logits, y, reduction="sum") * (dp.world / images.batch_len(i))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                distributed.average_gradients(classifier.parameters(), dp.world)
                optimizer.step()
                state["step"] += 1
                progress.advance(state["step"])
                if i < spe - 1 and stop_asked(stop.set):
                    state["seconds"] += time.time() - t0
                    checkpoint()
                    raise Preempted(_stopped(state["step"], spe, e.lincls_epochs))
            with timed_stage(progress, "linear eval: top-1 on the test split"):
                state["top1"].append(top1(backbone, classifier, images, cfg.run))
            state["lr"].append(lr)
            state["seconds"] += time.time() - t0
            checkpoint()
            record = _record(state, proto, e.lincls_epochs)
            rd.write_json(LINEAR_EVAL, record)
            rd.mirror_row({"step": epoch + 1, "linear_eval/top1": state["top1"][-1], "linear_eval/lr": lr})
            log(f"[{name}] linear eval (paper) epoch {epoch + 1}/{e.lincls_epochs} lr {lr:.4g} "
                f"top-1 {state['top1'][-1]:.2f}% {time.time() - t0:.1f}s")
            if stop_asked(stop.set):
                raise Preempted(_stopped(state["step"], spe, e.lincls_epochs))
    changed = [k for k, v in backbone.state_dict().items() if not torch.equal(v, frozen[k])]
    if changed:                                              # main_lincls.py's sanity_check
        raise RuntimeError(f"the backbone changed during linear evaluation: {', '.join(changed[:3])}")
    record = _record(state, proto, e.lincls_epochs)
    rd.write_json(LINEAR_EVAL, record)
    return record


def _pretrained(cfg: Config, rd: RunDir, channels: int, checkpoints: CheckpointPolicy, log) -> dict:
    """rd's last.pt, as it is, when it fits the run's model (checked on shapes alone); LinearEvalError without one."""
    with torch.device("meta"):                               # shapes only: no memory, no random draws
        layout = pretrained_model(cfg, channels).state_dict()
    ckpt = load_final(rd.path, policy=checkpoints, fits=weights_fit(layout), log=log)
    if ckpt is None:
        raise LinearEvalError(f"{rd.path}: no pre-training checkpoint (last.pt) to evaluate")
    return ckpt


def _resume(saved: dict | None, proto: dict, pretrain_step: int, classifier: nn.Module, optimizer: LARS,
            log) -> dict:
    """The stage's state from `saved` (linear.pt, as read; classifier and optimizer loaded) when it is of this
    protocol and this pre-training checkpoint; else a fresh state."""
    state = {"step": 0, "top1": [], "lr": [], "seconds": 0.0, "pretrain_step": pretrain_step}
    if saved is not None and saved["protocol"] == proto and saved["state"]["pretrain_step"] == pretrain_step:
        classifier.load_state_dict(saved["classifier"])
        optimizer.load_state_dict(saved["optimizer"])
        return saved["state"]
    if saved is not None:
        log("linear.pt belongs to another protocol or checkpoint; starting over")
    return state


def _stopped(step: int, spe: int, epochs: int) -> str:
    return (f"linear evaluation stopped at step {step} of {epochs * spe} (epoch {step / spe:.2f} of {epochs}); "
            "linear.pt saved")


def _record(state: dict, proto: dict, epochs: int) -> dict:
    accs = state["top1"]
    best = max(range(len(accs)), key=accs.__getitem__) if accs else None
    return {"protocol": proto, "pretrain_step": state["pretrain_step"], "epochs_done": len(accs),
            "finished": len(accs) == epochs, "top1": accs[-1] if accs else None,
            "top1_best": accs[best] if accs else None, "best_epoch": None if best is None else best + 1,
            "top1_per_epoch": accs, "lr_per_epoch": state["lr"], "seconds": round(state["seconds"], 1)}


def result_keys(record: dict, e: EvalConfig, configured: bool, evaluation: dict) -> dict:
    """What a finished stage adds to result.json: linear_acc_paper (and linear_acc when the run's own
    eval.linear is paper), the best epoch's, the time, and the protocol under eval.linear_paper."""
    keys = {"linear_acc_paper": record["top1"], "linear_acc_paper_best": record["top1_best"],
            "linear_eval_s": record["seconds"], "eval": {**evaluation, "linear_paper": describe(e)}}
    if configured:
        keys["linear_acc"] = record["top1"]
    return keys


def after_pretraining(cfg: Config, rd: RunDir, result: dict, log, device: torch.device,
                      progress: Progress | None = None, checkpoints: CheckpointPolicy = SAFE) -> dict:
    """What linear evaluation adds to a pre-training result: which protocol gave linear_acc, and with
    eval.linear paper the stage's numbers (run here, resumable). Nothing for a run that did not train to its end."""
    if result.get("status") not in TRAINED:
        return {}
    extra = {LINEAR_PROTOCOL: cfg.eval.linear}
    if cfg.eval.linear == LINEAR_PAPER:
        record = run_stage(cfg, rd, log, device, progress, checkpoints)
        extra.update(result_keys(record, cfg.eval, True, result.get("eval") or {}))
    return extra
