"""Dataset checks Great Expectations has no expectation for, run in pandas and reported as
`ExpectationOutcome`s beside GX's own: shares from event counts, a prompt's hash and split,
the source events behind each pair, and each row's split against the file it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from feedback_ingest.schema import prompt_hash

if TYPE_CHECKING:
    from validation.expectations import DataExpectationsConfig


@dataclass
class ExpectationOutcome:
    """One expectation's result: what was checked, whether it held, on how many rows not."""

    name: str
    column: str | None
    success: bool
    unexpected_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def share_outcomes(
    counts: Mapping[str, int], config: DataExpectationsConfig
) -> list[ExpectationOutcome]:
    """The tie and quarantine shares of `counts` ('events' plus 'ties' and/or 'quarantined')
    against their limits; nothing to judge without events."""
    events = counts.get("events")
    if not events:
        return []
    out = []
    for key, limit in (
        ("ties", config.max_tie_share),
        ("quarantined", config.max_quarantine_share),
    ):
        if key in counts:
            share = counts[key] / events
            out.append(
                ExpectationOutcome(
                    name=f"expect_share_of_{key}_to_be_at_most",
                    column=None,
                    success=share <= limit,
                    unexpected_count=int(counts[key]) if share > limit else 0,
                    details={
                        "observed_value": round(share, 4),
                        "limit": limit,
                        "events": int(events),
                        "note": f"{key} share {share:.1%} (limit {limit:.0%})",
                    },
                )
            )
    return out


def _row_outcome(name: str, column: str, bad: np.ndarray, note: str) -> ExpectationOutcome:
    """An outcome from a per-row mask of bad rows, shaped like GX's SUMMARY results."""
    rows = np.flatnonzero(bad)
    details: dict[str, Any] = {
        "unexpected_percent": 100.0 * rows.size / bad.size if bad.size else 0.0,
        "example_rows": [int(i) for i in rows[:5]],
    }
    if rows.size:
        details["note"] = note
    return ExpectationOutcome(name, column, rows.size == 0, int(rows.size), details)


def _hash_mismatch(frame: pd.DataFrame) -> np.ndarray:
    # Ingest's own hash, once per distinct prompt; null or non-text values are GX's to report.
    hashes = {p: prompt_hash(p) for p in frame["prompt"].unique() if isinstance(p, str)}
    expected = frame["prompt"].map(hashes)
    return (expected.notna() & (expected != frame["prompt_hash"])).to_numpy(dtype=bool)


def _prompt_in_both_splits(frame: pd.DataFrame) -> np.ndarray:
    # A prompt on both sides leaks its answers from training into the validation numbers.
    splits = frame.groupby("prompt_hash", dropna=True)["split"].transform("nunique")
    return (splits > 1).to_numpy(dtype=bool)


def _no_source_events(frame: pd.DataFrame) -> np.ndarray:
    # Every pair aggregates at least one event; an empty list means it came from nowhere.
    def bad(ids: Any) -> bool:
        if ids is None or (isinstance(ids, float) and math.isnan(ids)):
            return False  # null: GX's not-null expectation reports it
        if isinstance(ids, str) or not hasattr(ids, "__len__"):
            return True  # not a list of ids at all
        return len(ids) == 0

    return frame["source_event_ids"].map(bad).to_numpy(dtype=bool)


def frame_outcomes(frame: pd.DataFrame) -> list[ExpectationOutcome]:
    """The per-row checks GX cannot express, each where its columns are present."""
    has = set(frame.columns).issuperset
    out = []
    if has({"prompt", "prompt_hash"}):
        bad = _hash_mismatch(frame)
        note = "prompt_hash is not feedback_ingest's hash of the prompt"
        out.append(_row_outcome("expect_prompt_hash_to_match_prompt", "prompt_hash", bad, note))
    if has({"prompt_hash", "split"}):
        bad = _prompt_in_both_splits(frame)
        note = "prompt in both train and val"
        out.append(_row_outcome("expect_each_prompt_in_one_split", "split", bad, note))
    if has({"source_event_ids"}):
        bad = _no_source_events(frame)
        note = "pair without a non-empty list of source events"
        out.append(
            _row_outcome("expect_source_event_ids_to_be_non_empty", "source_event_ids", bad, note)
        )
    return out


def split_file_outcome(train: pd.DataFrame, val: pd.DataFrame) -> ExpectationOutcome:
    """Rows whose `split` differs from the file they were read from (train rows first)."""
    bad = [
        (part["split"] != name).to_numpy(dtype=bool)
        if "split" in part.columns
        else np.zeros(len(part), dtype=bool)  # the missing column is reported by GX
        for name, part in (("train", train), ("val", val))
    ]
    note = "split column differs from the file the row is stored in"
    return _row_outcome("expect_split_to_match_its_file", "split", np.concatenate(bad), note)
