"""The PPO handoff: the champion loads in a fresh process and scores exactly as in-process;
the pyfunc model agrees; best-of-N; the handoff record on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.handoff import (
    HandoffRecord,
    best_of_n,
    load_reward_model,
    parse_registry_uri,
    read_latest_handoff,
    write_handoff,
)
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.promotion import promote
from rm_pipeline.registry import register_candidate
from rm_pipeline.scoring import RewardScorer
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    "\n\nHuman: How do I brew green tea?\n\nAssistant:",
    "\n\nHuman: How do I brew green tea?\n\nAssistant:",
    "\n\nHuman: Name a river in France.\n\nAssistant:",
]
RESPONSES = [" Use water at 80C for two minutes.", " No.", " The Loire."]

FRESH_PROCESS = """
import json, sys
from rm_pipeline.handoff import best_of_n, load_reward_model
uri, tracking_uri, prompts, responses = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:5])
scorer = load_reward_model(uri, tracking_uri=tracking_uri)
raw, normalized = scorer.score_both(prompts, responses)
best, _ = best_of_n(scorer, prompts[0], responses)
print(json.dumps({"raw": raw.tolist(), "normalized": normalized.tolist(), "best": best}))
"""


@pytest.fixture(scope="module")
def champion(tmp_path_factory, tiny_backbone_dir):
    """A registry whose champion is the tiny model (card: mean 0.5, std 4)."""
    root = tmp_path_factory.mktemp("handoff")
    export = Path(shutil.copytree(tiny_backbone_dir, root / "export"))
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=48)
    card.reward_mean, card.reward_std, card.dataset_version = 0.5, 4.0, "v000003"
    card.file_hashes = hash_folder(export)
    card.save(export)
    cfg = RegistryConfig(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow_client(cfg)
    run_id = client.create_run(ensure_experiment(cfg, client)).info.run_id
    logged = log_reward_model(cfg, run_id, export)
    mv = register_candidate(cfg, run_id, logged.model_uri, "v000003", True, [], {}, "tiny-bert")
    promote(cfg, mv.version, expected_champion=None, reason="test")
    return cfg, export


@pytest.mark.slow
def test_champion_scores_identically_in_a_fresh_process(champion):
    cfg, export = champion
    local = RewardScorer.load(export)
    raw, normalized = local.score_both(PROMPTS, RESPONSES)
    np.testing.assert_allclose(normalized, (raw - 0.5) / 4.0)
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, f"models:/{cfg.model_name}@champion"]
        + [cfg.tracking_uri, json.dumps(PROMPTS), json.dumps(RESPONSES)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(fresh["raw"], raw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fresh["normalized"], normalized, rtol=0, atol=1e-6)
    assert fresh["best"] == int(np.argmax(local.score([PROMPTS[0]] * 3, RESPONSES)))


def test_pyfunc_model_matches_scorer_and_validates_input(champion, monkeypatch):
    import mlflow.pyfunc

    cfg, export = champion
    local = RewardScorer.load(export)
    # The pyfunc loader only reads the process-wide URI: set it the way a consumer would.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cfg.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}/1")
    frame = model.predict(pd.DataFrame({"prompt": PROMPTS, "response": RESPONSES}))
    assert list(frame.columns) == ["reward", "reward_normalized"]
    raw, normalized = local.score_both(PROMPTS, RESPONSES)
    np.testing.assert_allclose(frame["reward"], raw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(frame["reward_normalized"], normalized, rtol=0, atol=1e-6)
    inputs = [c.name for c in model.metadata.get_input_schema().inputs]
    assert inputs == ["prompt", "response"]
    with pytest.raises(Exception, match="response"):
        model.predict(pd.DataFrame({"prompt": PROMPTS}))


def test_load_reward_model_from_folder_version_uri_and_refuses_tampering(
    champion, tmp_path, monkeypatch
):
    cfg, export = champion
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    scorer = load_reward_model(f"models:/{cfg.model_name}/1", tracking_uri=cfg.tracking_uri)
    assert scorer.card.reward_std == 4.0 and scorer.card.dataset_version == "v000003"
    assert list(temp.iterdir()) == []  # the download is gone once loaded (it was left before)
    assert scorer.score(PROMPTS[:1], RESPONSES[:1]).shape == (1,)  # and the model still scores
    best, rewards = best_of_n(scorer, PROMPTS[0], RESPONSES)
    assert best == int(np.argmax(rewards)) and len(rewards) == 3
    with pytest.raises(ValueError, match="at least one"):
        best_of_n(scorer, PROMPTS[0], [])
    tampered = Path(shutil.copytree(export, tmp_path / "tampered"))
    (tampered / "config.json").write_text((tampered / "config.json").read_text() + " ")
    with pytest.raises(ValueError, match="config.json"):
        load_reward_model(tampered)
    with pytest.raises(ValueError, match="models:/NAME@ALIAS"):
        parse_registry_uri("models:/reward-model")
    assert parse_registry_uri("models:/rm@champion") == ("rm", None, "champion")


def test_handoff_record_written_atomically_and_read_back(tmp_path):
    assert read_latest_handoff(tmp_path) is None
    base = dict(model_name="rm", reward_mean=0.1, reward_std=1.5, dataset_version="v000002")
    first = HandoffRecord(
        model_uri="models:/rm/1", version="1", created_at="2026-01-01T00:00:00+00:00", **base
    )
    second = HandoffRecord(
        model_uri="models:/rm/2",
        version="2",
        created_at="2026-01-02T00:00:00+00:00",
        previous_version="1",
        **base,
    )
    write_handoff(first, tmp_path)
    latest = write_handoff(second, tmp_path)
    assert read_latest_handoff(tmp_path) == second
    assert json.loads(latest.read_text())["alias_uri"] == "models:/rm@champion"
    assert len(list((tmp_path / "history").glob("*.json"))) == 2
    assert not list(tmp_path.rglob("*.tmp"))
    latest.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_latest_handoff(tmp_path)
    with pytest.raises(ValueError, match="model_uri"):
        HandoffRecord.from_dict({"model_name": "rm", "version": "1", "created_at": "x"})
