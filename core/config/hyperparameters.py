"""The one typed home of every hyperparameter.

Defaults are the paper's ImageNet recipe (Chen & He, CVPR 2021, Sec. 3 unless
noted). Presets (core/config/presets/*.yaml), sweep files and `--set` on the command
line are overrides applied through `apply_overrides`, which rejects unknown
keys (with a suggestion), wrong types and values outside a field's choices.

This module imports no torch: sweeps expand and validate without it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Literal

from core.config.method_rules import check_method_parts
from core.schema.checks import ConfigError, coerce_value, flatten, suggest

# field(metadata={"identity": False}) marks fields that do not change what is
# computed (paths, thread counts); they are left out of the run id.
_NOT_IDENTITY = {"identity": False}


@dataclass(frozen=True)
class ModelConfig:
    backbone: Literal["resnet50", "cifar_resnet18", "small_resnet"] = "resnet50"  # Sec. 3: ResNet-50; App. D: CIFAR ResNet-18
    small_width: int = 16           # channels of the first stage of `small_resnet` (CPU preset only)
    small_blocks: int = 1           # basic blocks per stage of `small_resnet` (CPU preset only)
    zero_init_residual: bool = True  # official code: zero-init last BN gamma of each residual block
    proj_layers: int = 3            # Sec. 3: projection MLP has 3 fc layers (App. D, CIFAR: 2)
    proj_hidden: int = 2048         # Sec. 3: hidden fc width 2048
    dim: int = 2048                 # Sec. 3: output dimension d of f (and of h)
    pred_hidden: int = 512          # Sec. 3: predictor bottleneck, d/4
    proj_bn_hidden: bool = True     # Sec. 4.4, Table 3: BN on the projection MLP's hidden fc layers
    proj_bn_out: bool = True        # Table 3: BN on the projection MLP's output fc
    pred_bn_hidden: bool = True     # Table 3: BN on the prediction MLP's hidden fc
    pred_bn_out: bool = False       # Table 3 (d) "all": BN on the prediction MLP's output too (unstable)
    proj_out_affine: bool = True    # Sec. 4.4, Table 3c: BN on f's output has a learnable affine (official code: False, 68.2%)
    predictor: Literal["mlp", "none", "frozen"] = "mlp"  # Table 1: trained h; (a) no h (identity); (b) fixed random init
    stop_grad: bool = True          # Sec. 4.1, Fig. 2: stop-gradient on the target branch z


@dataclass(frozen=True)
class LossConfig:
    similarity: Literal["cosine", "cross_entropy"] = "cosine"  # Sec. 4.5: D = -cos(p, z), or -softmax(z) . log softmax(p)
    symmetry: Literal["sym", "asym", "asym2x"] = "sym"  # Sec. 4.6: Eq. 4 / one term D(p1, z2) / asym with two view pairs per image
    # Sec. 6, Fig. 3: the objective of the other Siamese methods (core/objective/objectives.py); read in core.objective.objectives only
    objective: Literal["similarity", "infonce", "swav"] = "similarity"  # D(p, z) above (SimSiam, BYOL) | InfoNCE /
    #                                 NT-Xent (SimCLR, MoCo) | SwAV's swapped prediction of Sinkhorn-Knopp codes
    negatives: Literal["none", "batch", "queue"] = "none"  # InfoNCE's negatives: the batch's other images (SimCLR,
    #                                 2N-2 per query) or a FIFO queue of earlier keys (MoCo)
    temperature: float = 0.1        # softmax temperature tau of InfoNCE and SwAV: SimCLR (Chen et al. 2020) 0.1 at
    #                                 batch 4096; SwAV (Caron et al. 2020) 0.1; MoCo v2 0.2 (core/config/method_definitions.yaml, moco_v2)
    queue_size: int = 65536         # MoCo (He et al. 2020): K = 65,536 keys
    prototypes: int = 3000          # SwAV: 3,000 prototypes for ImageNet, l2-normalized (SimSiam footnote 8)
    sinkhorn_iters: int = 3         # SwAV: 3 Sinkhorn-Knopp iterations
    sinkhorn_epsilon: float = 0.05  # SwAV: entropy regularization epsilon 0.05


@dataclass(frozen=True)
class TargetConfig:
    # Sec. 5.2 proof-of-concept runs: what the predictions p are pulled towards.
    k_steps: int = 1                # k-step alternation: targets eta fixed for k SGD steps (1 = SimSiam; 0 = one epoch)
    eta: Literal["network", "moving_average"] = "network"  # "moving_average": per-image eta_x <- m eta_x + (1-m) F(T'(x))
    eta_momentum: float = 0.8       # Sec. 5.2: m = 0.8
    eta_init: Literal["network", "first_seen"] = "network"  # eta_x before x is first sampled: the random network's
    #                                 output F(x) (Sec. 5.3: eta starts from the initialised network), or x's first output
    # Sec. 6, Fig. 3: the target encoder. 0 = the same network (SimSiam); m > 0 = a momentum copy of f,
    # theta_t <- m theta_t + (1 - m) theta after every step (BYOL, MoCo), which gets no gradient
    momentum: float = 0.0           # BYOL tau_base 0.996 (footnote 6: 0.99 for 100-400 ep); MoCo m = 0.999
    momentum_schedule: Literal["constant", "cosine"] = "constant"  # BYOL: m rises from tau_base to 1 by a cosine
    #                                 over training; MoCo: constant. Read only with momentum > 0


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 100               # Sec. 3: 100-epoch pre-training in ablations
    batch_size: int = 512           # Sec. 3: batch 512 (total)
    base_lr: float = 0.05           # Sec. 3: lr = base_lr x batch/256
    momentum: float = 0.9           # Sec. 3: SGD momentum 0.9
    weight_decay: float = 1e-4      # Sec. 3: wd 1e-4 on all parameters (App. D, CIFAR: 5e-4)
    warmup_epochs: float = 0.0      # Sec. 4.3: 10-epoch linear warm-up only for batch >= 1024 (Table 3a: also 10)
    optimizer: Literal["sgd", "lars"] = "sgd"  # Sec. 4.3: plain SGD for every batch size (LARS "expected" to help at 4096)
    lars_trust: float = 0.001       # LARS trust coefficient (You et al. 2017), for optimizer: lars
    pred_lr: Literal["cosine", "constant"] = "constant"  # Table 1c: h's lr not decayed (adopted after Sec. 4.2); Table 1 baseline and Fig. 2: cosine
    # how often the lr changes: every step (the paper says only "cosine decay"; SGDR's cosine advances per batch),
    # or once per epoch at the epoch's start, as the official main_simsiam.py's adjust_learning_rate (core/optim/schedule.py)
    lr_every: Literal["step", "epoch"] = "step"
    # 0: `epochs` x this run's steps per epoch. Else the run trains as many optimizer steps as a run at batch
    # size `steps_as_batch` makes in `epochs`, its lr schedule (and warm-up) spanning them, ending inside an epoch
    # where it must: Table 2's confound at fixed epochs (batch 64 takes 4x the steps of 256) measured directly by
    # batch 64 stopped at 256's step count (ablations/batch_size.yaml)
    steps_as_batch: int = 0


@dataclass(frozen=True)
class AugmentConfig:
    # Sec. 3 / MoCo v2 recipe, sampled independently per image and view.
    crop_scale_min: float = 0.2     # RandomResizedCrop scale (0.2, 1.0)
    crop_scale_max: float = 1.0     # Sec. 3: RandomResizedCrop scale upper bound
    crop_ratio_min: float = 3 / 4   # torchvision default aspect range
    crop_ratio_max: float = 4 / 3   # torchvision default aspect range, upper bound
    flip_p: float = 0.5             # horizontal flip
    jitter_p: float = 0.8           # ColorJitter applied with p=0.8
    brightness: float = 0.4         # Sec. 3 / MoCo v2: ColorJitter(0.4, 0.4, 0.4, 0.1) brightness
    contrast: float = 0.4           # ColorJitter contrast
    saturation: float = 0.4         # on 1-channel images saturation, hue and grayscale are exact no-ops
    hue: float = 0.1                # ColorJitter hue
    grayscale_p: float = 0.2        # Sec. 3 / MoCo v2: RandomGrayscale p=0.2
    blur_p: float = 0.5             # official code (MoCo v2): p=0.5, sigma in [0.1, 2.0]; App. D CIFAR: no blur
    blur_sigma_min: float = 0.1     # Gaussian blur sigma range, lower bound (official code)
    blur_sigma_max: float = 2.0     # Gaussian blur sigma range, upper bound (official code)


@dataclass(frozen=True)
class DataConfig:
    # folder: any image folder, class subfolders under root/train and root/val (ImageNet's layout). `imagenet`, its
    # old name, is read as `folder`: both are the default, so the run ids made under either name stay the same
    dataset: Literal["folder", "cifar10", "cifar100", "fashion_mnist", "synthetic"] = field(
        default="folder", metadata={"aliases": {"imagenet": "folder"}})
    root: str = field(default="", metadata=_NOT_IDENTITY)   # data directory ("" = the data set's default place)
    download: bool = field(default=False, metadata=_NOT_IDENTITY)  # allow torchvision to download (needs network)
    image_size: int = 224           # Sec. 3: 224x224 crops (CIFAR: 32)
    train_subset: int = 0           # first-N stratified subset of the training set (0 = all)
    test_subset: int = 0            # subset of the test/val set used by kNN and linear eval (0 = all)
    workers: int = field(default=8, metadata=_NOT_IDENTITY)  # DataLoader workers decoding image folders (folder only)


@dataclass(frozen=True)
class EvalConfig:
    knn_k: int = 200                # author, simsiam issue #10: 200-NN
    knn_t: float = 0.2              # author, simsiam issue #10: temperature 0.2 (InstDisc [36] uses 0.07)
    knn_every: int = 1              # kNN monitor every N epochs (Fig. 2 right); 0 = only at the end
    # which linear evaluation gives linear_acc: "sgd", the probe on cached centre-crop features (core/eval/linear_probe.py;
    # the cpu and cifar10 presets); "paper", App. A / official main_lincls.py on augmented crops, a resumable stage
    # after pre-training (core/eval/linear_eval.py; the imagenet preset); "none"
    linear: Literal["sgd", "paper", "none"] = "sgd"
    linear_epochs: int = 90         # sgd probe: epochs (App. A: 90; our probe runs on cached features)
    linear_lr: float = 0.1          # sgd probe: lr (official main_lincls.py base lr 0.1)
    linear_batch: int = 256         # sgd probe: batch
    # eval.linear: paper, App. A "linear classification" and official main_lincls.py (frozen backbone, BN in eval mode)
    lincls_epochs: int = 90         # App. A: 90 epochs, cosine decay (main_lincls.py: lr set once per epoch)
    lincls_batch: int = 4096        # App. A: batch 4096 (total over data-parallel ranks)
    lincls_base_lr: float = 0.1     # lr = base x batch/256: main_lincls.py --lr 0.1 (1.6 at 4096); App. A says 0.02
    lincls_momentum: float = 0.9    # App. A: momentum 0.9
    lincls_weight_decay: float = 0.0  # App. A: wd 0
    lincls_trust: float = 0.001     # App. A: LARS; main_lincls.py: apex LARC, trust coefficient 0.001, no clipping
    lincls_crop_scale_min: float = 0.08  # main_lincls.py: RandomResizedCrop at torchvision's default scale (0.08, 1)
    collapse_frac: float = 0.1      # status `collapsed` when final z_std < collapse_frac / sqrt(d)
    near_collapse_frac: float = 0.5  # status `near-collapse` when final z_std < this / sqrt(d): half the spread of
    #                                 an output spread evenly on the sphere (healthy runs of every preset sit at 0.86-1.0)
    collapse_patience: int = 0      # stop a run once z_std stayed below that for this many logging points (0 = never)


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0                   # initial weights, augmentation and data order (a sweep's seeds axis)
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata=_NOT_IDENTITY)  # auto: cuda if there is one
    threads: int = field(default=0, metadata=_NOT_IDENTITY)  # torch CPU threads (0 = torch's default)
    log_every: int = 10             # log loss and z_std every N optimizer steps (and at each epoch end); also the host-sync interval
    # how the training step runs (core/runtime/precision.py); each changes the computed bits, so each is part of the run id
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward under bf16 autocast (GPU); the loss and monitors stay fp32
    channels_last: bool = False     # NHWC weights and inputs (tensor-core convolutions on GPU)
    compile: bool = False           # torch.compile the model's forward (nn.Module.compile; checkpoints unchanged)
    compile_step: bool = False      # torch.compile the whole training step: forward, loss, backward, optimizer (core/train/step.py)
    # a live copy of every metrics row for TensorBoard (RUN_DIR/tb; the `live` extra), Weights & Biases (RUN_DIR/wandb;
    # the `wandb` extra) or both (core/runtime/live_log.py). metrics.jsonl stays the record; the logger changes nothing that
    # is computed, so it is not in the run id
    logger: Literal["none", "tensorboard", "wandb", "tensorboard+wandb"] = field(default="none", metadata=_NOT_IDENTITY)
    # checkpoints a run keeps once it has ended (not failed): 1 = last.pt only (what sweeps.evaluate and sweeps.export
    # read; a ResNet-50's pair is 440 MB), 2 = prev.pt too; a failed run keeps both for its retry. Not in the run id
    keep_checkpoints: int = field(default=1, metadata=_NOT_IDENTITY)


@dataclass(frozen=True)
class Config:
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    target: TargetConfig = TargetConfig()
    optim: OptimConfig = OptimConfig()
    augment: AugmentConfig = AugmentConfig()
    data: DataConfig = DataConfig()
    eval: EvalConfig = EvalConfig()
    run: RunConfig = RunConfig()


def _sections(cfg: Config) -> dict[str, object]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def all_keys() -> list[str]:
    """Every dotted key a user may set, e.g. 'model.stop_grad'."""
    return [f"{s}.{f.name}" for s, sub in _sections(Config()).items() for f in dataclasses.fields(sub)]


def apply_overrides(cfg: Config, overrides: dict, source: str = "overrides", check: bool = True) -> Config:
    """Return `cfg` with dotted or nested `overrides` applied, validated.

    `source` (a file name, 'preset cpu', '--set') is named in every error. Keys, types, choices and the range of
    each key given (RANGES) are always checked; `check=False` leaves the cross-field rules for the fully resolved
    config.
    """
    flat = flatten(overrides, source)
    sections = _sections(cfg)
    changes: dict[str, dict] = {}
    keys = all_keys()
    for key, value in flat.items():
        if key not in keys:
            raise ConfigError(f"{source}: unknown key '{key}'{suggest(key, keys)}")
        sec, name = key.split(".", 1)
        spec = {f.name: f for f in dataclasses.fields(sections[sec])}[name]
        if isinstance(value, str):                      # an old name of a choice: stored under the new one
            value = spec.metadata.get("aliases", {}).get(value, value)
        changes.setdefault(sec, {})[name] = coerce_value(value, spec.type, key, source, type(sections[sec]))
    new = {s: dataclasses.replace(sub, **changes.get(s, {})) for s, sub in sections.items()}
    result = Config(**new)
    if check:
        check_consistency(result, source)
    else:
        check_values(result, flat, source)
    return result


# Each key's own range, checked wherever a value is given (a preset, a recipe, a sweep file's case or grid point as
# written, before its schedule lengths are scaled, --set) and again on every resolved config: one check for all.
POSITIVE = ("optim.epochs", "optim.batch_size", "model.dim", "model.proj_hidden", "model.pred_hidden",
            "model.proj_layers", "model.small_width", "model.small_blocks", "data.image_size", "eval.knn_k",
            "eval.knn_t", "eval.linear_batch", "eval.lincls_epochs", "eval.lincls_batch", "run.log_every",
            "loss.temperature", "loss.queue_size", "loss.prototypes", "loss.sinkhorn_iters", "loss.sinkhorn_epsilon")
NON_NEGATIVE = ("optim.steps_as_batch", "optim.base_lr", "optim.weight_decay", "optim.momentum", "optim.warmup_epochs",
                "eval.linear_epochs", "eval.linear_lr", "eval.knn_every", "data.train_subset", "data.test_subset",
                "data.workers", "run.threads", "eval.collapse_frac", "eval.near_collapse_frac",
                "eval.collapse_patience", "optim.lars_trust", "eval.lincls_base_lr", "eval.lincls_momentum",
                "eval.lincls_weight_decay", "eval.lincls_trust", "target.k_steps", "augment.brightness",
                "augment.contrast", "augment.saturation", "augment.blur_sigma_min")
PROBABILITIES = ("augment.flip_p", "augment.jitter_p", "augment.grayscale_p", "augment.blur_p")
RANGES = {   # key: (holds, what it must be)
    **{k: (lambda v: v > 0, "must be positive") for k in POSITIVE},
    **{k: (lambda v: v >= 0, "must be >= 0") for k in NON_NEGATIVE},
    **{k: (lambda v: 0.0 <= v <= 1.0, "is a probability") for k in PROBABILITIES},
    "augment.crop_scale_min": (lambda v: 0.0 < v <= 1.0, "must be in (0, 1]"),
    "augment.crop_scale_max": (lambda v: 0.0 < v <= 1.0, "must be in (0, 1]"),
    "eval.lincls_crop_scale_min": (lambda v: 0.0 < v <= 1.0, "must be in (0, 1]"),
    "augment.crop_ratio_min": (lambda v: v > 0, "must be positive"),
    "augment.crop_ratio_max": (lambda v: v > 0, "must be positive"),
    "augment.hue": (lambda v: 0.0 <= v <= 0.5, "must be in [0, 0.5]"),
    "augment.blur_sigma_max": (lambda v: v > 0, "must be positive"),
    "target.eta_momentum": (lambda v: 0.0 <= v < 1.0, "must be in [0, 1)"),
    "target.momentum": (lambda v: 0.0 <= v < 1.0, "must be in [0, 1) (0 = the same network)"),
    "run.keep_checkpoints": (lambda v: v in (1, 2), "must be 1 (last.pt) or 2 (last.pt and prev.pt)"),
}


def check_values(cfg: Config, keys, source: str) -> None:
    """The range of each of `keys` in `cfg` (RANGES); the error names the key and its value."""
    for key in keys:
        rule = RANGES.get(key)
        if rule is not None and not rule[0](get(cfg, key)):
            raise ConfigError(f"{source}: '{key}' {rule[1]}, got {get(cfg, key)}")


def check_consistency(cfg: Config, source: str) -> None:
    """Every key's range (check_values), then the cross-field rules; each error names the key."""
    check_values(cfg, RANGES, source)
    a = cfg.augment
    if a.crop_scale_min > a.crop_scale_max:
        raise ConfigError(f"{source}: 'augment.crop_scale_min'/'crop_scale_max' must satisfy 0 < min <= max <= 1")
    if a.crop_ratio_min > a.crop_ratio_max:
        raise ConfigError(f"{source}: 'augment.crop_ratio_min' must be > 0 and <= 'augment.crop_ratio_max'")
    if a.blur_sigma_min > a.blur_sigma_max:
        raise ConfigError(f"{source}: 'augment.blur_sigma_min' ({a.blur_sigma_min:g}) must not exceed "
                          f"'augment.blur_sigma_max' ({a.blur_sigma_max:g})")
    radius = math.ceil(4 * a.blur_sigma_max)            # core.data.augment.gaussian_blur's kernel, 4 sigma a side
    if a.blur_p > 0 and radius > cfg.data.image_size - 1:
        raise ConfigError(f"{source}: 'augment.blur_sigma_max' {a.blur_sigma_max:g} needs a blur kernel of radius "
                          f"{radius}, more than 'data.image_size' {cfg.data.image_size} holds: the kernel would be "
                          "cut (a smaller sigma, or augment.blur_p 0)")
    if cfg.target.eta == "moving_average" and cfg.target.k_steps != 1:
        raise ConfigError(f"{source}: 'target.eta: moving_average' and 'target.k_steps' != 1 are different "
                          "Sec. 5.2 experiments; set one of them")
    if cfg.optim.warmup_epochs >= cfg.optim.epochs:
        raise ConfigError(f"{source}: 'optim.warmup_epochs' ({cfg.optim.warmup_epochs:g}) must be shorter than "
                          f"'optim.epochs' ({cfg.optim.epochs}): a warm-up as long as training never decays the lr")
    if cfg.eval.collapse_frac > cfg.eval.near_collapse_frac:
        raise ConfigError(f"{source}: 'eval.collapse_frac' ({cfg.eval.collapse_frac:g}) must not exceed "
                          f"'eval.near_collapse_frac' ({cfg.eval.near_collapse_frac:g})")
    check_method_parts(cfg, source)


def get(cfg: Config, key: str):
    sec, name = key.split(".", 1)
    return getattr(getattr(cfg, sec), name)


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict, source: str = "config") -> Config:
    return apply_overrides(Config(), d, source)


def dump_yaml(cfg: Config) -> str:
    import yaml
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def load_yaml(text: str, source: str = "config.yaml") -> Config:
    import yaml
    return from_dict(yaml.safe_load(text) or {}, source)


def config_hash(cfg: Config) -> str:
    """Short stable hash of everything that changes what a run computes.

    Only identity fields that differ from their default enter the hash, so adding a new field (at a default
    that keeps old behaviour) leaves every existing run id, and so every committed run record, valid. If a
    default itself changes, an old run directory's config.yaml (which spells every value out) hashes
    differently from the new expansion, and sweeps.prepare refuses to reuse it."""
    ident = {}
    for sec, sub in _sections(cfg).items():
        for f in dataclasses.fields(sub):
            value = getattr(sub, f.name)
            if f.metadata.get("identity", True) and value != f.default:
                ident[f"{sec}.{f.name}"] = value
    blob = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:8]
