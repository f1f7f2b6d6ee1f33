"""Input that cannot work is refused before anything starts, in one line naming the file and the key, with no run
directory created: sizes a run would discover only once started, and data that is missing or unreadable (and
which of the two it is)."""
import gzip
import os
import re

import pytest
import yaml

from core.config.hyperparameters import apply_overrides, Config
from core.config.sizes import check_sizes
from core.data.data_checks import DataMissing, DataUnreadable, check_data
from sweeps.run import cli
from tests.conftest import TINY

SETS = [a for k, v in TINY.items() if k != "run.device" for a in ("--set", f"{k}={v}")]


def _sweep(tmp_path, cases=None):
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": cases or {"a": {}}}))
    return path


def _refused(tmp_path, capsys, *args) -> str:
    assert cli([*args, "--runs-dir", str(tmp_path / "runs"), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
    return err


def test_a_batch_larger_than_the_training_subset_is_refused_before_any_run_directory(tmp_path, capsys):
    sweep = _sweep(tmp_path, {"a": {"optim.batch_size": 32}, "big": {"optim.batch_size": 256}})
    sets = [a for k, v in TINY.items() if k not in ("run.device", "optim.batch_size") for a in ("--set", f"{k}={v}")]
    err = _refused(tmp_path, capsys, str(sweep), *sets)
    assert f"{sweep}: case 'big' at preset cpu: optim.batch_size 256 is larger than the 128 training images" in err


def test_a_queue_as_large_as_the_training_set_is_refused_before_any_run_directory(tmp_path, capsys):
    moco = {"loss.objective": "infonce", "loss.negatives": "queue", "loss.queue_size": 128,
            "target.momentum": 0.9, "model.predictor": "none"}
    err = _refused(tmp_path, capsys, str(_sweep(tmp_path, {"moco": moco})), *SETS)
    assert "case 'moco'" in err and "loss.queue_size 128 is not smaller than the 128 training images" in err


SMALL = {"optim.batch_size": 64, "eval.knn_k": 64, "eval.linear_batch": 64, "eval.lincls_batch": 64,
         "data.train_subset": 64, "data.test_subset": 20}


def test_size_rules():
    cfg = apply_overrides(Config(), SMALL, "t")
    check_sizes(cfg, 64, "here", 20)                     # a batch of all the images is one step
    with pytest.raises(Exception, match=r"^here: optim.batch_size 64 is larger than the 63 training images of "
                                        r"folder: an epoch"):
        check_sizes(apply_overrides(cfg, {"data.train_subset": 0}, "t"), 63, "here")


@pytest.mark.parametrize("key, value, linear, says", [
    ("data.train_subset", 65, "sgd", "data.train_subset 65 is larger than the 64 training images"),
    ("data.test_subset", 21, "sgd", "data.test_subset 21 is larger than the 20 test images"),
    ("eval.knn_k", 65, "sgd", "eval.knn_k 65 is larger than the 64 training images"),
    ("eval.linear_batch", 65, "sgd", "eval.linear_batch 65 is larger than the 64 training images"),
    ("eval.lincls_batch", 65, "paper", "eval.lincls_batch 65 is larger than the 64 training images"),
    ("optim.steps_as_batch", 65, "sgd", "optim.steps_as_batch 65 is larger than the 64 training images"),
])
def test_every_size_a_stage_would_cut_to_its_data_is_refused(key, value, linear, says):
    """Each of these a stage would otherwise cut to the data without a word: the subset to the split, k to the
    kNN bank, a probe's batch to the training set; steps_as_batch would make no step."""
    cfg = apply_overrides(Config(), {**SMALL, key: value}, "t")
    n_train = min(cfg.data.train_subset, 64)             # what check_data says a run uses of 64 images
    with pytest.raises(Exception, match=r"^here: " + re.escape(says)):
        check_sizes(cfg, n_train, "here", 20, linear=linear)
    if key.startswith("eval.lin"):
        check_sizes(cfg, n_train, "here", 20, linear="none")      # a probe's batch counts only where it runs


def test_a_knn_k_beyond_the_training_subset_is_refused_before_any_run_directory(tmp_path, capsys):
    sets = [a for k, v in TINY.items() if k not in ("run.device", "eval.knn_k") for a in ("--set", f"{k}={v}")]
    err = _refused(tmp_path, capsys, str(_sweep(tmp_path, {"a": {"eval.knn_k": 129}})), *sets)
    assert "case 'a' at preset cpu: eval.knn_k 129 is larger than the 128 training images" in err


def test_a_value_in_a_sweep_file_is_checked_as_set_checks_it(tmp_path, capsys):
    """optim.epochs -2 in a case (or a grid) is refused as --set optim.epochs=-2 is, not scaled to one epoch."""
    said = []
    for where, args in (("case", [str(_sweep(tmp_path, {"a": {"optim.epochs": -2}}))]),
                        ("grid", [str(_grid(tmp_path, {"optim.epochs": [10, -2]}))]),
                        ("--set", ["stopgrad", "--set", "optim.epochs=-2"])):
        err = _refused(tmp_path, capsys, *args, *(SETS if where != "--set" else []))
        said.append(err.split(": ", 1)[1].strip())
        assert err.startswith("error: ") and "'optim.epochs' must be positive, got -2" in err, err
    assert said[0].startswith(f"{tmp_path / 'sizes.yaml'}: case 'a': 'optim.epochs' must be positive")
    assert said[1].startswith(f"{tmp_path / 'grid.yaml'}: grid: 'optim.epochs' must be positive")
    assert said[2] == "--set: 'optim.epochs' must be positive, got -2"


def _grid(tmp_path, grid):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"figure": "F", "title": "t", "metrics": ["knn_acc"], "seeds": [0],
                                    "cases": {"a": {}}, "grid": grid}))
    return path


