"""`rmops serve`: the champion as an HTTP reward endpoint (MLflow's scoring server), called as a
PPO job that wants a remote reward model would call it; the rewards match `RewardScorer`'s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ports import free_port
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.pipeline_commands import url_answers
from rm_pipeline.config import TrainConfig
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.promotion import promote, rollback
from rm_pipeline.registry import register_candidate
from rm_pipeline.scoring import RewardScorer
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client
from rm_pipeline.train import train_reward_model

pytestmark = pytest.mark.slow
START_S = 240  # the server imports mlflow, torch and transformers on 2 busy cores
PROMPTS = [f"\n\nHuman: Tell me about topic {i}.\n\nAssistant:" for i in range(6)]
RESPONSES = [f" Happy to help with topic {i}!" if i % 2 else " No." for i in range(6)]
RECORDS = [{"prompt": p, "response": r} for p, r in zip(PROMPTS, RESPONSES, strict=True)]


def _registered(config: RegistryConfig, backbone: Path, tmp_path: Path) -> Path:
    """A tiny trained model logged and registered (passed the gate), not promoted yet; returns
    its export folder."""
    import pandas as pd

    rows = [(p, " Happy to help!", " No.") for p in PROMPTS]
    frame = pd.DataFrame(rows, columns=["prompt", "chosen", "rejected"])
    train = TrainConfig(backbone=str(backbone), max_steps=2, max_length=32, progress_bar=False)
    result = train_reward_model(train, frame, frame.iloc[:0], tmp_path / backbone.name)
    client = mlflow_client(config)
    run_id = client.create_run(ensure_experiment(config, client)).info.run_id
    logged = log_reward_model(config, run_id, result.export_dir)
    register_candidate(
        config, run_id, logged.model_uri, dataset_version="v000001", verdict_passed=True,
        verdict_reasons=[], golden_metrics={"accuracy": 0.9}, base_model="tiny-bert",
        card=logged.card,
    )  # fmt: skip
    return result.export_dir


def _post(url: str, payload: dict) -> tuple[int, str, Any]:
    """(status, body, headers: looked up case-insensitively) of a JSON POST."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode(), answer.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers
        proc.wait(timeout=30)


def _serve(env: dict, log: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    rmops = str(Path(sys.executable).parent / "rmops")
    with log.open("wb") as out:
        proc = subprocess.Popen([rmops, "serve", "--port", str(port), *args], env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + START_S
    while not url_answers(f"{url}/ping"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"rmops serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    return proc, url


def test_serve_answers_with_the_champions_rewards(tiny_backbone_dir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = RegistryConfig(tracking_uri=uri, handoff_dir=str(tmp_path / "home" / "handoff"))
    export_dir = _registered(config, tiny_backbone_dir, tmp_path)
    env = {**os.environ, "RMOPS_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": uri,
           "RMOPS_MODEL_NAME": config.model_name, "HF_HUB_OFFLINE": "1"}  # fmt: skip
    refused = CliRunner().invoke(app, ["serve"], env=env)
    assert refused.exit_code == 2 and "no champion of 'reward-model' yet" in refused.output

    promote(config, "1", expected_champion=None, reason="serving test")
    raw, normalised = RewardScorer.load(export_dir, device="cpu").score_both(PROMPTS, RESPONSES)
    proc, url = _serve(env, tmp_path / "serve.log")
    try:
        status, body, _ = _post(f"{url}/invocations", {"dataframe_records": RECORDS})
        assert status == 200, body
        served = json.loads(body)["predictions"]
        np.testing.assert_allclose([row["reward"] for row in served], raw, atol=1e-5)
        np.testing.assert_allclose([row["reward_normalized"] for row in served], normalised,
                                   atol=1e-5)  # fmt: skip
        status, body, _ = _post(f"{url}/invocations", {"dataframe_records": [{"prompt": "p"}]})
        assert status == 400 and "response" in body  # the missing column is named
    finally:
        _stop(proc)
    assert "serving models:/reward-model/1" in (tmp_path / "serve.log").read_text()


def _scored(url: str) -> tuple[str, list[float]]:
    """(the version that answered, its rewards for RECORDS)."""
    status, body, headers = _post(f"{url}/invocations", {"dataframe_records": RECORDS})
    assert status == 200, body
    rewards = [row["reward"] for row in json.loads(body)["predictions"]]
    return headers["X-Reward-Model-Version"], rewards


def _until_version(url: str, version: str, timeout_s: float = 60) -> list[float]:
    deadline = time.monotonic() + timeout_s
    while (scored := _scored(url))[0] != version:
        assert time.monotonic() < deadline, f"still serving version {scored[0]}, not {version}"
        time.sleep(0.5)
    return scored[1]


def test_following_the_champion_swaps_models_on_promotion_and_rollback(
    tiny_backbone_dir, other_tiny_backbone_dir, tmp_path
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = RegistryConfig(tracking_uri=uri, handoff_dir=str(tmp_path / "home" / "handoff"))
    exports = [
        _registered(config, b, tmp_path) for b in (tiny_backbone_dir, other_tiny_backbone_dir)
    ]
    rewards = [
        RewardScorer.load(e, device="cpu").score_both(PROMPTS, RESPONSES)[0] for e in exports
    ]
    assert not np.allclose(*rewards, atol=1e-3)
    env = {**os.environ, "RMOPS_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": uri,
           "RMOPS_MODEL_NAME": config.model_name, "HF_HUB_OFFLINE": "1"}  # fmt: skip
    runner = CliRunner()
    refused = runner.invoke(app, ["serve", "--follow-champion"], env=env)
    assert refused.exit_code == 2 and "no champion of 'reward-model' yet" in refused.output
    refused = runner.invoke(app, ["serve", "--follow-champion", "--workers", "2"], env=env)
    assert refused.exit_code == 2 and "--workers" in refused.output

    promote(config, "1", expected_champion=None, reason="serving test")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    env["TMPDIR"] = str(downloads)
    args = ("--follow-champion", "--poll-seconds", "1")
    proc, url = _serve(env, tmp_path / "follow.log", *args)
    try:
        np.testing.assert_allclose(_until_version(url, "1"), rewards[0], atol=1e-5)
        promote(config, "2", expected_champion="1", reason="newer")
        np.testing.assert_allclose(_until_version(url, "2"), rewards[1], atol=1e-5)
        rollback(config, reason="worse in PPO")
        np.testing.assert_allclose(_until_version(url, "1"), rewards[0], atol=1e-5)
    finally:
        _stop(proc)
    assert "models:/reward-model@champion (following" in (tmp_path / "follow.log").read_text()
    # SIGTERM: a graceful stop whose cleanup ran (uvicorn re-raises the signal it caught)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not list(downloads.glob("rmops-serve-*"))
