"""The compile-and-merge steps of a snapshot build: votes of new events, merged with the
parent's pairs, decided, hashed and split (`build.py` runs them and writes the version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedback_ingest import compile as cp
from feedback_ingest import parts
from feedback_ingest.digests import pair_ids, prompt_hashes
from feedback_ingest.schema import PAIR_SCHEMA
from feedback_ingest.wide import wide_schema


def _is_val(leading: np.ndarray, val_fraction: float) -> np.ndarray:
    """Split by prompt hash: its leading 32 bits (= int(prompt_hash[:8], 16)) pick a bucket."""
    return leading % 10_000 < int(round(val_fraction * 10_000))


def _decide(
    votes: pa.Table, hashes: pa.Array, leading: np.ndarray, val_fraction: float
) -> pa.Table:
    """Votes with a strict majority -> pairs in PAIR_SCHEMA (texts wide), sorted by split, then
    pair_id (so each split is a zero-copy slice)."""
    vl, vh = votes["votes_lo"].to_numpy(), votes["votes_hi"].to_numpy()
    lo_wins = pa.array(vl > vh)
    chosen = pc.if_else(lo_wins, votes["lo"], votes["hi"])
    rejected = pc.if_else(lo_wins, votes["hi"], votes["lo"])
    n_votes = vl + vh
    agreement = np.maximum(vl, vh) / np.maximum(n_votes, 1)
    kind_names = pa.array([cp.KIND_NAMES[bits] for bits in (1, 2, 3)], pa.string())
    columns = {
        "pair_id": pair_ids(votes["prompt"], chosen, rejected),
        "prompt": votes["prompt"],
        "chosen": chosen,
        "rejected": rejected,
        "weight": pa.array(2.0 * agreement - 1.0),  # the majority's margin: 1 when unanimous
        "n_votes": pa.array(n_votes),
        "agreement": pa.array(agreement),
        # bits 1..3 -> names; any other value is out of bounds and raises, as a lookup would
        "annotator_kind": kind_names.take(pc.subtract(votes["kinds"].cast(pa.int32()), 1)),
        "source_event_ids": votes["event_ids"],
        "first_seen": votes["first_seen"].cast(PAIR_SCHEMA.field("first_seen").type),
        "prompt_hash": hashes,
        "split": pa.array(np.where(_is_val(leading, val_fraction), "val", "train")),
    }
    schema = wide_schema(PAIR_SCHEMA)
    table = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
    order = pc.sort_indices(table, [("split", "ascending"), ("pair_id", "ascending")])
    return table.take(order)


def new_votes(events: pa.Table, old_hist: pd.DataFrame) -> tuple[pa.Table, pd.DataFrame]:
    """(votes of the new events, updated rating histogram)."""
    kind = events["type"]
    new_hist = cp.rating_rows(events.filter(pc.equal(kind, "rating")))
    tables = [
        cp.pairwise_votes(events),  # picks its own rows: a filter would copy every text
        cp.ranking_votes(events.filter(pc.equal(kind, "ranking"))),
        cp.rating_votes(old_hist, new_hist),
    ]
    votes = cp.group_votes(_concat(tables))
    hist = cp.group(pd.concat([old_hist, new_hist], ignore_index=True),
                    ["prompt", "text", "score"], ["count"])  # fmt: skip
    return votes, hist


def _concat(tables: list[pa.Table]) -> pa.Table:
    """The non-empty vote tables as one (empty ones would add chunks to combine later)."""
    tables = [t for t in tables if len(t)]
    return pa.concat_tables(tables) if tables else cp.VOTE_SCHEMA.empty_table()


def _touched_ids(votes: pa.Table) -> pa.Array:
    """pair_ids the votes could hit in the parent: both directions of every key."""
    prompts, lo, hi = votes["prompt"], votes["lo"], votes["hi"]
    return pa.concat_arrays([pair_ids(prompts, lo, hi), pair_ids(prompts, hi, lo)])


def _read_votes(path: Path) -> pa.Table:
    if not path.is_file():
        return cp.VOTE_SCHEMA.empty_table()
    return pq.read_table(path, columns=cp.VOTE_COLUMNS).cast(cp.VOTE_SCHEMA)


def read_hist(path: Path) -> pd.DataFrame:
    """A version's rating histogram (`state/ratings.parquet`; empty when there is none)."""
    if not path.is_file():
        return cp.empty_hist()
    frame = pq.read_table(path).to_pandas()
    frame["event_ids"] = frame["event_ids"].map(list)
    return frame


def write_state(data: pa.Table | pd.DataFrame, path: Path) -> None:
    """Write a version's build state (undecided votes, rating histogram) as Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data.reset_index(drop=True), preserve_index=False)
    pq.write_table(data, path)


def merge_votes(
    parent_dir: Path | None,
    votes: pa.Table,
    golden: set[str],
    val_fraction: float,
    old_ids: pa.Array | None = None,
) -> tuple[dict[str, parts.SplitPlan], pa.Table, dict[str, int]]:
    """(the new version's splits as parts, undecided votes, counts); `old_ids`: pairs of an
    earlier version not to count as new (the re-decided parent rows never are)."""
    golden_arr = pa.array(sorted(golden), pa.string())
    # Hashing both directions of every vote only pays when there is a parent to look up.
    touched_ids = _touched_ids(votes) if parent_dir else pa.array([], pa.string())
    scan = parts.scan_parent(parent_dir, touched_ids, golden_arr)
    if parent_dir is None:  # the new votes alone are grouped already
        combined = votes
    else:
        undecided_old = _read_votes(parent_dir / "state" / "undecided.parquet")
        tables = [cp.parent_votes(scan.touched_rows), undecided_old, votes]
        combined = cp.group_votes(_concat(tables))
    hashes, leading = prompt_hashes(combined["prompt"])
    is_golden_new = pc.is_in(hashes, value_set=golden_arr).to_numpy(zero_copy_only=False)
    vl, vh = combined["votes_lo"].to_numpy(), combined["votes_hi"].to_numpy()
    keep = ~is_golden_new & (vl != vh)
    if keep.all():  # the usual first build: no copy
        decided = _decide(combined, hashes, leading, val_fraction)
    else:
        decided = _decide(combined.filter(keep), hashes.filter(keep), leading[keep], val_fraction)
    undecided = combined.filter(~is_golden_new & (vl == vh))
    offset = 0
    for split in sorted(scan.plans):  # the order of `decided`
        rows = pc.sum(pc.equal(decided["split"], split).cast(pa.int64())).as_py() or 0
        scan.plans[split].add_table(decided.slice(offset, rows))
        offset += rows
    plans = {split: parts.compact(plan) for split, plan in scan.plans.items()}
    known = scan.touched_rows["pair_id"]
    if old_ids is not None:
        known = pa.chunked_array([*known.chunks, *old_ids.cast(known.type).chunks], known.type)
    new_pairs = len(decided) - (
        pc.sum(pc.is_in(decided["pair_id"], value_set=known).cast(pa.int64())).as_py() or 0
    )
    counts = {
        "total": sum(plan.rows for plan in plans.values()),
        "train": plans["train"].rows,
        "val": plans["val"].rows,
        "new_pairs": int(new_pairs),
        # pairs (not ties) of golden prompts; parent rows only when the golden set grew
        "golden_excluded": int((is_golden_new & (vl != vh)).sum()) + scan.golden_rows,
        "undecided": len(undecided),
        "parts": {split: len(p.linked) + len(p.written) for split, p in plans.items()},
    }
    return plans, undecided, counts
