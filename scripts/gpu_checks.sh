#!/usr/bin/env bash
# On a machine with a CUDA GPU: the checks this CPU-only project could not make itself (issue #7's GPU
# measurement, the CUDA-only tests), written where the index page picks them up.
#   bash scripts/gpu_checks.sh [TAG]        # TAG names the records (default: date and GPU model)
# Writes records/benchmarks/TAG-cifar10{,-compiled}.json (CIFAR ResNet-18, batch 512, bf16 + channels_last;
# random CIFAR-shaped images unless CIFAR-10 is on disk) and regenerates reports/ (its speed table).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
if ! $py -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_checks: torch sees no CUDA device here; nothing to do" >&2
  exit 2
fi
gpu=$($py -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '-'))")
tag=${1:-$(date +%F)-$gpu}
# the CUDA tests (skipped on CPUs): augmentation on the device, host syncs of training on the device
$py -m pytest -q tests/core/data/test_augment.py tests/core/train/test_host_syncs.py tests/core/runtime/test_precision.py
$py -m benchmarks.throughput --preset cifar10 --json "records/benchmarks/$tag-cifar10.json"
$py -m benchmarks.throughput --preset cifar10 --compile --json "records/benchmarks/$tag-cifar10-compiled.json"
$py -m analysis.report --all
echo "gpu_checks: records/benchmarks/$tag-*.json written; the speed table is at the end of reports/README.md"
