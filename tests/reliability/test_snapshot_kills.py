"""Ingest + snapshot killed with SIGKILL at random points, repeatedly: no partial version is
ever visible, and the final dataset equals an uninterrupted run's (nothing lost or doubled)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from feedback_ingest.config import IngestConfig
from feedback_ingest.simulate import write_simulated
from feedback_ingest.snapshots import file_sha256, latest_version, list_versions, load_snapshot

pytestmark = pytest.mark.slow

RUN = """
import sys
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
config = IngestConfig(home=sys.argv[1], batch_size=2000)
ingest_feedback(config)
build_snapshot(config)
"""


def _assert_versions_complete(config: IngestConfig) -> None:
    import json

    for version in list_versions(config.datasets_root):
        folder = config.datasets_root / version
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, digest in manifest["files"].items():
            assert file_sha256(folder / name) == digest, f"{version}/{name} is partial"


def _content(config: IngestConfig):
    train, val = load_snapshot(config.datasets_root, latest_version(config.datasets_root))
    cols = ["pair_id", "n_votes", "agreement", "split"]
    return sorted(map(tuple, train[cols].values.tolist() + val[cols].values.tolist()))


def _seconds(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True)
    return time.perf_counter() - started


def test_random_sigkills_never_expose_a_partial_version_and_lose_nothing(tmp_path):
    reference = IngestConfig(home=tmp_path / "reference", batch_size=2000)
    victim = IngestConfig(home=tmp_path / "victim", batch_size=2000)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    # Kills are timed from this machine's own pace: a run's start-up, then a random point of
    # its work, so they land inside the work however fast the code gets.
    startup = _seconds([sys.executable, "-c", "import feedback_ingest.build"], env)
    rng = random.Random(7)
    kills = 0
    for seed in range(1, 7):  # each attempt brings a new landing file: fresh work to cut into
        write_simulated(reference, 3000, seed=seed)
        write_simulated(victim, 3000, seed=seed)
        work = _seconds([sys.executable, "-c", RUN, str(reference.home)], env) - startup
        proc = subprocess.Popen([sys.executable, "-c", RUN, str(victim.home)], env=env)
        time.sleep(startup + rng.uniform(0.1, 0.9) * max(work, 0.2))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        _assert_versions_complete(victim)
    subprocess.run([sys.executable, "-c", RUN, str(victim.home)], env=env, check=True)
    _assert_versions_complete(victim)
    assert kills >= 3, "the runs finished before the kills"
    assert not list(victim.datasets_root.glob(".tmp-*"))  # stale temporaries were swept
    assert _content(victim) == _content(reference)
