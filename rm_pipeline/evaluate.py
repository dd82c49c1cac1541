"""`evaluate_pairs`: pairwise accuracy of a reward model on preference pairs.

A tie (equal rewards) counts as wrong, as RewardBench does: a model that scores everything the
same must not reach 50%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


class RawScorer(Protocol):
    """Anything that scores (prompt, response) lists, e.g. `rm_pipeline.scoring.RewardScorer`."""

    def score_raw(self, prompts: list, responses: list[str]) -> np.ndarray: ...


@dataclass
class PairEvaluation:
    """Pairwise metrics of one model on one set of pairs."""

    accuracy: float  # share of pairs with r_chosen > r_rejected (ties are wrong)
    mean_margin: float  # mean of r_chosen - r_rejected (raw rewards)
    n: int
    ties: int
    group_by: str | None = None
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "mean_margin": self.mean_margin,
            "n": self.n,
            "ties": self.ties,
            "group_by": self.group_by,
            "by_group": {k: dict(v) for k, v in self.by_group.items()},
        }


def _summary(margin: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(np.mean(margin > 0)) if margin.size else float("nan"),
        "mean_margin": float(np.mean(margin)) if margin.size else float("nan"),
        "n": int(margin.size),
    }


def evaluate_pairs(
    scorer: RawScorer, pairs: pd.DataFrame, group_by: str | None = None
) -> PairEvaluation:
    """Score chosen and rejected of every pair; accuracy, margin, and per-group accuracy."""
    for column in ("prompt", "chosen", "rejected"):
        if column not in pairs.columns:
            raise ValueError(f"pairs: missing column '{column}'")
    if group_by is not None and group_by not in pairs.columns:
        raise ValueError(f"pairs: group_by column '{group_by}' not found")
    if pairs.empty:
        raise ValueError("pairs: no pairs to evaluate")
    prompts = [list(p) if isinstance(p, np.ndarray) else p for p in pairs["prompt"]]
    n = len(prompts)
    # One call: the scorer sorts everything by length across chosen and rejected.
    rewards = np.asarray(
        scorer.score_raw(prompts + prompts, list(pairs["chosen"]) + list(pairs["rejected"])),
        dtype=np.float64,
    )
    if rewards.shape != (2 * n,):
        raise ValueError(f"scorer returned {rewards.shape} rewards for {2 * n} responses")
    margin = rewards[:n] - rewards[n:]
    overall = _summary(margin)
    by_group: dict[str, dict[str, float]] = {}
    if group_by is not None:
        keys = pairs[group_by].astype(str).to_numpy()
        for key in sorted(set(keys)):
            by_group[key] = _summary(margin[keys == key])
    return PairEvaluation(
        accuracy=overall["accuracy"],
        mean_margin=overall["mean_margin"],
        n=n,
        ties=int(np.sum(margin == 0)),
        group_by=group_by,
        by_group=by_group,
    )
