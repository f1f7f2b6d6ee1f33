#!/usr/bin/env bash
# The GPU rung of the scale view (issue 26): the headline claims (Fig. 2 with and without stop-gradient,
# Table 1 (a) and (b), the untrained network as the floor) at the cifar10 preset on a short schedule, three
# seeds a row, sized for one 10-minute slot on one GPU. Its records go to records/cifar10-short, beside
# records/cpu and records/cpu_full, and the index's scale view then reads all three rungs.
#   DATA_ROOT=/data/cifar10 bash scripts/gpu_rung.sh            # on a machine with a CUDA GPU and CIFAR-10
#   bash scripts/gpu_rung.sh --dry-run                          # anywhere: the runs it would start
# DATA_ROOT: the folder torchvision's CIFAR10 reads (holding cifar-10-batches-py); nothing is downloaded.
# Without DATA_ROOT (a GPU machine without internet has no CIFAR-10), Fashion-MNIST copied with the code is the
# fallback: FMNIST_ROOT (default data/fashion-mnist, git-ignored: `mkdir -p data && cp -r
# /usr/share/datasets/fashion-mnist data/`, then carry it to the machine), at the cifar10 preset's network, batch
# and schedule (32 px crops of the 28 px images), into records/cifar10-fmnist-short.
# EPOCHS (default 15), JOBS (runs side by side on the GPU, default 4), RUNG_DIR (default: as above).
# The size: the preset's 800 epochs take about an hour on an H100 (3.5 s an epoch), so 12 trained runs of 15
# epochs are 630 s one after another; four side by side on one GPU, without the per-epoch kNN monitor
# (eval.knn_every=0: kNN at init and at the end only), fit the slot on an H100 or H200. The floor's runs keep
# the sweep file's one epoch at lr 0 (an epochs override would replace it).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
fm=${FMNIST_ROOT:-data/fashion-mnist}
data=()
if [ -n "${DATA_ROOT:-}" ]; then
  data=(--data-root "$DATA_ROOT")
  out=${RUNG_DIR:-records/cifar10-short}
elif [ -d "$fm" ]; then
  data=(--set data.dataset=fashion_mnist --data-root "$fm")
  out=${RUNG_DIR:-records/cifar10-fmnist-short}
  echo "gpu_rung: no DATA_ROOT: Fashion-MNIST from $fm at the cifar10 preset's network and batch" >&2
else
  out=${RUNG_DIR:-records/cifar10-short}
fi
epochs=${EPOCHS:-15}
jobs=${JOBS:-4}
dry=()
if [ "${1:-}" = "--dry-run" ]; then
  dry=(--dry-run)
elif [ -n "${1:-}" ]; then
  echo "gpu_rung: unknown argument '$1' (only --dry-run)" >&2
  exit 2
elif ! $py -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_rung: torch sees no CUDA device here; nothing to do (--dry-run shows the runs)" >&2
  exit 2
fi
common=(--preset cifar10 --set eval.knn_every=0 --runs-dir "$out" --jobs "$jobs" --no-report "${dry[@]}" "${data[@]}")
short=(--set "optim.epochs=$epochs")
$py -m sweeps.run random_network "${common[@]}"
$py -m sweeps.run stopgrad "${common[@]}" "${short[@]}"
$py -m sweeps.run predictor --cases "baseline (lr with cosine decay)" "(a) no pred. MLP" "(b) fixed random init." \
  "${common[@]}" "${short[@]}"
if [ ${#dry[@]} -eq 0 ]; then
  echo "gpu_rung: records in $out; to set them beside the CPU rungs, add an entry for the tree to"
  echo "records/comparisons.yaml (key: preset) and run python -m analysis.report --all"
fi
