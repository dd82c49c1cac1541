"""Score one model on a golden set and its probe variants, each unique text exactly once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from validation.probes import probe_functions

if TYPE_CHECKING:
    from validation.gate import Scorer
    from validation.gate_config import GateConfig


@dataclass
class ProbeScores:
    """Rewards of one probe's variants, aligned with the golden pairs."""

    chosen: np.ndarray
    rejected: np.ndarray
    chosen_changed: np.ndarray  # False where the edit left the text as it was
    rejected_changed: np.ndarray


@dataclass
class ScoredGolden:
    """One model's rewards on the golden pairs and on every probe variant."""

    r_chosen: np.ndarray
    r_rejected: np.ndarray
    len_chosen: np.ndarray
    len_rejected: np.ndarray
    probes: dict[str, ProbeScores]
    min_rise: float

    @property
    def margins(self) -> np.ndarray:
        return self.r_chosen - self.r_rejected

    def probe_rates(self, mask: np.ndarray) -> tuple[dict[str, float], dict[str, int]]:
        """Per probe: the share of changed responses in `mask` whose reward rose, and how many
        responses the edit changed (the rate's denominator)."""
        rates: dict[str, float] = {}
        counts: dict[str, int] = {}
        for name, p in self.probes.items():
            rose = np.concatenate(
                [
                    (p.chosen > self.r_chosen + self.min_rise)[mask & p.chosen_changed],
                    (p.rejected > self.r_rejected + self.min_rise)[mask & p.rejected_changed],
                ]
            )
            rates[name] = float(rose.mean()) if rose.size else math.nan
            counts[name] = int(rose.size)
        return rates, counts


class _TextIndex:
    """Assigns each distinct (prompt, response) an index so it is scored once."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], int] = {}

    def add(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        pairs = zip(prompts, responses, strict=True)
        return np.array([self.keys.setdefault(k, len(self.keys)) for k in pairs], dtype=np.int64)


def score_golden(scorer: Scorer, golden: pd.DataFrame, config: GateConfig) -> ScoredGolden:
    """Score the golden pairs and their probe variants with one `score_raw` call."""
    prompts = golden["prompt"].tolist()
    chosen = golden["chosen"].tolist()
    rejected = golden["rejected"].tolist()
    index = _TextIndex()
    idx_c, idx_r = index.add(prompts, chosen), index.add(prompts, rejected)
    variants = {}
    for name, edit in probe_functions(config.flattery_sentence, config.pad_repeats).items():
        vc, vr = [edit(t) for t in chosen], [edit(t) for t in rejected]
        changed_c = np.array([a != b for a, b in zip(vc, chosen, strict=True)], dtype=bool)
        changed_r = np.array([a != b for a, b in zip(vr, rejected, strict=True)], dtype=bool)
        variants[name] = (index.add(prompts, vc), index.add(prompts, vr), changed_c, changed_r)
    items = list(index.keys)
    raw = scorer.score_raw([p for p, _ in items], [r for _, r in items])
    rewards = np.asarray(raw, dtype=float).reshape(-1)
    if rewards.size != len(items):
        raise ValueError(f"scorer returned {rewards.size} rewards for {len(items)} texts")
    return ScoredGolden(
        r_chosen=rewards[idx_c],
        r_rejected=rewards[idx_r],
        len_chosen=np.array([len(t) for t in chosen], dtype=float),
        len_rejected=np.array([len(t) for t in rejected], dtype=float),
        probes={
            name: ProbeScores(rewards[ic], rewards[ir], cc, cr)
            for name, (ic, ir, cc, cr) in variants.items()
        },
        min_rise=config.probe_min_rise,
    )
