"""MLflow tracking of training runs: the registry config, params, per-step metrics, the golden
evaluation and its artifacts.

Everything goes through an explicit `MlflowClient` and a `run_id` (never the fluent API's global
active run), so a Dagster step, a thread or a test can track a run without touching process-wide
MLflow state. Usage: `start_training_run` -> train with `run.metrics_callback()` ->
`mlflow_model.log_reward_model` -> `log_evaluation` -> `registry.register_candidate` ->
`run.finish()` (or use the run as a context manager).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
MAX_TAG_CHARS = 5000
_BATCH = 100  # MLflow accepts at most 100 params per log_batch call


@dataclass(frozen=True)
class RegistryConfig:
    """Where runs and model versions live. Built by orchestration from its settings."""

    tracking_uri: str
    """MLflow tracking URI: `sqlite:///ABS/mlflow.db` (embedded default) or an MLflow server."""
    model_name: str = "reward-model"
    """The one registered model that every candidate version is registered under."""
    experiment_name: str = "reward-model-training"
    """Experiment that training runs are created in (created on first use)."""
    artifact_location: str | None = None
    """Artifact root of a NEW experiment. None: `<db folder>/mlartifacts` for SQLite stores,
    the server's default otherwise. Ignored once the experiment exists."""
    registry_uri: str | None = None
    """Model registry URI; None means the tracking URI."""
    handoff_dir: str | None = None
    """Folder where promotions and rollbacks write the PPO handoff record; None: not written."""
    lock_url: str | None = None
    """What serialises promotions across processes: a lock file path, or a `postgresql://` URL
    (advisory lock). None: derived from the tracking URI (a file next to a SQLite DB, an advisory
    lock on a PostgreSQL store); for other stores promotion falls back to check-after-write."""
    lock_timeout_s: float = 60.0
    """How long a promotion waits for the lock before refusing."""

    def __post_init__(self) -> None:
        if not self.tracking_uri or not str(self.tracking_uri).strip():
            raise ValueError("RegistryConfig.tracking_uri: must be a non-empty MLflow URI")
        for name in ("tracking_uri", "registry_uri"):  # frozen: set through object
            uri = without_credentials(getattr(self, name), f"RegistryConfig.{name}")
            object.__setattr__(self, name, uri)
        if not self.model_name or "/" in self.model_name or "@" in self.model_name:
            raise ValueError(
                f"RegistryConfig.model_name: {self.model_name!r} must be non-empty, "
                "without '/' or '@'"
            )
        # The name goes into MLflow filter strings (name='...'), which have no escaping: a quote
        # ends the value early and the search fails with an unrelated-looking parse error.
        quotes = sorted({c for c in self.model_name if c in "'\""})
        if quotes:
            raise ValueError(
                f"RegistryConfig.model_name: {self.model_name!r} contains "
                f"{' and '.join(quotes)}: a quote breaks MLflow's filter strings"
            )
        if self.lock_timeout_s <= 0:
            raise ValueError("RegistryConfig.lock_timeout_s: must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def without_credentials(uri: str | None, field: str = "RegistryConfig.tracking_uri") -> str | None:
    """An http(s) tracking URI without its `user:password@`, which go to MLflow's own
    MLFLOW_TRACKING_USERNAME / _PASSWORD: a URI is printed in error messages and run logs, a
    variable is not. Raises ValueError (naming `field`) if they are set to other credentials."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    if not uri or not uri.startswith(("http://", "https://")):
        return uri
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    wanted = {"MLFLOW_TRACKING_USERNAME": unquote(parts.username or "")}
    if parts.password is not None:
        wanted["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    # MLflow's REST client takes credentials only from these process-wide variables, so they
    # are set when unset; but if another URI (or the environment) set others, MLflow would send
    # those to this server, or ours to theirs: refuse instead (without echoing either secret).
    clashes = [k for k, v in wanted.items() if os.environ.get(k) and os.environ[k] != v]
    if clashes:
        raise ValueError(
            f"{field}: its user:password@ differ from {' and '.join(clashes)} already set in "
            "this process (e.g. from another tracking URI); MLflow sends one set of credentials "
            "to every server: use the same credentials, or one process per server"
        )
    os.environ.update(wanted)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def sqlite_db_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    return Path(database) if database and database != ":memory:" else None


def default_artifact_location(config: RegistryConfig) -> str | None:
    """Artifact root for a new experiment (see `RegistryConfig.artifact_location`)."""
    if config.artifact_location:
        return config.artifact_location
    db = sqlite_db_path(config.tracking_uri)
    # Without this, SQLite-backed MLflow writes artifacts to ./mlruns of whatever the cwd is.
    return (db.resolve().parent / "mlartifacts").as_uri() if db else None


def mlflow_client(config: RegistryConfig):
    """An `MlflowClient` bound to the config's tracking and registry URIs."""
    from mlflow import MlflowClient

    return MlflowClient(
        tracking_uri=config.tracking_uri, registry_uri=config.registry_uri or config.tracking_uri
    )


def ensure_experiment(config: RegistryConfig, client=None) -> str:
    """Id of the config's experiment, created on first use (safe if two processes race)."""
    from mlflow.exceptions import MlflowException

    client = client or mlflow_client(config)
    found = client.get_experiment_by_name(config.experiment_name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(
            config.experiment_name, artifact_location=default_artifact_location(config)
        )
    except MlflowException:
        found = client.get_experiment_by_name(config.experiment_name)
        if found is None:
            raise
        return found.experiment_id


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys (`{"a": {"b": 1}}` -> `{"a.b": 1}`)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def as_plain_dict(obj: Any) -> dict[str, Any]:
    """A config or result object as a dict: `to_dict()`, a dataclass, or a mapping."""
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"expected a dataclass, a mapping or an object with to_dict(), got {type(obj)}")


def param_value(value: Any, limit: int = MAX_PARAM_CHARS) -> str:
    """A value as MLflow param/tag text (JSON for containers), cut to MLflow's limit."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def numeric_items(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a (nested) mapping; bools and text are skipped."""
    out = {}
    for key, value in flatten(values).items():
        value = value.item() if hasattr(value, "item") and callable(value.item) else value
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def system_info(device: str | None = None) -> dict[str, str]:
    """Device and library versions of the process that trains (logged as `system.*` params)."""
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "system.device": device if device and device != "auto" else ("cuda" if cuda else "cpu"),
        "system.cuda_device": torch.cuda.get_device_name(0) if cuda else "",
        "system.torch_version": torch.__version__,
        "system.transformers_version": transformers.__version__,
        "system.python_version": platform.python_version(),
        "system.platform": platform.platform(),
    }


