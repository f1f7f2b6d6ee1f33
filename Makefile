# The two commands of the README. Each sets up what it needs first (scripts/setup.sh is idempotent).
PY := .venv/bin/python

.PHONY: figure2 test setup
figure2: setup  ## Fig. 2 at CPU scale on Fashion-MNIST, seed 0: the stop-gradient sweep into runs/, its report in runs/reports/stopgrad/
	$(PY) -m sweeps.run stopgrad --seeds 0 --jobs 2

test: setup     ## the test suite (CPU, a few minutes)
	$(PY) -m pytest -q tests

setup:
	@bash scripts/setup.sh
