"""`ingest_feedback`: read new events from a source, validate, quarantine, dedupe, store."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest.columnar import validate_lines
from feedback_ingest.config import IngestConfig
from feedback_ingest.fast import UNFORESEEN, fast_record
from feedback_ingest.quarantine import Quarantine
from feedback_ingest.raw import UNREADABLE, RawBatch, RawRecord
from feedback_ingest.sources import LandingFolderSource
from feedback_ingest.sql_source import SqlSource
from feedback_ingest.stages import StageClock
from feedback_ingest.store import IngestState, events_table, exclusive_lock
from feedback_ingest.validate import EventRejected, Limits, parse_raw, validate_event


class Source(Protocol):
    key: str

    def batches(self, cursor: Any, batch_size: int): ...


@dataclass
class IngestReport:
    """What one ingest run did. Invariant: read == accepted + duplicate + quarantined."""

    source: str
    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)  # accepted events per type
    cursor: Any = None  # the source's cursor after the run (file offsets or watermark)
    batches: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # read, validate, commit
    lanes: dict[str, int] = field(default_factory=dict)  # events judged by each validation path
    reread_files: list[str] = field(default_factory=list)  # replaced under their name: re-read
    renamed_files: dict[str, str] = field(default_factory=dict)  # new -> old name: read on
    waiting_bytes: dict[str, int] = field(default_factory=dict)  # unfinished last lines, per file
    ignored_files: list[str] = field(default_factory=list)  # not read: other suffix, a folder

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _validate_record(record: RawRecord, limits: Limits) -> dict:
    if record.obj is UNREADABLE:
        detail = record.raw.decode("utf-8", "replace").removeprefix("unreadable_file: ")
        raise EventRejected("unreadable_file", "$", detail)
    if record.obj is None:
        fast = fast_record(record.raw, limits)
        if fast is not None:
            return fast
    obj = record.obj if record.obj is not None else parse_raw(record.raw, limits)
    if record.obj is not None and len(record.raw) > limits.max_event_bytes:
        raise EventRejected("oversize_event", "$", f"{len(record.raw)} bytes")
    try:
        return validate_event(obj, limits)
    except EventRejected:
        raise
    except UNFORESEEN as exc:
        # Defence in depth: a shape the checks above missed is still a verdict, not a crash.
        raise EventRejected("invalid_event", "$", f"{type(exc).__name__}: {exc}"[:200]) from None


def _validate_batch(
    batch: RawBatch,
    limits: Limits,
    quarantine: Quarantine,
    reasons: Counter[str],
    lanes: Counter[str],
) -> pa.Table:
    """The valid events of `batch` as one table in source order; invalid ones quarantined.

    JSONL lines take the native and batched lanes; everything else (table rows, lines that
    do not decode, anything the lanes are unsure of) is judged record by record.
    `lanes` counts accepted events per lane and the records judged one by one ("per_event").
    """
    lines = [i for i, obj in enumerate(batch.objs) if obj is None]
    if len(lines) == len(batch):
        table, lane_pos, rest = validate_lines(batch.raws, limits, lanes)
    else:
        table, lane_pos, rest = validate_lines([batch.raws[i] for i in lines], limits, lanes)
        mapped = np.array(lines, dtype=np.int64)
        lane_pos = mapped[lane_pos]
        others = np.setdiff1d(np.arange(len(batch)), lane_pos, assume_unique=True)
        rest = others
    valid, valid_pos, bad = [], [], []
    lanes["per_event"] += len(rest)
    for i in rest.tolist():
        record = batch.record(i)
        try:
            valid.append(_validate_record(record, limits))
            valid_pos.append(i)
        except EventRejected as rejected:
            reason = rejected.to_dict()
            if (size := batch.cut_size(i)) is not None:  # the line was kept cut: say how long
                reason["detail"] = f"{size} bytes > {limits.max_event_bytes} (first bytes kept)"
                reason["full_bytes"] = size
            bad.append((record.raw, reason, record.location))
            reasons[rejected.reason] += 1
    quarantine.put_batch(bad)  # before the batch commits: a crash re-reads and rewrites it
    if not valid:
        return table
    table = pa.concat_tables([table, events_table(valid)])
    order = np.argsort(np.concatenate([lane_pos, np.array(valid_pos, np.int64)]), kind="stable")
    return table.take(pa.array(order))


def _count_types(table: pa.Table, by_type: Counter[str]) -> None:
    for item in pc.value_counts(table["type"]).to_pylist():
        by_type[item["values"]] += item["counts"]


def ingest_feedback(config: IngestConfig, source: Source | None = None) -> IngestReport:
    """Ingest the unread events of `source` (default: the landing folder) into the state."""
    started = time.perf_counter()
    source = source or LandingFolderSource.for_config(config)
    limits = Limits.from_config(config)
    quarantine = Quarantine(config.quarantine_dir)
    report = IngestReport(source=source.key)
    reasons: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    lanes: Counter[str] = Counter()
    # One ingest at a time (a scheduled run beside `rmops ingest`): a second one would read and
    # judge the same events again only to find them duplicates.
    lock = exclusive_lock(config.state_dir / ".ingest.lock")
    with lock, IngestState(config.state_dir) as state:
        report.cursor = state.cursor(source.key)
        if report.cursor is None and getattr(source, "legacy_key", None):
            report.cursor = state.adopt_cursor(source.legacy_key, source.key)
        batch_size = config.sql_batch_size if isinstance(source, SqlSource) else config.batch_size
        if hasattr(source, "raw_batches"):
            batches = source.raw_batches(report.cursor, batch_size)
        else:
            batches = ((RawBatch.of(r), c) for r, c in source.batches(report.cursor, batch_size))
        clock = StageClock()
        for batch, cursor in clock.each(batches, "read"):
            quarantined = sum(reasons.values())
            with clock.stage("validate"):
                valid = _validate_batch(batch, limits, quarantine, reasons, lanes)
            with clock.stage("commit"):
                accepted = state.commit_table(valid, source.key, cursor)
            _count_types(accepted, by_type)
            report.read += len(batch)
            report.accepted += len(accepted)
            report.duplicate += len(valid) - len(accepted)
            report.quarantined += sum(reasons.values()) - quarantined
            report.cursor = cursor
            report.batches += 1
            del batch, valid, accepted  # before the next batch is read: one batch in memory
    report.quarantine_reasons = dict(sorted(reasons.items()))
    report.by_type = dict(sorted(by_type.items()))
    report.lanes = dict(sorted(lanes.items()))
    report.reread_files = list(getattr(source, "reread", []))
    report.renamed_files = dict(getattr(source, "renamed", {}))
    report.waiting_bytes = dict(getattr(source, "waiting", {}))
    ignored = list(getattr(source, "ignored", []))
    report.ignored_files = ignored[:50] + (
        [f"... {len(ignored) - 50} more"] if len(ignored) > 50 else []
    )
    report.stage_seconds = clock.rounded()
    report.seconds = round(time.perf_counter() - started, 4)
    return report
