"""The version of the training numerics: what a run computes, as opposed to how the code is arranged.

Bump NUMERICS_VERSION whenever a change makes a training run compute other numbers for a config it already
accepted (one more random draw, another augmentation, a changed init, a changed update). Refactors that
keep every run bit for bit leave it alone. Run records carry it (meta.json `numerics`), and sweeps.run
refuses to resume, skip or copy a run made under another version unless asked (`--stale`).
tests/test_numerics_canary.py fails when the numbers change while the version does not.

History:
1. every record up to 2026-11-23 (no `numerics` key in meta.json).
2. moving-average eta starts from the random network's outputs (target.eta_init: network) instead of the
   first output seen; backbone monitors (backbone_std, backbone_erank) at every kNN point; status
   near-collapse; evaluation features extracted once per point.
"""
NUMERICS_VERSION = 2
