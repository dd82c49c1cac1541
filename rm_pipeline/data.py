"""Preference pairs as training input: frame checks, pre-tokenized dataset, padding collator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from rm_pipeline.perf import padded_width
from rm_pipeline.rendering import InputTemplate, encode_pairs

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")


def check_pairs_frame(frame: pd.DataFrame, name: str, allow_empty: bool = False) -> None:
    """Raise ValueError naming the column and rows that make `frame` unusable for training."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    if frame.empty and not allow_empty:
        raise ValueError(f"{name}: no pairs")
    for column in ("chosen", "rejected"):
        bad = [i for i, v in enumerate(frame[column]) if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{name}: column '{column}' must hold strings (rows {bad[:5]})")
    bad = [i for i, v in enumerate(frame["prompt"]) if not isinstance(v, str | list | np.ndarray)]
    if bad:
        raise ValueError(f"{name}: column 'prompt' must hold text or messages (rows {bad[:5]})")
    for column in ("weight", "margin"):
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values)).tolist()
        if column == "weight":
            bad = sorted(set(bad) | set(np.flatnonzero(values <= 0).tolist()))
        if bad:
            rule = "finite and > 0" if column == "weight" else "finite"
            raise ValueError(f"{name}: column '{column}' must be {rule} (rows {bad[:5]})")


def _prompts(frame: pd.DataFrame) -> list:
    # Parquet hands chat-message prompts back as numpy arrays of dicts.
    return [list(p) if isinstance(p, np.ndarray) else p for p in frame["prompt"]]


class PairDataset(torch.utils.data.Dataset):
    """Pre-tokenized pairs: each item holds chosen/rejected ids, weight and margin."""

    def __init__(
        self,
        chosen_ids: list[list[int]],
        rejected_ids: list[list[int]],
        weights: np.ndarray,
        margins: np.ndarray,
    ):
        self.chosen_ids = chosen_ids
        self.rejected_ids = rejected_ids
        self.weights = weights
        self.margins = margins

    def __len__(self) -> int:
        return len(self.chosen_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "chosen_ids": self.chosen_ids[index],
            "rejected_ids": self.rejected_ids[index],
            "weight": float(self.weights[index]),
            "margin": float(self.margins[index]),
        }

    @property
    def lengths(self) -> list[int]:
        """Padded length of each pair (both sequences share one padded batch)."""
        return [
            max(len(c), len(r)) for c, r in zip(self.chosen_ids, self.rejected_ids, strict=True)
        ]

    @property
    def n_tokens(self) -> int:
        return sum(len(c) + len(r) for c, r in zip(self.chosen_ids, self.rejected_ids, strict=True))

    def sorted_by_length(self) -> PairDataset:
        """A copy in ascending length order (evaluation: minimal padding, same result)."""
        order = np.argsort(self.lengths, kind="stable")
        return PairDataset(
            [self.chosen_ids[i] for i in order],
            [self.rejected_ids[i] for i in order],
            self.weights[order],
            self.margins[order],
        )


def encode_pair_frame(
    frame: pd.DataFrame,
    tokenizer: Any,
    max_length: int,
    template: InputTemplate,
    use_margin: bool,
) -> PairDataset:
    """Tokenize a pairs frame (chosen and rejected rendered after the same prompt)."""
    prompts = _prompts(frame)
    chosen = encode_pairs(tokenizer, prompts, list(frame["chosen"]), max_length, template)
    rejected = encode_pairs(tokenizer, prompts, list(frame["rejected"]), max_length, template)
    n = len(frame)
    weights = (
        frame["weight"].to_numpy(dtype=np.float32) if "weight" in frame else np.ones(n, np.float32)
    )
    if use_margin and "margin" in frame:
        margins = frame["margin"].to_numpy(dtype=np.float32)
    else:
        margins = np.zeros(n, np.float32)
    return PairDataset(chosen, rejected, weights, margins)


@dataclass
class PairCollator:
    """Stacks chosen then rejected sequences into one right-padded batch (dynamic padding)."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None
    max_width: int | None = None
    """Rounding up to `pad_to_multiple_of` stops here (the truncation length: past it a model
    may have no position embeddings); a longer batch is never cut."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        sequences = [f["chosen_ids"] for f in features] + [f["rejected_ids"] for f in features]
        longest = max(len(s) for s in sequences)
        width = padded_width(longest, self.pad_to_multiple_of or 1, self.max_width)
        input_ids = torch.full((len(sequences), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "weight": torch.tensor([f["weight"] for f in features], dtype=torch.float32),
            "margin": torch.tensor([f["margin"] for f in features], dtype=torch.float32),
        }
