"""Helpers shared by the reliability tests: free ports, a snapshot built from simulated
feedback, and subprocess environments."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.simulate import write_simulated

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simulated_snapshot(home: Path, n_events: int = 600, seed: int = 1) -> tuple[Path, str]:
    """Ingest `n_events` simulated events into `home` and build a snapshot: (root, version)."""
    config = IngestConfig(home=home)
    write_simulated(config, n_events, seed=seed)
    ingest_feedback(config)
    report = build_snapshot(config)
    return config.datasets_root, report.version


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: offline, one thread per process (2 cores shared)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), **extra}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env
