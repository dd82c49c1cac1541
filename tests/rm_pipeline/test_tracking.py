"""Tracking a training run in a real MLflow (SQLite): params, step metrics, the golden
evaluation and its artifacts, run status."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from rm_pipeline.card import RewardCard
from rm_pipeline.config import TrainConfig
from rm_pipeline.mlflow_model import log_evaluation, log_reward_histogram
from rm_pipeline.tracking import (
    RegistryConfig,
    log_training_result,
    mlflow_client,
    start_training_run,
)


@dataclass
class FakeVerdictShape:
    """Same fields as validation.gate.GateVerdict (the registry must not import validation)."""

    passed: bool
    reasons: list[str]
    metrics: dict
    golden_hash: str
    reliability_plot: Path | None = None
    extra: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> RegistryConfig:
    root = tmp_path_factory.mktemp("tracking")
    return RegistryConfig(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def test_training_run_logs_config_dataset_system_and_step_metrics(cfg):
    import torch

    train_config = TrainConfig(max_length=64, learning_rate=1e-4, device="cpu")
    with start_training_run(
        cfg, train_config, "v000004", {"train": 48, "val": 12}, run_name="t"
    ) as run:
        callback = run.metrics_callback()
        callback.on_metrics({"loss": 0.69, "grad_norm": 1.5}, step=1, stage="train")
        callback.on_metrics({"loss": 0.52, "note": "text is skipped"}, step=2, stage="train")
        callback.on_metrics({"accuracy": 0.75, "eval/loss": 0.5}, step=2, stage="eval")
        result = SimpleNamespace(
            metrics={"val_accuracy": 0.8, "epochs": 1},
            card=RewardCard(base_model="tiny", input_template={}, max_length=64),
        )
        assert log_training_result(cfg, run.run_id, result) == {
            "final/val_accuracy": 0.8,
            "final/epochs": 1.0,
        }
    client = mlflow_client(cfg)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    params = logged.data.params
    assert set(dataclasses.asdict(train_config)) <= set(params)  # every TrainConfig field
    assert params["learning_rate"] == "0.0001" and params["max_length"] == "64"
    assert params["dataset.version"] == "v000004" and params["dataset.count.train"] == "48"
    assert params["system.torch_version"] == torch.__version__
    assert params["system.device"] == "cpu"
    history = client.get_metric_history(run.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.69), (2, 0.52)]
    assert logged.data.metrics["eval/accuracy"] == 0.75 and "eval/loss" in logged.data.metrics
    assert "train/note" not in logged.data.metrics
    artifacts = [a.path for a in client.list_artifacts(run.run_id, "card")]
    assert artifacts == ["card/reward_card.json"]
    experiment = client.get_experiment(run.experiment_id)
    db_dir = Path(cfg.tracking_uri.removeprefix("sqlite:///")).parent
    assert experiment.artifact_location == (db_dir / "mlartifacts").as_uri()


def test_failed_training_marks_the_run_failed(cfg):
    with pytest.raises(RuntimeError, match="boom"), start_training_run(cfg, {"lr": 1}, None) as run:
        raise RuntimeError("boom")
    assert mlflow_client(cfg).get_run(run.run_id).info.status == "FAILED"


def test_log_evaluation_tags_metrics_and_artifacts(cfg, tmp_path):
    run = start_training_run(cfg, {"seed": 1}, "v000001")
    plot = tmp_path / "reliability.png"
    plot.write_bytes(b"\x89PNG fake bytes are fine for an artifact")
    verdict = FakeVerdictShape(
        passed=False,
        reasons=["golden accuracy 0.55 < 0.60"],
        metrics={"accuracy": 0.55, "ece": 0.1, "slices": {"code": 0.4}},
        golden_hash="abc123",
        reliability_plot=plot,
    )
    fields = log_evaluation(cfg, run.run_id, verdict)
    assert fields["passed"] is False
    log_reward_histogram(cfg, run.run_id, [0.1, -0.3, 2.0, float("nan")])
    run.finish()
    client = mlflow_client(cfg)
    data = client.get_run(run.run_id).data
    assert data.tags["gate_verdict"] == "failed" and data.tags["golden_hash"] == "abc123"
    assert "0.55 < 0.60" in data.tags["gate_reasons"]
    assert data.metrics["golden/accuracy"] == 0.55 and data.metrics["golden/slices.code"] == 0.4
    names = sorted(a.path for a in client.list_artifacts(run.run_id, "evaluation"))
    assert names == [
        "evaluation/golden_report.json",
        "evaluation/reliability.png",
        "evaluation/reward_histogram.png",
    ]
    with pytest.raises(ValueError, match="'passed'"):
        log_evaluation(cfg, run.run_id, {"passed": "yes", "reasons": []})
    with pytest.raises(ValueError, match="'reasons'"):
        log_evaluation(cfg, run.run_id, {"passed": True, "reasons": "fine"})


def test_registry_config_names_the_bad_field():
    with pytest.raises(ValueError, match="tracking_uri"):
        RegistryConfig(tracking_uri=" ")
    with pytest.raises(ValueError, match="model_name"):
        RegistryConfig(tracking_uri="sqlite:///x.db", model_name="a/b")
    with pytest.raises(ValueError, match="lock_timeout_s"):
        RegistryConfig(tracking_uri="sqlite:///x.db", lock_timeout_s=0)


@pytest.mark.parametrize("name", ["rm'; x", 'rm"x'])
def test_a_model_name_that_breaks_mlflow_filter_strings_is_refused(name):
    with pytest.raises(ValueError, match="RegistryConfig.model_name: .* filter strings"):
        RegistryConfig(tracking_uri="sqlite:///x.db", model_name=name)


@pytest.mark.slow
def test_real_training_run_tracked_end_to_end(cfg, tiny_backbone_dir, tmp_path):
    """open run -> train with the MLflow callback -> log model + evaluation -> register."""
    from rm_helpers import obvious_pairs, split_frames, tiny_config

    from rm_pipeline.mlflow_model import log_reward_model
    from rm_pipeline.registry import register_candidate
    from rm_pipeline.train import train_reward_model

    train_config = tiny_config(tiny_backbone_dir, num_epochs=2)
    train, val = split_frames(obvious_pairs(24))
    with start_training_run(cfg, train_config, "v000009", {"train": len(train)}) as run:
        result = train_reward_model(
            train_config, train, val, tmp_path, "v000009", callbacks=[run.metrics_callback()]
        )
        log_training_result(cfg, run.run_id, result)
        logged = log_reward_model(cfg, run.run_id, result.export_dir)
        verdict = {"passed": True, "reasons": [], "metrics": {"accuracy": 0.9}, "golden_hash": "h"}
        log_evaluation(cfg, run.run_id, verdict)
        version = register_candidate(
            cfg, run.run_id, logged.model_uri, "v000009", True, [], {"accuracy": 0.9}
        )
    client = mlflow_client(cfg)
    losses = client.get_metric_history(run.run_id, "train/loss")
    assert len(losses) >= 2 and [m.step for m in losses] == sorted(m.step for m in losses)
    assert client.get_metric_history(run.run_id, "eval/accuracy")
    assert version.tags["reward_std"] == repr(float(result.card.reward_std))
    assert version.tags["base_model"] == result.card.base_model
    assert client.get_run(run.run_id).data.tags["gate_verdict"] == "passed"


def test_credentials_in_a_server_uri_go_to_mlflows_variables_not_into_errors(monkeypatch):
    """A helper found `http://user:password@host` printed in a failed step's error (the event
    log). The URI keeps the host; MLflow reads the credentials from its own variables."""
    from mlflow.exceptions import MlflowException

    from rm_pipeline.registry import list_models

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "")  # recorded, so that what the code sets is undone after
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    config = RegistryConfig(tracking_uri="http://ml-user:S3cr%40t@127.0.0.1:9/base")
    assert config.tracking_uri == "http://127.0.0.1:9/base"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "ml-user"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "S3cr@t"
    with pytest.raises(MlflowException) as refused:  # nothing listens on port 9
        list_models(config)
    assert "S3cr" not in str(refused.value) and "127.0.0.1:9" in str(refused.value)
    assert RegistryConfig(tracking_uri="sqlite:///x.db").tracking_uri == "sqlite:///x.db"


def test_a_uri_with_other_credentials_than_those_already_set_is_refused(monkeypatch):
    """MLflow sends one set of credentials (process-wide variables) to every server: the first
    URI's password went to the second URI's server."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-pw")
    with pytest.raises(ValueError, match="RegistryConfig.tracking_uri") as refused:
        RegistryConfig(tracking_uri="http://bob:bob-pw@mlflow-b.internal:5000")
    assert "bob-pw" not in str(refused.value) and "alice-pw" not in str(refused.value)
    with pytest.raises(ValueError, match="RegistryConfig.registry_uri"):
        RegistryConfig(tracking_uri="sqlite:///x.db", registry_uri="http://bob:x@h:5000")
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "alice-pw"
    same = RegistryConfig(tracking_uri="http://alice:alice-pw@mlflow-a.internal:5000")
    assert same.tracking_uri == "http://mlflow-a.internal:5000"