def log_params(client, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params in batches of MLflow's maximum size."""
    from mlflow.entities import Param

    items = [Param(k, param_value(v)) for k, v in params.items()]
    for start in range(0, len(items), _BATCH):
        client.log_batch(run_id, params=items[start : start + _BATCH])


def log_metrics(client, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> dict:
    """Log the numeric entries of `metrics` at `step`; returns what was logged."""
    import time

    from mlflow.entities import Metric

    numbers = numeric_items(metrics)
    now = int(time.time() * 1000)
    batch = [Metric(k, v, now, int(step)) for k, v in numbers.items()]
    for start in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[start : start + 1000])
    return numbers


class MlflowMetricsCallback:
    """The trainer's metrics callback: logs `{stage}/{name}` at `step` into one run."""

    def __init__(self, client, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def on_metrics(self, metrics: dict[str, float], step: int, stage: str) -> None:
        """Called by the trainer per logging step and per epoch (`stage`: train, eval, epoch...)."""
        prefixed = {k if "/" in k else f"{stage}/{k}": v for k, v in metrics.items()}
        log_metrics(self.client, self.run_id, prefixed, step=step)


@dataclass
class TrainingRun:
    """An open MLflow run for one training; a context manager that records FAILED on error."""

    config: RegistryConfig
    run_id: str
    experiment_id: str

    def client(self):
        return mlflow_client(self.config)

    def metrics_callback(self) -> MlflowMetricsCallback:
        return MlflowMetricsCallback(self.client(), self.run_id)

    def finish(self, status: str = "FINISHED") -> None:
        self.client().set_terminated(self.run_id, status=status)

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("FAILED" if exc_type else "FINISHED")

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id}


def start_training_run(
    config: RegistryConfig,
    train_config: Any,
    dataset_version: str | None,
    manifest_counts: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    device: str | None = None,
) -> TrainingRun:
    """Open a run and log the whole train config, the dataset version/counts and system info."""
    client = mlflow_client(config)
    experiment_id = ensure_experiment(config, client)
    run_tags = {"dataset_version": dataset_version or "", **(tags or {})}
    run = client.create_run(experiment_id, run_name=run_name, tags=run_tags)
    params = flatten(as_plain_dict(train_config))
    params["dataset.version"] = dataset_version or ""
    params.update(flatten(dict(manifest_counts or {}), "dataset.count."))
    params.update(system_info(device or params.get("device")))
    log_params(client, run.info.run_id, params)
    return TrainingRun(config, run.info.run_id, experiment_id)


def log_files(config: RegistryConfig, run_id: str, paths: Iterable[Path], artifact_dir: str):
    """Log existing files under `artifact_dir`; returns their artifact paths."""
    client = mlflow_client(config)
    logged = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"artifact to log does not exist: {path}")
        client.log_artifact(run_id, str(path), artifact_dir)
        logged.append(f"{artifact_dir}/{path.name}")
    return logged


def log_json(config: RegistryConfig, run_id: str, data: Any, artifact_file: str) -> str:
    """Log `data` as a JSON artifact at `artifact_file` (e.g. `evaluation/golden_report.json`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        parent = Path(artifact_file).parent.as_posix()
        mlflow_client(config).log_artifact(run_id, str(path), None if parent == "." else parent)
    return artifact_file


def log_training_result(config: RegistryConfig, run_id: str, result: Any) -> dict[str, float]:
    """Log a TrainResult's final metrics (`final/*`) and its card JSON (`card/`)."""
    metrics = getattr(result, "metrics", None) or {}
    logged = log_metrics(
        mlflow_client(config), run_id, {f"final/{k}": v for k, v in metrics.items()}
    )
    card = getattr(result, "card", None)
    if card is not None:
        log_json(config, run_id, as_plain_dict(card), "card/reward_card.json")
    return logged
