"""evaluate_pairs: accuracy with ties as wrong, margins, per-group accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rm_pipeline.evaluate import evaluate_pairs
from rm_pipeline.scoring import RewardScorer


class LengthScorer:
    """Longer response, higher reward: a transparent stand-in for the arithmetic checks."""

    def score_raw(self, prompts, responses):
        return np.array([float(len(r)) for r in responses])


def frame(rows, kinds):
    prompts = [f"p{i}" for i in range(len(rows))]
    return pd.DataFrame(
        {
            "prompt": prompts,
            "chosen": [c for c, _ in rows],
            "rejected": [r for _, r in rows],
            "annotator_kind": kinds,
        }
    )


def test_ties_count_as_wrong_and_groups_are_reported():
    pairs = frame(
        [("long answer", "no"), ("same", "same"), ("no", "longer")], ["human", "ai", "ai"]
    )
    result = evaluate_pairs(LengthScorer(), pairs, group_by="annotator_kind")
    assert result.n == 3 and result.ties == 1
    assert result.accuracy == pytest.approx(1 / 3)
    assert result.mean_margin == pytest.approx((9 + 0 - 4) / 3)
    assert result.by_group["human"] == {"accuracy": 1.0, "mean_margin": 9.0, "n": 1}
    assert result.by_group["ai"]["accuracy"] == 0.0 and result.by_group["ai"]["n"] == 2
    assert result.to_dict()["group_by"] == "annotator_kind"


def test_bad_input_is_named():
    pairs = frame([("a", "b")], ["human"])
    with pytest.raises(ValueError, match="missing column 'chosen'"):
        evaluate_pairs(LengthScorer(), pairs.drop(columns=["chosen"]))
    with pytest.raises(ValueError, match="group_by column 'category' not found"):
        evaluate_pairs(LengthScorer(), pairs, group_by="category")
    with pytest.raises(ValueError, match="no pairs"):
        evaluate_pairs(LengthScorer(), pairs.iloc[:0])


def test_trained_tiny_model_ranks_val_pairs(trained_tiny):
    result, _, pairs = trained_tiny
    val = pairs[pairs["split"] == "val"]
    evaluation = evaluate_pairs(RewardScorer.load(result.export_dir), val, "annotator_kind")
    assert evaluation.accuracy > 0.9
    assert evaluation.accuracy == pytest.approx(result.metrics["val_accuracy"])
    assert set(evaluation.by_group) == set(val["annotator_kind"])
