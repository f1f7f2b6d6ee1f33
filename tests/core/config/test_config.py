import dataclasses
import typing

import pytest

from core.config import hyperparameters as C
from core.config.hyperparameters import Config, ConfigError, apply_overrides, config_hash


def test_unknown_key_names_key_and_suggests_closest():
    with pytest.raises(ConfigError,
                       match=r"sweep.yaml: unknown key 'model.stopgrad' \(did you mean 'model.stop_grad'\?\)"):
        apply_overrides(Config(), {"model.stopgrad": False}, "sweep.yaml")
    with pytest.raises(ConfigError, match=r"did you mean 'optim.batch_size'"):
        apply_overrides(Config(), {"optim": {"batchsize": 64}}, "f.yaml")


def test_unknown_section_fails():
    with pytest.raises(ConfigError, match="unknown key 'optimizer.lr'"):
        apply_overrides(Config(), {"optimizer.lr": 0.1}, "f.yaml")


@pytest.mark.parametrize("key,value,message", [
    ("optim.batch_size", "big", "'optim.batch_size' must be an integer"),
    ("optim.batch_size", 1.5, "'optim.batch_size' must be an integer"),
    ("model.stop_grad", "yes", "'model.stop_grad' must be true or false"),
    ("optim.base_lr", True, "'optim.base_lr' must be a number"),
    ("optim.pred_lr", "decay", "'optim.pred_lr' must be one of"),
    ("optim.batch_size", 0, "'optim.batch_size' must be positive"),
    ("optim.base_lr", -0.1, "'optim.base_lr' must be >= 0"),
    ("data.workers", -1, "'data.workers' must be >= 0"),
    ("augment.flip_p", 1.5, "'augment.flip_p' is a probability"),
    ("loss.temperature", 0.0, "'loss.temperature' must be positive"),
    ("loss.queue_size", 0, "'loss.queue_size' must be positive"),
    ("loss.sinkhorn_iters", 0, "'loss.sinkhorn_iters' must be positive"),
    ("target.momentum", 1.0, "'target.momentum' must be in [0, 1)"),
    ("augment.hue", 0.6, "'augment.hue' must be in [0, 0.5]"),
    ("eval.knn_t", 0.0, "'eval.knn_t' must be positive"),
])
def test_bad_values_name_file_and_key(key, value, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), {key: value}, "my.yaml")
    assert str(err.value).startswith("my.yaml: ") and message in str(err.value)


def test_int_accepted_for_float_and_yaml_exponent_strings():
    cfg = apply_overrides(Config(), {"optim.base_lr": 1, "optim.weight_decay": "5e-4"})
    assert cfg.optim.base_lr == 1.0 and isinstance(cfg.optim.base_lr, float)
    assert cfg.optim.weight_decay == 5e-4


def test_nested_and_dotted_overrides_agree():
    a = apply_overrides(Config(), {"model": {"dim": 256, "stop_grad": False}})
    b = apply_overrides(Config(), {"model.dim": 256, "model.stop_grad": False})
    assert a == b and a.model.dim == 256 and not a.model.stop_grad


def test_yaml_round_trip():
    cfg = apply_overrides(Config(), {"model.stop_grad": False, "optim.weight_decay": 5e-4,
                                     "augment.crop_ratio_min": 0.7})
    assert C.load_yaml(C.dump_yaml(cfg)) == cfg


def test_paper_defaults():
    cfg = Config()
    o = cfg.optim
    assert (o.base_lr, o.batch_size, o.momentum, o.weight_decay) == (0.05, 512, 0.9, 1e-4)
    assert (cfg.model.dim, cfg.model.pred_hidden, cfg.model.proj_layers, cfg.model.stop_grad) == (2048, 512, 3, True)
    assert cfg.augment.crop_scale_min == 0.2 and cfg.augment.jitter_p == 0.8 and cfg.augment.grayscale_p == 0.2


def test_run_id_stable_under_key_order():
    a = apply_overrides(Config(), {"model.dim": 256, "optim.epochs": 3})
    b = apply_overrides(Config(), {"optim.epochs": 3, "model.dim": 256})
    assert config_hash(a) == config_hash(b)


