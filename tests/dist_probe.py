"""Test helper, run as one rank of a data-parallel run: `python tests/dist_probe.py RUN_DIR OUT.json`
with torchrun-style RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT in the environment.

Runs sweeps.worker.run_one (the torchrun path) while recording, after every optimizer step, a checksum of
all parameters and buffers, and the per-rank batch size of every forward. With PROBE_KILL_AT_STEP=N in the
environment, rank 0 SIGKILLs itself right after step N (a machine dying mid-epoch).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.runtime import precision  # noqa: E402
from sweeps.worker import run_one  # noqa: E402

record = {"rank": int(os.environ["RANK"]), "checksums": [], "batch": []}
kill_at = int(os.environ.get("PROBE_KILL_AT_STEP", "0"))
models = []

_forward = precision.forward


def forward(model, x1, x2, run):
    if not models:
        models.append(model)
    record["batch"].append(x1.shape[0])
    return _forward(model, x1, x2, run)


_step = torch.optim.SGD.step


def step(self, *args, **kwargs):
    out = _step(self, *args, **kwargs)
    mine = {id(p) for p in models[0].parameters()} if models else set()
    if not any(id(p) in mine for g in self.param_groups for p in g["params"]):
        return out                                   # the linear probe's optimizer, not the run's
    h = hashlib.sha1()
    for t in [*models[0].parameters(), *models[0].buffers()]:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    record["checksums"].append(h.hexdigest())
    if kill_at and record["rank"] == 0 and len(record["checksums"]) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out


precision.forward = forward
torch.optim.SGD.step = step
result = run_one(sys.argv[1])
Path(sys.argv[2]).write_text(json.dumps({**record, "status": result["status"], "reason": result.get("reason")}))
