"""The PostgreSQL profile: Dagster instance storage (dagster-postgres), the MLflow backend store
and the SQL feedback source all on a real PostgreSQL server started by the test; the whole asset
graph promotes a champion on it."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa
from postgres_server import PostgresServer, missing_reason
from rel_helpers import free_port

from feedback_ingest.simulate import simulate_events
from feedback_ingest.simulate_golden import write_simulated_golden

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
NESTED = ("prompt", "responses", "preference", "annotator", "metadata")


@pytest.fixture(scope="module")
def postgres():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(free_port())
    server.start()
    yield server
    server.stop()


def fill_feedback_table(url: str, events: list[dict]) -> None:
    """A production-like feedback table: autoincrement id (the watermark), JSON-text columns."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "feedback_events", meta,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        *[sa.Column(c, sa.Text) for c in ("event_id", "timestamp", "type", *NESTED)],
    )  # fmt: skip
    meta.create_all(engine)
    columns = ("event_id", "timestamp", "type", *NESTED)
    rows = [  # a missing field becomes NULL; the simulator's corrupt events stay corrupt
        {c: e.get(c) if isinstance(e.get(c), str | None) else json.dumps(e[c]) for c in columns}
        for e in events
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()


def dagster_home_on(postgres, folder):
    folder.mkdir(parents=True)
    url = postgres.create_database("dagster")
    (folder / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {url}\n")
    return folder


def materialize_all(resources: dict, backbone, instance):
    """Every asset and check of the project's Definitions, training the tiny backbone fast."""
    from orchestration.checks import candidate_gate_verdict, preference_dataset_expectations
    from orchestration.definitions import build_definitions

    defs = build_definitions(resources)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    training = {"backbone": str(backbone), "learning_rate": 3e-3, "num_epochs": 3.0,
                "per_device_batch_size": 16, "max_length": 64, "progress_bar": False}  # fmt: skip
    run_config = {
        "ops": {
            "reward_model_candidate": {"config": training},
            "candidate_evaluation": {"config": {"n_bootstrap": 200}},
        }
    }
    return dg.materialize(
        [*(defs.get_assets_def(k) for k in keys), preference_dataset_expectations,
         candidate_gate_verdict],
        resources=resources, run_config=run_config, instance=instance, raise_on_error=False,
    )  # fmt: skip


def test_whole_graph_on_postgres(postgres, rmops_home, tmp_path, tiny_backbone_dir, monkeypatch):
    from orchestration.resources import (
        AlertSinksResource,
        FeedbackSourceResource,
        MlflowRegistryResource,
        RmopsHomeResource,
    )
    from rm_pipeline.registry import current_champion, version_info
    from rm_pipeline.tracking import RegistryConfig, mlflow_client

    monkeypatch.chdir(tmp_path)  # nothing may land in the checkout (MLflow's ./mlruns default)
    feedback_url = postgres.create_database("feedback")
    fill_feedback_table(feedback_url, simulate_events(600, seed=1))
    write_simulated_golden(rmops_home / "golden" / "simulated-golden.jsonl", n=120)
    mlflow_url = postgres.create_database("mlflow")
    # A deployment sets the experiment's artifact root once (here: a local folder).
    registry = RegistryConfig(tracking_uri=mlflow_url)
    mlflow_client(registry).create_experiment(
        registry.experiment_name, artifact_location=(tmp_path / "mlartifacts").as_uri()
    )
    resources = {
        "rmops_home": RmopsHomeResource(home=str(rmops_home), retrain_min_pairs=100),
        "feedback_source": FeedbackSourceResource(kind="sql", sql_url=feedback_url),
        "mlflow_registry": MlflowRegistryResource(
            tracking_uri=mlflow_url, handoff_dir=str(rmops_home / "handoff")
        ),
        "alert_sinks": AlertSinksResource(jsonl_path=str(rmops_home / "alerts.jsonl")),
    }
    dagster_home = dagster_home_on(postgres, tmp_path / "dagster")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize_all(resources, tiny_backbone_dir, instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success  # the run record lives in PostgreSQL
        dataset = result.output_for_node("preference_dataset")
    assert dataset.version == "v000001" and dataset.counts["total"] > 0
    assert current_champion(registry) == "1"
    assert version_info(registry, "1").tags["gate_verdict"] == "passed"
    assert not (tmp_path / "mlruns").exists()
    engine = sa.create_engine(mlflow_url)
    with engine.connect() as conn:  # the registry rows are really in PostgreSQL
        count = conn.execute(sa.text("SELECT count(*) FROM model_versions")).scalar()
    engine.dispose()
    assert count == 1
