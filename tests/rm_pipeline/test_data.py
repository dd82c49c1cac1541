"""Pair frames as training input: checks and the padding collator."""

from __future__ import annotations

import pytest
import torch
from rm_helpers import obvious_pairs

from rm_pipeline.data import PairCollator, PairDataset, check_pairs_frame


def test_collator_stacks_chosen_then_rejected_with_dynamic_padding():
    features = [
        {"chosen_ids": [1, 2, 3], "rejected_ids": [1, 4], "weight": 1.0, "margin": 0.0},
        {"chosen_ids": [1, 5], "rejected_ids": [1, 6, 7, 8], "weight": 2.0, "margin": 0.5},
    ]
    batch = PairCollator(pad_token_id=0)(features)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 0], [1, 5, 0, 0], [1, 4, 0, 0], [1, 6, 7, 8]]
    assert batch["attention_mask"].sum(dim=1).tolist() == [3, 2, 2, 4]
    assert batch["weight"].tolist() == [1.0, 2.0] and batch["margin"].tolist() == [0.0, 0.5]
    padded = PairCollator(pad_token_id=0, pad_to_multiple_of=8)(features)
    assert padded["input_ids"].shape == (4, 8)
    capped = PairCollator(pad_token_id=0, pad_to_multiple_of=8, max_width=6)(features)
    assert capped["input_ids"].shape == (4, 6)  # rounding stops at the truncation length
    never_cut = PairCollator(pad_token_id=0, pad_to_multiple_of=8, max_width=3)(features)
    assert never_cut["input_ids"].shape == (4, 4)
    assert padded["input_ids"].dtype == torch.long


def test_sorted_dataset_keeps_pairs_together():
    import numpy as np

    ds = PairDataset([[1, 2, 3], [1]], [[1], [1, 2]], np.array([1.0, 2.0]), np.zeros(2))
    ordered = ds.sorted_by_length()
    assert ordered[0]["chosen_ids"] == [1] and ordered[0]["weight"] == 2.0
    assert ds.lengths == [3, 2] and ds.n_tokens == 7


def test_frame_checks_name_column_and_rows():
    pairs = obvious_pairs(10)
    check_pairs_frame(pairs, "train")
    bad = pairs.copy()
    bad.loc[2, "weight"] = -1.0
    with pytest.raises(
        ValueError, match=r"train: column 'weight' must be finite and > 0 \(rows \[2\]"
    ):
        check_pairs_frame(bad, "train")
    bad = pairs.assign(margin=[0.0] * 9 + [float("nan")])
    with pytest.raises(ValueError, match=r"column 'margin' must be finite \(rows \[9\]"):
        check_pairs_frame(bad, "val")
    bad = pairs.copy()
    bad.loc[4, "rejected"] = None
    with pytest.raises(ValueError, match=r"column 'rejected' must hold strings \(rows \[4\]"):
        check_pairs_frame(bad, "train")
    with pytest.raises(ValueError, match="expected a pandas DataFrame"):
        check_pairs_frame([], "train")
