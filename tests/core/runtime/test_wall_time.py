"""A resumed run's wall_s counts every segment (core.train.loop, core.train.state): the segments before, up to the
checkpoint it resumed from, and its own. It was the last segment's alone, so a resumed run could record less wall
time than training time."""
import threading
import time

import pytest

from core.runtime.run_directory import RunDir
from core.runtime.stopping import Preempted, request_stop
from core.train.loop import train
from tests.conftest import tiny_config

QUIET = dict(log=lambda *a: None)


@pytest.mark.slow
def test_a_resumed_runs_wall_time_counts_every_segment(tmp_path):
    cfg = tiny_config(optim__epochs=8)
    run = tmp_path / "run"

    def stop_late():                            # most of the run in the first segment
        while not any(r.get("epoch", 0) >= 7 for r in RunDir(run).read_metrics()):
            time.sleep(0.01)
        request_stop()

    threading.Thread(target=stop_late, daemon=True).start()
    t0 = time.time()
    with pytest.raises(Preempted):
        train(cfg, run, {}, **QUIET)
    first = time.time() - t0
    t1 = time.time()
    result = train(cfg, run, {}, **QUIET)
    second = time.time() - t1
    assert result["status"] in ("ok", "near-collapse", "collapsed")
    assert result["wall_s"] >= result["train_s"]
    assert 0.9 * first + 0.9 * second <= result["wall_s"] <= first + second + 0.2

