"""The version of the training numerics: what a run computes, as opposed to how the code is arranged.

Bump NUMERICS_VERSION whenever a change makes a training run compute other numbers for a config it already
accepted (one more random draw, another augmentation, a changed init, a changed update). Refactors that
keep every run bit for bit leave it alone. Run records carry it (meta.json `numerics`), and sweeps.run
refuses to resume, skip or copy a run made under another version unless asked (`--stale`).
tests/benchmarks/test_numerics_canary.py fails when the numbers change while the version does not.

History:
1. every record up to 2026-11-23 (no `numerics` key in meta.json).
2. (2026-12-01) the moving-average eta starts from the random network's outputs (target.eta_init: network)
   instead of the first output seen: the only change of what a run trains on. Records were re-made under it
   because they also gained outputs that old records lack (backbone_std/backbone_erank at every kNN point,
   the status near-collapse); every other config computes what version 1 computed, bit for bit (checked
   on stopgrad and kstep against the old code on one machine).
"""
NUMERICS_VERSION = 2
