"""Build preference-pair frames in the snapshot schema for tests (one builder for every
package's tests; importable as `pair_frames` because pytest puts `tests/` on the path)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from feedback_ingest.schema import PAIR_COLUMNS, pair_id, prompt_hash

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def by_prompt_hash(i: int, ph: str) -> str:
    """The split a snapshot would pick, roughly: one prompt in five to val, by its hash."""
    return "val" if int(ph[:8], 16) % 5 == 0 else "train"


def pairs_frame(
    rows: list[tuple[str, str, str]],
    split: Callable[[int, str], str] = by_prompt_hash,
    kind: Callable[[int], str] = lambda i: "human",
    event_prefix: str = "evt-",
) -> pd.DataFrame:
    """A frame in the snapshot schema from (prompt, chosen, rejected) triples; `split` and
    `kind` pick each row's split (from its index and prompt hash) and annotator kind."""
    records = []
    for i, (prompt, chosen, rejected) in enumerate(rows):
        ph = prompt_hash(prompt)
        records.append(
            {
                "pair_id": pair_id(prompt, chosen, rejected),
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "weight": 1.0,
                "n_votes": 1,
                "agreement": 1.0,
                "annotator_kind": kind(i),
                "source_event_ids": [f"{event_prefix}{i}"],
                "first_seen": NOW,
                "prompt_hash": ph,
                "split": split(i, ph),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(PAIR_COLUMNS))
