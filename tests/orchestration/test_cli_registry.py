"""`rmops promote / rollback / models` against a real SQLite MLflow inside RMOPS_HOME."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.registry import register_candidate
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client


@pytest.fixture
def registry_home(rmops_home, monkeypatch, tiny_backbone_dir) -> Path:
    """RMOPS_HOME with versions 1 and 2 (passed) and 3 (failed) of `reward-model`."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RMOPS_MODEL_NAME", raising=False)
    export = Path(shutil.copytree(tiny_backbone_dir, rmops_home / "export"))
    card = RewardCard(base_model="tiny", input_template={}, max_length=32)
    card.file_hashes = hash_folder(export)
    card.save(export)
    cfg = RegistryConfig(tracking_uri=f"sqlite:///{rmops_home / 'mlflow.db'}")
    client = mlflow_client(cfg)
    experiment = ensure_experiment(cfg, client)
    logged = log_reward_model(cfg, client.create_run(experiment).info.run_id, export)
    for passed, accuracy in ((True, 0.71), (True, 0.74), (False, 0.52)):
        run_id = client.create_run(experiment).info.run_id
        reasons = [] if passed else ["golden accuracy 0.52 < 0.60"]
        register_candidate(
            cfg, run_id, logged.model_uri, "v000001", passed, reasons, {"accuracy": accuracy}
        )
    return rmops_home


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_promote_models_rollback_and_refusals_from_the_cli(registry_home):
    # Refusals first, while nothing is champion (one store per test: MLflow tables take seconds).
    failed = invoke("promote", "3")
    assert failed.exit_code == 2
    assert "gate_verdict='failed'" in failed.stderr
    assert invoke("rollback", "--reason", "x").exit_code == 2  # no previous champion yet
    assert "previous-champion" in invoke("rollback", "--reason", "x").stderr
    assert invoke("promote", "two").exit_code == 2

    first = invoke("promote", "1", "--reason", "bootstrap", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["version"] == "1"
    second = invoke("promote", "2", "--expect-champion", "1", "--json")
    assert second.exit_code == 0, second.output
    result = json.loads(second.stdout)
    assert (result["action"], result["previous_champion"]) == ("promote", "1")
    assert Path(result["handoff_path"]) == registry_home / "handoff" / "latest.json"

    listed = json.loads(invoke("models", "--json").stdout)
    assert listed["model_name"] == "reward-model"
    by_version = {row["version"]: row for row in listed["versions"]}
    assert by_version["2"]["aliases"] == ["challenger", "champion"]
    assert by_version["1"]["aliases"] == ["previous-champion"]
    assert by_version["3"]["gate_verdict"] == "failed"
    assert by_version["2"]["golden_accuracy"] == 0.74
    text = invoke("models").stdout
    assert "champion" in text and "0.5200" in text

    back = invoke("rollback", "--reason", "PPO reward hacking", "--expect-champion", "2", "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["version"] == "1"
    again = invoke("rollback", "--reason", "PPO reward hacking", "--expect-champion", "2", "--json")
    assert json.loads(again.stdout)["action"] == "noop"  # a retry does not go two steps back
    handoff = json.loads((registry_home / "handoff" / "latest.json").read_text())
    assert handoff["version"] == "1" and handoff["action"] == "rollback"
    stale = invoke("promote", "2", "--expect-champion", "2")
    assert stale.exit_code == 2 and "expected champion 2 but it is 1" in stale.stderr


@pytest.mark.parametrize(
    "args", [["models"], ["promote", "2"], ["rollback", "--reason", "x"], ["serve"]]
)
def test_an_unreachable_registry_is_one_clear_error(args, rmops_home, monkeypatch):
    from ports import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output  # not an exception's exit 1
    assert "error: MLflow registry: API request to" in result.output
    assert "Traceback" not in result.output


def test_score_and_evaluate_take_a_registry_uri_as_the_readme_says(registry_home, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "Hi?", "response": "Hello."}) + "\n")
    by_uri = invoke("score", "--model", "models:/reward-model/1", "--input", str(rows), "--json")
    assert by_uri.exit_code == 0, by_uri.output  # before: "reward model folder not found"
    by_folder = invoke("score", "--model", str(registry_home / "export"), "--input", str(rows),
                       "--json")  # fmt: skip
    assert json.loads(by_uri.stdout)["scores"] == json.loads(by_folder.stdout)["scores"]
    missing = invoke("score", "--model", "models:/reward-model/9", "--input", str(rows))
    assert missing.exit_code == 2 and missing.stderr.startswith("error: MLflow registry:")
