# The two commands of the README, and the developer's checks. Each sets up what it needs first
# (scripts/setup.sh is idempotent).
PY := .venv/bin/python

.PHONY: figure2 test test-fast lint setup
figure2: setup  ## Fig. 2 at CPU scale on Fashion-MNIST, seed 0: the stop-gradient sweep into runs/, its report in runs/reports/stopgrad/cpu/
	$(PY) -m sweeps.run random_network --seeds 0 --no-report   # the untrained network: the floor of the gap claims
	$(PY) -m sweeps.run stopgrad --seeds 0 --jobs 2

test: setup     ## the test suite (CPU, a few minutes)
	$(PY) -m pytest -q tests

test-fast: setup  ## the edit loop: the suite without the tests marked slow or cluster (under a minute)
	$(PY) -m pytest -q -m "not slow and not cluster" tests

lint: setup     ## ruff (pyflakes and pycodestyle; configured in pyproject.toml)
	.venv/bin/ruff check .

setup:
	@bash scripts/setup.sh