def test_a_report_dir_that_is_a_file_is_refused_before_any_run(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert cli([str(_sweep(tmp_path)), "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(blocker), *SETS,
                "--executor", "inline"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --report-dir {blocker} is not a directory\n"
    assert not (tmp_path / "runs").exists()
    assert cli([str(_sweep(tmp_path)), "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(blocker / "sub"),
                *SETS, "--executor", "inline"]) == 2
    assert "cannot be created" in capsys.readouterr().err


def test_missing_and_corrupt_cifar_are_told_apart(tmp_path):
    cfg = apply_overrides(Config(), {"data.dataset": "cifar10", "data.root": str(tmp_path / "c")}, "t").data
    with pytest.raises(DataMissing, match=r"cifar10 not found \(no directory .*/c; data.root"):
        check_data(cfg)
    (tmp_path / "c").mkdir()
    with pytest.raises(DataMissing, match=r"cifar10 not found \(.*/c has no cifar-10-batches-py/"):
        check_data(cfg)
    (tmp_path / "c" / "cifar-10-batches-py").mkdir()
    with pytest.raises(DataUnreadable, match=r"incomplete: data_batch_1 is missing"):
        check_data(cfg)
    (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"half a download")
    with pytest.raises(DataUnreadable, match=r"is there but corrupt: data_batch_1 fails torchvision's integrity"):
        check_data(cfg)


def _idx(path, n, rows=28):
    data = bytes(4) + n.to_bytes(4, "big") + rows.to_bytes(4, "big") + rows.to_bytes(4, "big") + bytes(n * rows * rows)
    path.write_bytes(b"\x00\x00\x08\x03" + data[4:])


def test_fashion_mnist_missing_truncated_or_incomplete(tmp_path):
    cfg = apply_overrides(Config(), {"data.dataset": "fashion_mnist", "data.root": str(tmp_path)}, "t").data
    with pytest.raises(DataMissing, match=r"Fashion-MNIST not found in data.root .*: it holds none of the four"):
        check_data(cfg)
    assert "Pass --data-root" not in str(pytest.raises(DataMissing, check_data, cfg).value)   # it was passed
    _idx(tmp_path / "train-images-idx3-ubyte", 5)
    with pytest.raises(DataUnreadable, match=r"incomplete: .*t10k-images-idx3-ubyte.* missing"):
        check_data(cfg)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes(2))
    _idx(tmp_path / "t10k-images-idx3-ubyte", 2)
    assert check_data(cfg) == 5
    with open(tmp_path / "t10k-images-idx3-ubyte", "r+b") as fh:      # cut short
        fh.truncate(100)
    with pytest.raises(DataUnreadable, match=r"there but not readable: .*t10k-images-idx3-ubyte: truncated IDX"):
        check_data(cfg)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x03")
    os.truncate(tmp_path / "t10k-images-idx3-ubyte.gz", 12)             # a .gz that does not decompress
    with pytest.raises(DataUnreadable, match=r"there but not readable"):
        check_data(cfg)


def test_image_folder_missing_empty_or_undecodable(tmp_path):
    from PIL import Image
    cfg = apply_overrides(Config(), {"data.dataset": "folder", "data.root": str(tmp_path)}, "t").data
    with pytest.raises(DataMissing, match=r"has no train/ or val/"):
        check_data(cfg)
    for split in ("train", "val"):
        (tmp_path / split / "cat").mkdir(parents=True)
    with pytest.raises(DataUnreadable, match=r"train holds no images"):
        check_data(cfg)
    for split, n in (("train", 3), ("val", 1)):
        for i in range(n):
            Image.new("RGB", (8, 8)).save(tmp_path / split / "cat" / f"{i}.png")
    assert check_data(cfg) == 3 and check_data(cfg, need=2) is None      # counted up to what is needed
    (tmp_path / "train" / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataUnreadable, match=r"0.png is there but does not decode"):
        check_data(cfg)


def test_a_corrupt_data_set_stops_the_sweep_before_any_run_directory(tmp_path, capsys):
    (tmp_path / "c" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"x")
    err = _refused(tmp_path, capsys, "stopgrad", "--preset", "cifar10", "--data-root", str(tmp_path / "c"))
    assert "is there but corrupt" in err and "not found" not in err
