"""The one place that turns the environment into rmops settings.

Libraries never read environment variables; the CLI and the Dagster resources call these
functions and pass plain values (paths, URIs, names) into the libraries' config dataclasses.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".rmops"
DEFAULT_MODEL_NAME = "reward-model"


def rmops_home() -> Path:
    """`RMOPS_HOME` (default `./.rmops`), absolute."""
    return Path(os.environ.get("RMOPS_HOME", DEFAULT_HOME)).expanduser().resolve()


def mlflow_tracking_uri(home: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI`, else a SQLite store inside the home directory."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        from rm_pipeline.tracking import without_credentials

        # user:password@ go to MLflow's own variables
        return without_credentials(uri, "MLFLOW_TRACKING_URI")
    return f"sqlite:///{(home or rmops_home()) / 'mlflow.db'}"


def mlflow_artifact_root(home: Path | None = None) -> str:
    """Where new MLflow experiments keep artifacts (`RMOPS_MLFLOW_ARTIFACTS`)."""
    root = os.environ.get("RMOPS_MLFLOW_ARTIFACTS")
    return root or ((home or rmops_home()) / "mlartifacts").as_uri()


def registered_model_name() -> str:
    """`RMOPS_MODEL_NAME` (default `reward-model`)."""
    return os.environ.get("RMOPS_MODEL_NAME", DEFAULT_MODEL_NAME)


def env_int(name: str, default: int) -> int:
    """An integer environment variable, with an error that names it."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {raw!r}") from None


def env_share(name: str, default: float) -> float:
    """A share in [0, 1] from an environment variable, with an error that names it."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"{name}: expected a number in [0, 1], got {raw!r}")
    return value


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def is_set(name: str) -> bool:
    """Whether a (secret) variable is set; its value is read by Dagster's EnvVar at run time."""
    return bool(os.environ.get(name))
