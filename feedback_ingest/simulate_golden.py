"""A golden set for the simulator's domain: expert-labelled pairs with the simulator's latent
preference and no annotator noise, on prompts the simulated traffic never asks (so the golden
exclusion removes nothing from training and the gate measures generalisation).

Two slices: `helpfulness` (a relevant, specific answer vs a vague or off-topic one) and
`politeness` (any on-topic answer vs a rude one).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from feedback_ingest.simulate import RUDE, TOPICS, VAGUE
from feedback_ingest.store import atomic_write_bytes

GOLDEN_QUESTIONS = [
    "Quick check on {t}: what is worth knowing?",
    "Teach me one thing about {t}.",
    "Give me a reliable fact about {t}.",
]


def simulated_golden(n: int = 200, seed: int = 1234) -> list[dict]:
    """`n` pair-format golden records `{prompt, chosen, rejected, category}` (seeded)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(f"golden-{seed}")
    records = []
    for i in range(n):
        topic = rng.choice(list(TOPICS))
        prompt = rng.choice(GOLDEN_QUESTIONS).format(t=topic) + f" (case {i})"
        good = rng.choice([f"Sure! {TOPICS[topic]} I hope that helps with {topic}.", TOPICS[topic]])
        if i % 2 == 0:
            other = rng.choice([t for t in TOPICS if t != topic])
            bad = rng.choice([rng.choice(VAGUE).format(t=topic), TOPICS[other]])
            category = "helpfulness"
        else:
            bad = rng.choice(RUDE).format(t=topic)
            category = "politeness"
        records.append({"prompt": prompt, "chosen": good, "rejected": bad, "category": category})
    return records


def write_simulated_golden(path: Path, n: int = 200, seed: int = 1234) -> Path:
    """Write the simulated golden set as pair-format JSONL (atomically)."""
    lines = [json.dumps(r).encode() for r in simulated_golden(n, seed)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, b"\n".join(lines) + b"\n")
    return path
