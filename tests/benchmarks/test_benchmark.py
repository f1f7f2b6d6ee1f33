"""benchmarks/: the ratio arithmetic on hand numbers, the FLOP counter on a known layer, the official-style
pipeline's per-image views, and one tiny end-to-end run whose JSON has every key with sane values."""
import json
import math
import statistics

import pytest
import torch

from benchmarks import ratios, timing
from benchmarks.reference import TwoCropsDataset, official_transform
from benchmarks.throughput import load_data, main
from core.config.hyperparameters import AugmentConfig
from tests.conftest import tiny_config

TINY_ARGS = ["--device", "cpu", "--steps", "2", "--warmup", "1", "--rounds", "1", "--ref-workers", "0",
             "--set", "data.dataset=synthetic", "--set", "data.image_size=16", "--set", "data.train_subset=128",
             "--set", "model.small_width=8", "--set", "model.proj_hidden=32", "--set", "model.dim=16",
             "--set", "model.pred_hidden=4", "--set", "optim.batch_size=32", "--set", "run.log_every=2"]


def test_ratios_on_hand_numbers():
    assert ratios.pairs_per_s(256, 0.5) == 512
    assert ratios.input_overhead(full_step_s=0.42, model_step_s=0.40) == pytest.approx(1.05)
    assert ratios.speedup(full_step_s=0.4, reference_step_s=1.0) == pytest.approx(2.5)
    assert ratios.aug_share(aug_step_s=0.02, full_step_s=0.4) == pytest.approx(0.05)
    assert ratios.flop_rate(6e12, 0.5) == 1.2e13
    assert ratios.mfu(flops_per_step=6e12, step_s=0.5, peak_flops=8e13) == pytest.approx(0.15)
    # CIFAR-10: 50,000 // 512 = 97 steps per epoch
    assert ratios.epoch_s(50_000, 512, 0.02) == pytest.approx(1.94)


def test_paired_overhead_is_the_median_of_neighbouring_ratios():
    # a drift that slows steps 3-4 of both variants alike, and one step of (2) interrupted
    full = [1.03, 1.03, 2.06, 2.06, 1.03]
    model = [1.0, 1.0, 2.0, 2.0, 5.0]
    assert ratios.paired_overhead(full, model) == pytest.approx(1.03)
    assert ratios.input_overhead(statistics.mean(full), statistics.mean(model)) < 0.75  # ratio of means: misled
    with pytest.raises(ValueError):
        ratios.paired_overhead([1.0], [1.0, 2.0])


def test_interleaved_step_times_alternate_the_calls_and_time_each():
    calls = []
    times = timing.interleaved_step_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3,
                                          torch.device("cpu"), warmup=1)
    assert calls == ["a", "b"] * 4 and [len(v) for v in times.values()] == [3, 3]
    assert all(0 <= t < 0.1 for v in times.values() for t in v)


def test_flop_counter_counts_a_linear_layer_forward_and_backward():
    lin = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(8, 64, requires_grad=True)
    flops = timing.count_flops(lambda: lin(x).sum().backward())
    assert flops == 3 * 2 * 8 * 64 * 32       # forward, grad of input, grad of weight


def test_op_counter_counts_every_aten_op_and_the_sync_points_among_them():
    x = torch.arange(4.0)
    assert timing.count_ops(lambda: (x * 2 + 1).sum()) == {"aten.mul": 1, "aten.add": 1, "aten.sum": 1}
    assert timing.count_ops(lambda: [torch.where(x > 1, x, 0.0) for _ in range(3)])["aten.where"] == 3
    assert timing.sync_points(lambda: (x * 2).sum().item()) == {"aten._local_scalar_dense": 1}


def test_seconds_per_call_times_the_calls():
    calls = []
    s = timing.seconds_per_call(lambda: calls.append(1), 5, torch.device("cpu"), warmup=2)
    assert len(calls) == 7 and 0 <= s < 0.1


def test_official_style_views_are_drawn_per_image_and_normalized():
    x = torch.full((4, 3, 32, 32), 128, dtype=torch.uint8)
    x[:, :, :16] = 10                          # top half dark: a crop's position shows in its mean
    tf = official_transform(AugmentConfig(blur_p=0.5), 24, [0.5] * 3, [0.25] * 3)
    ds = TwoCropsDataset(x, torch.zeros(4, dtype=torch.long), tf)
    (v1, v2), label = ds[0]
    assert v1.shape == v2.shape == (3, 24, 24) and v1.dtype == torch.float32 and label == 0
    assert v1.min() >= (0 - 0.5) / 0.25 - 1e-6 and v1.max() <= (1 - 0.5) / 0.25 + 1e-6
    means = {round(ds[0][0][k].mean().item(), 4) for _ in range(10) for k in range(2)}
    assert len(means) > 5                      # a new draw for every view


