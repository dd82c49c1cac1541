"""`build_snapshot`: accepted events past the last snapshot -> a new dataset version.

New version = parent pairs + the votes of new events. Pairs the new votes touch are
re-decided from their combined votes (majority direction, `n_votes`, `agreement`); all other
parent rows are carried over untouched, which keeps an incremental build cheap.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedback_ingest import compile as cp
from feedback_ingest import parts
from feedback_ingest import snapshots as snap
from feedback_ingest.config import IngestConfig
from feedback_ingest.digests import pair_ids, prompt_hashes
from feedback_ingest.golden import golden_hash, golden_prompt_hashes
from feedback_ingest.schema import PAIR_SCHEMA, SCHEMA_VERSION
from feedback_ingest.stages import StageClock
from feedback_ingest.store import IngestState, read_parts
from feedback_ingest.wide import wide_schema

COMPILE_COLUMNS = ["event_id", "timestamp", "type", "prompt", "annotator_kind",
                   "response_texts", "winner_idx", "tie", "order_idx", "scores"]  # fmt: skip


@dataclass
class SnapshotReport:
    """What one build did; `created=False` means nothing new (version = latest existing)."""

    version: str | None
    parent: str | None
    created: bool
    counts: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # read, votes, decide, write

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def _new_votes(events: pa.Table, old_hist: pd.DataFrame) -> tuple[pa.Table, pd.DataFrame]:
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


def _read_hist(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return cp.empty_hist()
    frame = pq.read_table(path).to_pandas()
    frame["event_ids"] = frame["event_ids"].map(list)
    return frame


def _write_state(data: pa.Table | pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data.reset_index(drop=True), preserve_index=False)
    pq.write_table(data, path)


def _merge(
    parent_dir: Path | None, votes: pa.Table, golden: set[str], val_fraction: float
) -> tuple[dict[str, parts.SplitPlan], pa.Table, dict[str, int]]:
    """(the new version's splits as parts, undecided votes, counts)."""
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
    new_pairs = len(decided) - (
        pc.sum(pc.is_in(decided["pair_id"], value_set=known).cast(pa.int64())).as_py() or 0
    )
    counts = {
        "total": sum(plan.rows for plan in plans.values()),
        "train": plans["train"].rows,
        "val": plans["val"].rows,
        "new_pairs": int(new_pairs),
        "golden_excluded": int(is_golden_new.sum()) + scan.golden_rows,
        "undecided": len(undecided),
        "parts": {split: len(p.linked) + len(p.written) for split, p in plans.items()},
    }
    return plans, undecided, counts


def _counts_of_events(events: pa.Table) -> dict[str, Any]:
    ties = pc.sum(events["tie"].cast(pa.int64())).as_py() or 0
    by_type = {v["values"]: v["counts"] for v in pc.value_counts(events["type"]).to_pylist()}
    by_type = dict(sorted(by_type.items()))
    return {"new_events": len(events), "ties": int(ties), "by_type": by_type}


def _locked(root: Path):
    """An exclusive lock on the datasets root: one build at a time, so that removing stale
    temporaries never touches a live writer's folder."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".build.lock", "w")  # noqa: SIM115 - released by the caller
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def build_snapshot(config: IngestConfig) -> SnapshotReport:
    """Compile accepted events past the latest version into a new version (or report none)."""
    started = time.perf_counter()
    root = config.datasets_root
    lock = _locked(root)
    try:
        snap.remove_stale_temporaries(root)
        parent = snap.latest_version(root)
        manifest = snap.read_manifest(root, parent) if parent else None
        watermark = manifest["source"]["accepted_part_seq"] if manifest else 0
        with IngestState(config.state_dir) as state:
            event_parts = state.parts(watermark)
        if not event_parts:
            return SnapshotReport(
                version=parent,
                parent=manifest["parent"] if manifest else None,
                created=False,
                counts=dict(manifest["counts"]) if manifest else {},
                path=str(root / parent) if parent else None,
                seconds=round(time.perf_counter() - started, 4),
            )
        report = _build(config, parent, manifest, event_parts)
    finally:
        lock.close()
    report.seconds = round(time.perf_counter() - started, 4)
    return report


def _manifest(
    config: IngestConfig, version: str, parent: str | None, counts: dict, event_parts: list
) -> dict[str, Any]:
    return {
        "version": version,
        "parent": parent,
        "created_at": datetime.now(UTC).isoformat(),
        "schema_version": SCHEMA_VERSION,
        "counts": counts,
        "source": {
            "accepted_part_seq": event_parts[-1][0],
            "parts": [p[0] for p in (event_parts[0], event_parts[-1])],
        },
        "golden": {
            "hash": golden_hash(config.golden_paths) if config.golden_paths else None,
            "files": [Path(p).name for p in config.golden_paths],
        },
        "config": {"val_fraction": config.val_fraction},
    }


def _build(
    config: IngestConfig, parent: str | None, manifest: dict | None, event_parts: list
) -> SnapshotReport:
    root = config.datasets_root
    parent_dir = root / parent if parent else None
    clock = StageClock()
    with clock.stage("read"):
        events = read_parts([path for _, path, _ in event_parts], COMPILE_COLUMNS)
        old_hist = (
            _read_hist(parent_dir / "state" / "ratings.parquet") if parent_dir else cp.empty_hist()
        )
    with clock.stage("votes"):
        votes, hist = _new_votes(events, old_hist)
        event_counts = _counts_of_events(events)
        del events  # the votes hold copies of the texts they need: free the rest now
    with clock.stage("decide"):  # merge with the parent, hash, split, golden exclusion
        golden = golden_prompt_hashes(config.golden_paths) if config.golden_paths else set()
        plans, undecided, counts = _merge(parent_dir, votes, golden, config.val_fraction)
        del votes
    counts.update(event_counts)
    previous = manifest["counts"] if manifest else {}
    counts["events_total"] = int(previous.get("events_total", 0)) + counts["new_events"]
    counts["ties_total"] = int(previous.get("ties_total", 0)) + counts["ties"]
    version = snap.version_name(int(parent[1:]) + 1 if parent else 1)
    with clock.stage("write"):
        tmp = snap.new_temporary(root)
        try:
            parent_hashes = manifest.get("files", {}) if manifest else {}
            known = parts.materialise(plans, version, tmp, parent_hashes)
            _write_state(undecided, tmp / "state" / "undecided.parquet")
            _write_state(hist, tmp / "state" / "ratings.parquet")
            new_manifest = _manifest(config, version, parent, counts, event_parts)
            path = snap.publish(tmp, root, version, new_manifest, known)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return SnapshotReport(
        version=version,
        parent=parent,
        created=True,
        counts=counts,
        path=str(path),
        stage_seconds=clock.rounded(),
    )
