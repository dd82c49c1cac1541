"""Integration: the bundled MiniLM on a slice of real HH-RLHF pairs (a few steps)."""

from __future__ import annotations

import numpy as np
import pytest

from rm_pipeline.config import TrainConfig
from rm_pipeline.evaluate import evaluate_pairs
from rm_pipeline.pairs_io import read_pairs_jsonl
from rm_pipeline.scoring import RewardScorer
from rm_pipeline.train import train_reward_model
from tests.conftest import SHARED_DATA


@pytest.mark.slow
def test_minilm_trains_exports_and_scores_hh_pairs(tmp_path):
    pool = read_pairs_jsonl(SHARED_DATA / "harmless-feedback-pool.jsonl.gz")
    train, val = pool.iloc[:24], pool.iloc[24:32]
    config = TrainConfig(max_length=128, max_steps=3, progress_bar=False, eval_batch_size=16)
    result = train_reward_model(config, train, val, tmp_path, dataset_version="hh-slice")

    metrics = result.metrics
    assert metrics["pairs_trained"] == 24 and metrics["steps"] == 3
    assert np.isfinite(metrics["train_loss"]) and np.isfinite(metrics["val_loss"])
    card = result.card
    assert card.base_model == config.backbone and card.dataset_version == "hh-slice"

    scorer = RewardScorer.load(result.export_dir)
    raw, normalised = scorer.score_both(list(val["prompt"]), list(val["chosen"]))
    assert raw.std() > 0  # the trained head distinguishes responses
    evaluation = evaluate_pairs(scorer, val)
    assert evaluation.accuracy == pytest.approx(metrics["val_accuracy"])
    # Long HH conversations are truncated to the end, never dropped.
    lengths = [
        len(ids) for ids in scorer.encode(list(pool["prompt"][:64]), list(pool["chosen"][:64]))
    ]
    assert max(lengths) == 128 and len(lengths) == 64