def test_missing_data_falls_back_to_random_images_of_the_right_shape_and_says_so():
    cfg = tiny_config(data__dataset="cifar10", data__root="/nonexistent", data__train_subset=64, data__image_size=32)
    data, note = load_data(cfg, "auto")
    assert data.x_train.shape == (64, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert "RANDOM" in note and "cifar10" in note


@pytest.mark.slow
def test_tiny_run_writes_json_with_every_key_and_sane_values(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(TINY_ARGS + ["--json", str(out)]) == 0
    res = json.loads(out.read_text())
    for key in ("device", "pairs_per_s", "input_overhead", "speedup_vs_reference", "aug_share", "mfu",
                "step_s", "epoch_s", "flops_per_pair", "peak_flops", "load_avg_before", "data"):
        assert key in res, key
    assert res["device"].startswith("cpu")
    assert set(res["pairs_per_s"]) == {"full", "model_only", "reference"}
    assert all(v > 0 and math.isfinite(v) for v in res["pairs_per_s"].values())
    s, samples = res["step_s"], res["step_s_samples"]
    assert all(len(samples[v]) == 2 for v in ("full", "model_only", "reference"))   # --steps 2 x --rounds 1
    assert s["full"] == pytest.approx(statistics.median(samples["full"]))            # CPU: median single step
    assert res["input_overhead"] == pytest.approx(ratios.paired_overhead(samples["full"], samples["model_only"]))
    assert res["speedup_vs_reference"] == pytest.approx(s["reference"] / s["full"])
    assert res["aug_share"] == pytest.approx(s["augment_only"] / s["full"]) and res["aug_share"] > 0
    assert res["pairs_per_s"]["full"] == pytest.approx(32 / s["full"])
    assert res["mfu"] == pytest.approx(res["flops_per_pair"] * 32 / s["full"] / res["peak_flops"])
    assert res["mfu"] > 0 and res["flops_per_pair"] > 0
    assert res["precision"] == "fp32" and res["channels_last"] is True     # on CPU: the cpu preset's own values
    # ours reads its device sums once per run.log_every (2) steps; the reference calls loss.item() every step
    assert res["host_syncs_per_step"] == {"full": 0.5, "model_only": 0.5, "reference": 1.0}
    ops = res["aten_ops_per_step"]
    assert set(ops) == {"augment", "model"} and ops["augment"] > 0 and ops["model"] > ops["augment"]
    assert res["views_per_step"] == 2
    printed = capsys.readouterr().out
    assert "input overhead" in printed and "speedup" in printed
    assert f"aten ops per step: augmentation {ops['augment']} (2 views), model {ops['model']}" in printed


@pytest.mark.slow
def test_cpu_precision_follows_the_preset_unless_a_flag_says_otherwise(tmp_path):
    out = tmp_path / "bench.json"
    args = TINY_ARGS + ["--no-reference", "--json", str(out)]
    assert main(args + ["--set", "run.channels_last=false"]) == 0
    assert json.loads(out.read_text())["channels_last"] is False
    assert main(args + ["--channels-last"]) == 0
    assert json.loads(out.read_text())["channels_last"] is True


@pytest.mark.slow
def test_no_reference_leaves_the_speedup_out(tmp_path):
    out = tmp_path / "bench.json"
    assert main(TINY_ARGS + ["--no-reference", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["pairs_per_s"]) == {"full", "model_only"} and res["speedup_vs_reference"] is None


def test_ab_rounds_alternate_their_order_and_the_ratio_is_the_median_of_the_rounds():
    from benchmarks import ab
    calls = []
    times = {"before": iter([2.0, 4.0, 2.0]), "after": iter([1.0, 1.0, 3.0])}

    def run(name):
        calls.append(name)
        return {"s": next(times[name])}
    res = ab.interleave(("before", "after"), run, rounds=3)
    assert calls == ["before", "after", "after", "before", "before", "after"]
    s = ab.ratio_summary([r["s"] for r in res["before"]], [r["s"] for r in res["after"]])
    assert s == {"ratios": [0.5, 0.25, 1.5], "median": 0.5, "min": 0.25, "max": 1.5, "rounds": 3}
    assert ab.describe_ratio(s) == "0.50x (0.25-1.50 over 3 rounds)"
    with pytest.raises(ValueError):
        ab.ratio_summary([1.0], [])
