"""The one Dagster `Definitions` of rmops (loaded by workspace.yaml).

Environment variables (all optional; the embedded defaults need none):
RMOPS_HOME, MLFLOW_TRACKING_URI, RMOPS_MODEL_NAME, RMOPS_GOLDEN_DIR, RMOPS_RETRAIN_MIN_PAIRS,
RMOPS_DRIFT_WINDOW, RMOPS_INGEST_CRON, RMOPS_DRIFT_CRON, RMOPS_FEEDBACK_SQL_URL (secret),
RMOPS_FEEDBACK_SQL_TABLE, RMOPS_ALERT_WEBHOOK_URL (secret).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration import settings
from orchestration.assets import feedback, monitoring, registry, training, validation
from orchestration.checks import candidate_gate_verdict, preference_dataset_expectations
from orchestration.jobs import downstream_ppo_job, drift_job, ingest_job, training_job
from orchestration.resources import (
    AlertSinksResource,
    FeedbackSourceResource,
    MlflowRegistryResource,
    RmopsHomeResource,
)
from orchestration.schedules import build_schedules
from orchestration.sensors import (
    build_champion_change_sensor,
    dead_run_sensor,
    feedback_volume_sensor,
    reward_drift_sensor,
    run_failure_alert_sensor,
)
from validation.expectations import DataExpectationsConfig


def _secret(name: str) -> str | dg.EnvVar:
    # Resolved by Dagster at run time, so the value never lands in the definitions or logs.
    return dg.EnvVar(name) if settings.is_set(name) else ""


def build_resources(home: Path | None = None) -> dict:
    """Resources from the environment (the only place that reads it, via `settings`)."""
    home = Path(home) if home is not None else settings.rmops_home()
    sql = settings.is_set("RMOPS_FEEDBACK_SQL_URL")
    return {
        "rmops_home": RmopsHomeResource(
            home=str(home),
            golden_dir=settings.env_str("RMOPS_GOLDEN_DIR"),
            retrain_min_pairs=settings.env_int("RMOPS_RETRAIN_MIN_PAIRS", 500),
            drift_window=settings.env_int("RMOPS_DRIFT_WINDOW", 500),
            max_quarantine_share=settings.env_share(
                "RMOPS_MAX_QUARANTINE_SHARE", DataExpectationsConfig.max_quarantine_share
            ),
        ),
        "feedback_source": FeedbackSourceResource(
            kind="sql" if sql else "landing",
            sql_url=_secret("RMOPS_FEEDBACK_SQL_URL"),
            sql_table=settings.env_str("RMOPS_FEEDBACK_SQL_TABLE", "feedback_events"),
        ),
        "mlflow_registry": MlflowRegistryResource(
            tracking_uri=settings.mlflow_tracking_uri(home),
            model_name=settings.registered_model_name(),
            artifact_location=settings.mlflow_artifact_root(home),
            handoff_dir=str(home / "handoff"),
        ),
        "alert_sinks": AlertSinksResource(
            jsonl_path=str(home / "alerts" / "alerts.jsonl"),
            webhook_url=_secret("RMOPS_ALERT_WEBHOOK_URL"),
        ),
    }


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """All assets, checks, jobs, sensors and schedules, with `resources` (default: from env)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([feedback, training, validation, registry, monitoring]),
        asset_checks=[preference_dataset_expectations, candidate_gate_verdict],
        jobs=[ingest_job, training_job, drift_job, downstream_ppo_job],
        sensors=[
            feedback_volume_sensor,
            reward_drift_sensor,
            build_champion_change_sensor(downstream_ppo_job),
            run_failure_alert_sensor,
            dead_run_sensor,
        ],
        schedules=build_schedules(
            settings.env_str("RMOPS_INGEST_CRON", "*/10 * * * *"),
            settings.env_str("RMOPS_DRIFT_CRON", "0 * * * *"),
        ),
        resources=resources if resources is not None else build_resources(),
    )


defs = build_definitions()
