"""Helpers for the Dagster tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path


def tiny_run_config(backbone: Path, **gate) -> dict:
    """Run config that trains the tiny backbone in about a minute; `gate` sets GateConfig fields."""
    training = {
        "backbone": str(backbone),
        "learning_rate": 2e-3,
        "num_epochs": 4.0,
        "per_device_batch_size": 16,
        "max_length": 64,
        "progress_bar": False,
    }
    return {
        "ops": {
            "reward_model_candidate": {"config": training},
            "candidate_evaluation": {"config": {"n_bootstrap": 200, **gate}},
        }
    }
