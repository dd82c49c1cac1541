"""Fixtures for the Dagster tests: a home with simulated feedback and a golden set, resources
on a temp SQLite MLflow, and run config that trains the tiny model quickly."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_ingest.config import IngestConfig
from feedback_ingest.simulate import write_simulated
from feedback_ingest.simulate_golden import write_simulated_golden


@pytest.fixture
def loop_home(rmops_home: Path) -> Path:
    """RMOPS_HOME with 600 simulated events in the landing folder and a 120-pair golden set."""
    write_simulated(IngestConfig(home=rmops_home), 600, seed=1)
    write_simulated_golden(rmops_home / "golden" / "simulated-golden.jsonl", n=120)
    return rmops_home


@pytest.fixture
def loop_resources(loop_home: Path, mlflow_uri: str) -> dict:
    from orchestration.resources import (
        AlertSinksResource,
        FeedbackSourceResource,
        MlflowRegistryResource,
        RmopsHomeResource,
    )

    return {
        "rmops_home": RmopsHomeResource(home=str(loop_home), retrain_min_pairs=100),
        "feedback_source": FeedbackSourceResource(),
        "mlflow_registry": MlflowRegistryResource(
            tracking_uri=mlflow_uri, handoff_dir=str(loop_home / "handoff")
        ),
        "alert_sinks": AlertSinksResource(jsonl_path=str(loop_home / "alerts" / "alerts.jsonl")),
    }
