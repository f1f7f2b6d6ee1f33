"""One SimSiam training run, by the stage each subpackage serves: config, data, model, objective, optim,
train, eval and runtime; schema holds the torch-free formats that sweeps and analysis read too. core
knows nothing of sweeps, SLURM or tables (tests/integration/test_layering.py states the rules between the stages).
"""
