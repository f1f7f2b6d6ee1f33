#!/usr/bin/env bash
# The committed CPU-scale reproduction: every sweep in ablations/ at the cpu preset, on this machine's CPU,
# into records/cpu/ (seeds 0-2 for stopgrad and predictor, seed 0 elsewhere), then reports/ from them.
# Resumable: finished runs are skipped and a killed one resumes from its checkpoint, so it can be run again
# across sittings (commit records/cpu as runs finish; checkpoints are git-ignored).
#   bash scripts/reproduce_cpu.sh [RUNS_DIR] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-records/cpu}
jobs=${2:-2}
py=${PYTHON:-.venv/bin/python}
# one seed of every sweep first, so a sitting that ends early leaves every table with a row
sweeps=(stopgrad predictor batchnorm similarity symmetrization output_dim moving_average kstep batch_size
        "stopgrad --seeds 0 1 2" "predictor --seeds 0 1 2")
for s in "${sweeps[@]}"; do
  # shellcheck disable=SC2086
  # a sweep with runs left unfinished exits 1: say so and go on with the next (re-running resumes them)
  /usr/bin/time -f "$s: %e s wall, %U s user, %S s sys" $py -m sweeps.run $s --jobs "$jobs" --runs-dir "$runs" \
    --no-report || echo "$s: some runs did not finish (see above); run the script again to resume them"
done
$py -m analysis.report --all --runs-dir "$runs" --out reports