def test_run_id_ignores_fields_at_their_default():
    """A field added later at a behaviour-preserving default must not change existing run ids: only
    identity fields that differ from their default are hashed."""
    import hashlib
    import json
    assert config_hash(Config()) == hashlib.sha1(b"{}").hexdigest()[:8]
    cfg = apply_overrides(Config(), {"model.dim": 256, "optim.batch_size": 512})   # 512 is the default
    assert config_hash(cfg) == hashlib.sha1(json.dumps({"model.dim": 256}).encode()).hexdigest()[:8]


def _other_value(owner, name, value):
    """A different valid value for a field: flip a bool, bump a number, another Literal choice or a string."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1 if isinstance(value, int) else value * 0.5 + 0.01
    hint = typing.get_type_hints(owner)[name]
    choices = [c for c in typing.get_args(hint) if c != value]
    return choices[0] if choices else value + "x"


def test_run_id_changes_with_every_identity_field():
    base = Config()
    h0 = config_hash(base)
    checked = 0
    for sec_field in dataclasses.fields(base):
        sub = getattr(base, sec_field.name)
        for f in dataclasses.fields(sub):
            new = _other_value(type(sub), f.name, getattr(sub, f.name))
            cfg = dataclasses.replace(base, **{sec_field.name: dataclasses.replace(sub, **{f.name: new})})
            if f.metadata.get("identity", True):
                assert config_hash(cfg) != h0, f.name
                checked += 1
            else:  # paths, worker and thread counts do not change what a run computes
                assert config_hash(cfg) == h0, f.name
    assert checked == len(C.all_keys()) - 7       # root, download, workers, device, threads, logger, keep_checkpoints


def test_dataset_folder_and_its_old_name_imagenet_are_one_value_and_one_run_id():
    import hashlib
    old = apply_overrides(Config(), {"data.dataset": "imagenet", "model.dim": 256})
    new = apply_overrides(Config(), {"data.dataset": "folder", "model.dim": 256})
    assert old == new and old.data.dataset == "folder"
    # the data set is at its default under either name, so it is not hashed: the id the old code gave
    assert config_hash(old) == hashlib.sha1(b'{"model.dim": 256}').hexdigest()[:8]
    written_before = C.dump_yaml(old).replace("dataset: folder", "dataset: imagenet")    # a config.yaml of then
    assert "dataset: imagenet" in written_before
    assert config_hash(C.load_yaml(written_before)) == config_hash(old)
    assert "dataset: folder" in C.dump_yaml(C.load_yaml(written_before))              # stored under the new name
    with pytest.raises(ConfigError, match=r"'data.dataset' must be one of \['folder'"):
        apply_overrides(Config(), {"data.dataset": "imagenet1k"})


def test_a_key_given_anywhere_is_range_checked_even_where_the_cross_field_rules_wait():
    """apply_overrides(check=False) (a sweep file's case or grid, --set before the rest is known) still checks each
    given key's own range: the same check a resolved config gets."""
    with pytest.raises(ConfigError, match=r"^ablation.yaml: case 'a': 'optim.epochs' must be positive, got -2"):
        apply_overrides(Config(), {"optim.epochs": -2}, "ablation.yaml: case 'a'", check=False)
    apply_overrides(Config(), {"optim.warmup_epochs": 200}, "x", check=False)      # a cross-field rule: later


def test_a_blur_kernel_wider_than_the_image_is_refused():
    with pytest.raises(ConfigError, match=r"'augment.blur_sigma_max' 2 needs a blur kernel of radius 8, more than "
                                          r"'data.image_size' 8 holds"):
        apply_overrides(Config(), {"data.image_size": 8, "augment.blur_p": 0.5}, "t")
    apply_overrides(Config(), {"data.image_size": 8, "augment.blur_p": 0.0}, "t")     # no blur, no kernel
    apply_overrides(Config(), {"data.image_size": 9, "augment.blur_p": 0.5}, "t")
