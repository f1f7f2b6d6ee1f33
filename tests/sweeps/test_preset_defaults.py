"""Defaults that fit each preset: a GPU preset's SLURM jobs ask for a GPU and a time limit that fits it (a profile
or a flag overrides both), a GPU preset launched without a GPU warns first, and a shortened linear evaluation
says how many of the paper's epochs it ran."""
import argparse
from pathlib import Path

import pytest

from core.config.presets import preset_needs_gpu, preset_slurm
from sweeps import slurm
from sweeps.evaluate import summary_line
from sweeps.notes import warn_without_gpu
from sweeps.run import cli
from tests.conftest import tiny_config


def _args(*argv):
    ap = argparse.ArgumentParser()
    slurm.add_arguments(ap)
    return ap.parse_args(argv)


def test_a_gpu_presets_jobs_ask_for_a_gpu_and_a_fitting_time_limit_unless_told_otherwise(tmp_path):
    assert preset_needs_gpu("cifar10") and preset_needs_gpu("imagenet") and not preset_needs_gpu("cpu")
    cifar = slurm.options_from(_args(), "cifar10")
    assert (cifar.gpus_per_node, cifar.time) == (1, 12 * 60)
    assert (slurm.options_from(_args(), "imagenet").gpus_per_node, preset_slurm("cpu")) == (8, {})
    assert slurm.options_from(_args(), "cpu") == slurm.SlurmOptions()          # the cpu preset: the plain defaults
    profile = tmp_path / "p.yaml"
    profile.write_text("time: '2:00:00'\n")
    mine = slurm.options_from(_args("--profile", str(profile), "--gpus-per-node", "2"), "cifar10")
    assert (mine.gpus_per_node, mine.time) == (2, 120)                         # the profile and the flag win
    none = slurm.options_from(_args("--gpus-per-node", "0"), "cifar10")
    assert slurm.describe_resources(none, "cifar10")[1].startswith("warning: preset cifar10 is sized for a GPU")
    assert len(slurm.describe_resources(cifar, "cifar10")) == 1


def test_the_dry_run_sbatch_file_of_a_gpu_preset_asks_for_the_gpu(tmp_path, capsys):
    data = tmp_path / "cifar"
    assert cli(["stopgrad", "--preset", "cifar10", "--executor", "slurm", "--dry-run", "--runs-dir",
                str(tmp_path / "runs"), "--data-root", str(data)]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --gpus-per-node=1" in out and "#SBATCH --time=720" in out
    assert "SLURM: each job 1 node(s) x 1 GPU(s), time limit 12:00:00" in out


def test_a_gpu_preset_launched_without_a_gpu_warns(monkeypatch, capsys):
    import torch
    from sweeps.expand import expand
    from sweeps.sweepfile import load_sweep
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    specs = expand(load_sweep("stopgrad"), "cifar10", Path("runs"), [0])
    warn_without_gpu("cifar10", specs)
    assert capsys.readouterr().err.startswith("warning: preset cifar10 is sized for a GPU and this machine has none")
    warn_without_gpu("cpu", expand(load_sweep("stopgrad"), "cpu", Path("runs"), [0]))
    cpu_only = expand(load_sweep("stopgrad"), "cifar10", Path("runs"), [0], {"run.device": "cpu"})
    warn_without_gpu("cifar10", cpu_only)                                    # asked for the CPU: no warning
    assert capsys.readouterr().err == ""


SHORT = "after 1 of 1 epoch (eval.lincls_epochs 1; the paper's protocol runs 90: not comparable with its numbers)"


@pytest.mark.parametrize("epochs, says", [(1, SHORT), (90, "after 90 of 90 epochs (best")])
def test_a_shortened_linear_evaluation_says_so_and_shows_chance(epochs, says):
    record = {"top1": 7.1, "epochs_done": epochs, "top1_best": 7.1, "best_epoch": 1, "protocol": {"lr": 1.6}}
    line = summary_line(Path("r"), record, tiny_config(eval__lincls_epochs=epochs), 3)
    assert says in line and "chance 33.3%" in line
