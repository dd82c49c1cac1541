"""`build_snapshot`: accepted events past the last snapshot -> a new dataset version.

New version = parent pairs + the votes of new events. Pairs the new votes touch are
re-decided from their combined votes (majority direction, `n_votes`, `agreement`); all other
parent rows are carried over untouched, which keeps an incremental build cheap. A backlog of
more than `max_build_events` new events (a backfill) is built as several versions in a row,
each on the one before, so a build's memory is bounded by that setting, not by the backlog.

A parent built with another golden set or `val_fraction` is not built on: its rows were split
and excluded by the old settings (a prompt would straddle splits, a prompt that left the golden
set would have lost its votes). The new version is then compiled from every accepted event, as
a first build would be, and numbered after the parent; its manifest says why (`rebuilt`).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest import compile as cp
from feedback_ingest import merge, parts
from feedback_ingest import snapshots as snap
from feedback_ingest.config import IngestConfig
from feedback_ingest.golden import golden_hash, golden_prompt_hashes
from feedback_ingest.schema import SCHEMA_VERSION
from feedback_ingest.stages import StageClock
from feedback_ingest.store import IngestState, exclusive_lock, read_parts

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
    versions: list[str] = field(default_factory=list)  # every version made (see max_build_events)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _counts_of_events(events: pa.Table) -> dict[str, Any]:
    ties = pc.sum(events["tie"].cast(pa.int64())).as_py() or 0
    by_type = {v["values"]: v["counts"] for v in pc.value_counts(events["type"]).to_pylist()}
    by_type = dict(sorted(by_type.items()))
    return {"new_events": len(events), "ties": int(ties), "by_type": by_type}


def build_snapshot(config: IngestConfig) -> SnapshotReport:
    """Compile accepted events past the latest version into a new version (or report none)."""
    started = time.perf_counter()
    root = config.datasets_root
    # one build at a time, so that removing stale temporaries never touches a live writer's
    lock = exclusive_lock(root / ".build.lock")
    try:
        snap.remove_stale_temporaries(root)
        parent = snap.latest_version(root)
        manifest = snap.read_manifest(root, parent) if parent else None
        golden = golden_hash(config.golden_paths) if config.golden_paths else None
        rebuilt = _settings_changed(config, manifest, golden) if manifest else None
        watermark = manifest["source"]["accepted_part_seq"] if manifest and not rebuilt else 0
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
        reports = []
        old = parts.pair_ids(root / parent) if rebuilt else None  # what is new is new to these
        for chunk in _chunks(event_parts, config.max_build_events):
            first_of_rebuild = rebuilt and not reports  # compiled alone, not on the parent
            base = None if first_of_rebuild else parent
            why = rebuilt if first_of_rebuild else None
            reports.append(_build(config, parent, base, chunk, golden, why, old))
            parent = reports[-1].version
    finally:
        lock.close()
    report = _combined(reports)
    report.seconds = round(time.perf_counter() - started, 4)
    return report


def _settings_changed(config: IngestConfig, manifest: dict, golden: str | None) -> str | None:
    """Why the parent's rows cannot be built on with `config` and golden set hash `golden`
    (None: they can)."""
    if manifest.get("golden", {}).get("hash") != golden:
        return "golden set changed"
    if manifest.get("config", {}).get("val_fraction") != config.val_fraction:
        return f"val_fraction changed to {config.val_fraction}"
    return None


def _chunks(event_parts: list, max_events: int) -> list[list]:
    """Consecutive runs of event parts holding at most `max_events` events (one part at least)."""
    chunks, size = [[]], 0
    for part in event_parts:
        if chunks[-1] and size + part[2] > max_events:
            chunks.append([])
            size = 0
        chunks[-1].append(part)
        size += part[2]
    return chunks


_SUMMED = ("new_events", "ties", "new_pairs", "golden_excluded")


def _combined(reports: list[SnapshotReport]) -> SnapshotReport:
    """One report for versions built one after the other: the last version's counts, with what
    this build added summed over all of them."""
    last = reports[-1]
    if len(reports) > 1:
        last.counts = dict(last.counts)  # the version's manifest keeps its own counts
        for key in _SUMMED:
            last.counts[key] = sum(r.counts[key] for r in reports)
        by_type: Counter[str] = Counter()
        for r in reports:
            by_type.update(r.counts["by_type"])
        last.counts["by_type"] = dict(sorted(by_type.items()))
        stages: Counter[str] = Counter()
        for r in reports:
            stages.update(r.stage_seconds)
        last.stage_seconds = {name: round(value, 4) for name, value in stages.items()}
        last.parent = reports[0].parent
    last.versions = [r.version for r in reports]
    return last


def _manifest(
    config: IngestConfig,
    version: str,
    parent: str | None,
    counts: dict,
    event_parts: list,
    golden: str | None,
    rebuilt: str | None,
) -> dict[str, Any]:
    return {
        "rebuilt": rebuilt,  # why this version was compiled from every event, if it was
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
            "hash": golden,
            "files": [Path(p).name for p in config.golden_paths],
        },
        "config": {"val_fraction": config.val_fraction},
    }


def _build(
    config: IngestConfig,
    parent: str | None,
    base: str | None,
    event_parts: list,
    golden_digest: str | None,
    rebuilt: str | None = None,
    old_ids: pa.Array | None = None,
) -> SnapshotReport:
    """Version parent + 1 from the votes of `event_parts` merged onto version `base` (the
    parent, or None to compile them alone: `rebuilt` says why); `old_ids` are pairs not to
    count as new; `golden_digest` is the golden set's hash for the manifest."""
    root = config.datasets_root
    parent_dir = root / base if base else None
    manifest = snap.read_manifest(root, base) if base else None
    clock = StageClock()
    with clock.stage("read"):
        events = read_parts([path for _, path, _ in event_parts], COMPILE_COLUMNS)
        old_hist = (
            merge.read_hist(parent_dir / "state" / "ratings.parquet")
            if parent_dir
            else cp.empty_hist()
        )
    with clock.stage("votes"):
        votes, hist = merge.new_votes(events, old_hist)
        event_counts = _counts_of_events(events)
        del events  # the votes hold copies of the texts they need: free the rest now
    with clock.stage("decide"):  # merge with the parent, hash, split, golden exclusion
        golden = golden_prompt_hashes(config.golden_paths) if config.golden_paths else set()
        plans, undecided, counts = merge.merge_votes(
            parent_dir, votes, golden, config.val_fraction, old_ids
        )
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
            merge.write_state(undecided, tmp / "state" / "undecided.parquet")
            merge.write_state(hist, tmp / "state" / "ratings.parquet")
            new_manifest = _manifest(
                config, version, parent, counts, event_parts, golden_digest, rebuilt
            )
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
