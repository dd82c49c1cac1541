"""Two training runs requested at once, as two processes on the real instance config
(orchestration/instance.py): the training pool lets one run's training step execute while the
other's waits for the slot."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
from rel_helpers import REPO_ROOT, child_env

from orchestration.instance import TRAINING_POOL, ensure_dagster_home

RUN = """
import json, sys, time
import dagster as dg
pool, dagster_home, out = sys.argv[1:4]

@dg.op(pool=pool)
def train():
    start = time.time()
    time.sleep(3.0)  # the training step holds the pool slot this long
    return [start, time.time()]

@dg.job
def training():
    train()

instance = dg.DagsterInstance.from_config(dagster_home)
ready = time.time()
result = training.execute_in_process(instance=instance)
span = result.output_for_node("train")
json.dump({"ok": result.success, "ready": ready, "span": span}, open(out, "w"))
"""


def test_the_training_pool_runs_one_training_step_at_a_time(tmp_path):
    from orchestration.assets.training import reward_model_candidate

    pool = reward_model_candidate.op.pool
    assert pool == TRAINING_POOL
    dagster_home = ensure_dagster_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        outs = [tmp_path / f"run-{n}.json" for n in (1, 2)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RUN, pool, str(dagster_home), str(out)],
                cwd=REPO_ROOT,
                env=child_env(DAGSTER_HOME=str(dagster_home)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for out in outs
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err.decode()[-3000:]
        runs = [json.loads(out.read_text()) for out in outs]
        assert all(r["ok"] for r in runs)
        (a0, a1), (b0, b1) = (r["span"] for r in runs)
        # Both runs were requested while the first training step held the slot ...
        assert max(r["ready"] for r in runs) < min(a1, b1), runs
        # ... and the two training steps never ran inside the pool at the same time.
        assert a1 <= b0 or b1 <= a0, runs
        info = instance.event_log_storage.get_concurrency_info(pool)
        assert info.slot_count == 1 and info.claimed_slots == []  # released after the runs
    finally:
        instance.dispose()
