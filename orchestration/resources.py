"""Dagster resources: thin `ConfigurableResource`s that build the libraries' config dataclasses.

Embedded defaults need no environment variable at all; `definitions.py` passes `dg.EnvVar`s
only for variables that are set, so secrets (the webhook URL, a SQL URL with a password) are
resolved by Dagster at run time and never logged.
"""

from pathlib import Path

import dagster as dg

from feedback_ingest.config import IngestConfig
from validation.expectations import DataExpectationsConfig


class RmopsHomeResource(dg.ConfigurableResource):
    """The RMOPS_HOME folder and the files the pipeline keeps in it."""

    home: str
    golden_dir: str = ""  # folder of golden files; default: `<home>/golden`
    retrain_min_pairs: int = 500  # feedback_volume_sensor threshold (new accepted pairs)
    drift_window: int = 500  # recent production responses scored by the drift report
    # feedback_events' check warns when one run quarantines more than this share of what it read
    max_quarantine_share: float = DataExpectationsConfig.max_quarantine_share

    @property
    def root(self) -> Path:
        return Path(self.home)

    @property
    def golden_folder(self) -> Path:
        return Path(self.golden_dir) if self.golden_dir else self.root / "golden"

    def golden_paths(self) -> list[Path]:
        """Golden files (HH or pair-format JSONL, optionally gzipped), sorted by name."""
        folder = self.golden_folder
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))

    def ingest_config(self) -> IngestConfig:
        return IngestConfig(home=self.root, golden_paths=self.golden_paths())

    @property
    def handoff_dir(self) -> Path:
        return self.root / "handoff"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def drift_reference_path(self) -> Path:
        return self.root / "drift" / "reference.parquet"

    @property
    def drift_state_path(self) -> Path:
        return self.root / "drift" / "episodes.json"


class FeedbackSourceResource(dg.ConfigurableResource):
    """Where feedback events come from: the landing folder (default) or a SQL table."""

    kind: str = "landing"  # landing | sql
    sql_url: str = ""  # SQLAlchemy URL (may hold a password: pass it as an EnvVar)
    sql_table: str = "feedback_events"
    watermark_column: str = "id"

    def source(self, config: IngestConfig):
        from feedback_ingest.sources import LandingFolderSource
        from feedback_ingest.sql_source import SqlSource

        if self.kind == "landing":
            return LandingFolderSource.for_config(config)
        if self.kind == "sql":
            if not self.sql_url:
                raise ValueError("FeedbackSourceResource.sql_url: required when kind='sql'")
            return SqlSource(self.sql_url, self.sql_table, self.watermark_column)
        raise ValueError(f"FeedbackSourceResource.kind: {self.kind!r} is not 'landing' or 'sql'")


class MlflowRegistryResource(dg.ConfigurableResource):
    """MLflow tracking and the model registry (SQLite in RMOPS_HOME by default)."""

    tracking_uri: str
    model_name: str = "reward-model"
    experiment_name: str = "reward-model-training"
    artifact_location: str = ""  # artifact root of a new experiment (default: next to SQLite)
    handoff_dir: str = ""

    def registry_config(self):
        from rm_pipeline.tracking import RegistryConfig

        return RegistryConfig(
            tracking_uri=self.tracking_uri,
            model_name=self.model_name,
            experiment_name=self.experiment_name,
            artifact_location=self.artifact_location or None,
            handoff_dir=self.handoff_dir or None,
        )


class AlertSinksResource(dg.ConfigurableResource):
    """Where alerts go: the log, a JSONL file, and a Slack-compatible webhook when configured."""

    jsonl_path: str = ""
    webhook_url: str = ""  # a secret: only ever set from an EnvVar, never logged

    def sinks(self) -> list:
        from validation.alerts import JsonlSink, LogSink, WebhookSink

        sinks: list = [LogSink()]
        if self.jsonl_path:
            sinks.append(JsonlSink(Path(self.jsonl_path)))
        if self.webhook_url:
            sinks.append(WebhookSink(self.webhook_url))
        return sinks

    def send(self, alert) -> list:
        from validation.alerts import send_alert

        return send_alert(alert, self.sinks())
