"""core.data.batches.FolderSource, the ImageNet-style path: DataLoader workers decode and random-resized-crop each
view to uint8, flips/colour/blur run batched on the device. Crops are drawn from (run seed, step, position),
so a resumed epoch and any number of workers see the same views."""
import pytest
import torch
from PIL import Image

from core.data.batches import FolderSource, make_source
from core.train.loop import train
from tests.conftest import tiny_config

CLASSES = ("cat", "dog", "emu")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 8), ("val", 3)):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                h, w = 20 + 4 * (i % 3), 24 + 2 * (i % 4)                  # sizes vary, as real photos do
                px = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8)
                px[..., c] = px[..., c] // 2 + 128                          # a class colour cast
                Image.fromarray(px.numpy()).save(root / split / name / f"{i}.png")
    return root


def _cfg(root, **overrides):
    base = dict(data__dataset="folder", data__root=str(root), data__image_size=16, data__workers=0,
                data__train_subset=0, data__test_subset=0, optim__batch_size=6, augment__blur_p=0.5,
                eval__linear_batch=6)             # the probe's batch within the 24 training images
    return tiny_config(**{**base, **overrides})


def _epoch(source, epoch=0, start=0, n_pairs=1):
    return [(torch.stack([v for pair in pairs for v in pair]), idx) for pairs, idx in
            source.train_epoch(epoch, start, n_pairs)]


def test_views_are_normalized_crops_of_the_configured_size(tree):
    source = make_source(_cfg(tree), torch.device("cpu"), n_pairs=2)
    assert isinstance(source, FolderSource)
    assert (source.n_train, source.n_test, source.num_classes, source.steps_per_epoch) == (24, 9, 3, 4)
    views, idx = _epoch(source, n_pairs=2)[0]
    assert views.shape == (4, 6, 3, 16, 16) and views.dtype == torch.float32      # 2 pairs of (B, C, H, W)
    assert idx.shape == (6,) and len(set(idx.tolist())) == 6
    assert not torch.equal(views[0], views[1]) and not torch.equal(views[0], views[2])  # every view drawn anew
    lo = (0 - max(FolderSource.MEAN)) / min(FolderSource.STD)
    assert views.min() >= lo - 1e-4 and views.abs().max() < 3                   # ImageNet statistics applied


def test_every_image_once_per_epoch_and_epochs_differ(tree):
    source = make_source(_cfg(tree), torch.device("cpu"))
    first, second = _epoch(source, 0), _epoch(source, 1)
    seen = torch.cat([idx for _, idx in first])
    assert sorted(seen.tolist()) == list(range(24))
    assert not torch.equal(seen, torch.cat([idx for _, idx in second]))


def test_a_resumed_epoch_and_any_worker_count_see_the_same_views(tree):
    whole = _epoch(make_source(_cfg(tree), torch.device("cpu")))
    resumed = _epoch(make_source(_cfg(tree), torch.device("cpu")), start=2)
    workers = _epoch(make_source(_cfg(tree, data__workers=2), torch.device("cpu")))
    torch.manual_seed(123)                                   # the global RNG plays no part
    again = _epoch(make_source(_cfg(tree), torch.device("cpu")))
    for other, offset in ((resumed, 2), (workers, 0), (again, 0)):
        assert len(other) == len(whole) - offset
        for (v, i), (w, j) in zip(other, whole[offset:]):
            assert torch.equal(i, j) and torch.equal(v, w)


def test_data_parallel_ranks_take_disjoint_shares_of_each_batch(tree):
    whole = _epoch(make_source(_cfg(tree), torch.device("cpu")))
    ranks = [_epoch(FolderSource(_cfg(tree), torch.device("cpu"), rank=r, world=2)) for r in range(2)]
    for step, (_, idx) in enumerate(whole):
        assert torch.equal(torch.cat([ranks[0][step][1], ranks[1][step][1]]), idx)
        assert ranks[0][step][0].shape[1] == 3                                # B/W images per rank


def test_eval_batches_resize_and_centre_crop_with_folder_labels(tree):
    source = make_source(_cfg(tree), torch.device("cpu"))
    x, y = map(torch.cat, zip(*source.eval_batches("test", batch_size=4)))
    assert x.shape == (9, 3, 16, 16) and y.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    x2, _ = map(torch.cat, zip(*source.eval_batches("test", batch_size=4)))
    assert torch.equal(x, x2)                                                  # no randomness in evaluation


@pytest.mark.slow
def test_a_run_on_an_image_folder_trains_and_evaluates(tree, tmp_path):
    result = train(_cfg(tree, optim__epochs=2), tmp_path / "r", {}, log=lambda s: None)
    assert result["status"] == "ok" and result["step"] == 2 * 4
    assert result["eval"]["bank"] == "train (24 images)" and result["knn_acc"] is not None


@pytest.mark.slow
def test_k_step_targets_on_an_image_folder_see_the_views_they_train_on(tree, tmp_path):
    # k-step computes a block's targets from a second pass over its steps: possible because the crops are seeded
    result = train(_cfg(tree, target__k_steps=2, optim__epochs=1), tmp_path / "k", {}, log=lambda s: None)
    assert result["status"] == "ok" and result["step"] == 4


def test_subsets_cut_every_split_per_class_as_the_in_memory_data_sets(tree):
    source = make_source(_cfg(tree, data__train_subset=12, data__test_subset=6, optim__batch_size=4),
                         torch.device("cpu"))
    assert (source.n_train, source.n_test, source.steps_per_epoch) == (12, 6, 3)
    _, y = map(torch.cat, zip(*source.eval_batches("test")))
    assert y.tolist() == [0, 0, 1, 1, 2, 2]
    _, bank_y = map(torch.cat, zip(*source.eval_batches("train")))
    assert bank_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4                     # the kNN bank is the training subset
    seen = torch.cat([idx for _, idx in _epoch(source)])
    assert sorted(seen.tolist()) == list(range(12))
    whole = make_source(_cfg(tree), torch.device("cpu"))
    kept = [whole.train.folder.samples[i][0] for i in (0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19)]
    assert [path for path, _ in source.train.folder.samples] == kept           # the first 4 of each class
