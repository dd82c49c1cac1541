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

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
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


def test_random_sigkills_never_expose_a_partial_version_and_lose_nothing(tmp_path):
    reference = IngestConfig(home=tmp_path / "reference", batch_size=2000)
    victim = IngestConfig(home=tmp_path / "victim", batch_size=2000)
    for seed in (1, 2):  # two landing files, two snapshots' worth of events
        write_simulated(reference, 6000, seed=seed)
        write_simulated(victim, 6000, seed=seed)
    ingest_feedback(reference)
    build_snapshot(reference)

    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", RUN, str(victim.home)], env=env)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        _assert_versions_complete(victim)
    subprocess.run([sys.executable, "-c", RUN, str(victim.home)], env=env, check=True)
    _assert_versions_complete(victim)
    assert kills >= 3, "the runs finished before the kills: grow the input"
    assert not list(victim.datasets_root.glob(".tmp-*"))  # stale temporaries were swept
    assert _content(victim) == _content(reference)
