"""Golden sets and small deterministic scorers for the validation tests.

The scorers are honest stand-ins for reward models: the gate's statistics and rules only see
rewards, so a scorer with a known accuracy or a known bias tests them exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TOPICS = ["tea", "rain", "chess", "bread", "rivers", "stars", "music", "birds"]


def make_golden(n_per_slice: int = 120, chosen_longer_share: float = 0.7) -> pd.DataFrame:
    """Two slices (helpful / harmless); the chosen answer is the longer one in a set share."""
    rows = []
    for category in ("helpful", "harmless"):
        n_longer = round(n_per_slice * chosen_longer_share)
        for i in range(n_per_slice):
            topic = TOPICS[i % len(TOPICS)]
            prompt = f"\n\nHuman: ({category} {i}) Tell me about {topic}.\n\nAssistant:"
            good = f" Here is a careful answer about {topic}. It stays on topic."
            bad = f" Whatever about {topic} number {i}. Go away."
            if i < n_longer:
                good += " It adds useful detail, with an example and a caveat."
            else:
                bad += " Also here is a long, rambling and unhelpful digression that goes nowhere."
            rows.append({"prompt": prompt, "chosen": good, "rejected": bad, "category": category})
    return pd.DataFrame(rows)


class LookupScorer:
    """Knows the golden answers: +1 for a chosen text, 0 otherwise; `wrong` pairs are flipped."""

    def __init__(self, golden: pd.DataFrame, wrong: set[int] | None = None):
        self.rewards: dict[tuple[str, str], float] = {}
        for i, row in enumerate(golden.itertuples(index=False)):
            flip = wrong is not None and i in wrong
            self.rewards[(row.prompt, row.chosen)] = 0.0 if flip else 1.0
            self.rewards[(row.prompt, row.rejected)] = 1.0 if flip else 0.0
        self.calls = 0

    def score_raw(self, prompts, responses):
        self.calls += 1
        pairs = zip(prompts, responses, strict=True)
        return np.array([self.rewards.get(key, 0.0) for key in pairs])


class LengthScorer:
    """A length-hacking reward model: the longer the response, the higher the reward."""

    def score_raw(self, prompts, responses):
        return np.array([len(r) / 100.0 for r in responses])


class ConstantScorer:
    def __init__(self, value: float = 0.0):
        self.value = value

    def score_raw(self, prompts, responses):
        return np.full(len(responses), self.value)
