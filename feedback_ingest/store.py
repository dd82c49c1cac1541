"""Durable ingest state: accepted events (Parquet parts), the seen-id index, source cursors
(the quarantine of invalid events is in `quarantine.py`).

One SQLite file records which part files exist, which event ids were seen and how far each
source was read; a batch's part file, ids and cursor are committed in one transaction, so a
crash at any point either keeps the whole batch or none of it (orphan part files are removed).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),  # rendered text
        pa.field("annotator_id", pa.string()),
        pa.field("annotator_kind", pa.string(), nullable=False),
        pa.field("response_ids", pa.list_(pa.string()), nullable=False),
        pa.field("response_texts", pa.list_(pa.string()), nullable=False),
        pa.field("policy_versions", pa.list_(pa.string()), nullable=False),
        pa.field("winner_idx", pa.int32(), nullable=False),  # pairwise; -1 for ties/other types
        pa.field("tie", pa.bool_(), nullable=False),
        pa.field("order_idx", pa.list_(pa.int32())),  # ranking, best first
        pa.field("scores", pa.list_(pa.float64())),  # rating, aligned with responses
        pa.field("metadata", pa.string()),  # JSON text, kept, not interpreted
    ]
)


_DICTIONARY_COLUMNS = ["type", "annotator_id", "annotator_kind", "policy_versions"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def exclusive_lock(path: Path):
    """An exclusive lock held through the file `path` (waits for it); close the returned
    handle to release it. A killed holder releases it with its process."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")  # noqa: SIM115 - released by the caller
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def events_table(rows: list[dict]) -> pa.Table:
    """Validated event records -> an Arrow table in EVENT_SCHEMA (built column by column)."""
    columns = {}
    for f in EVENT_SCHEMA:
        values = [r[f.name] for r in rows]
        if f.name == "timestamp":  # records carry epoch microseconds: cheap to convert
            columns[f.name] = pa.array(values, pa.int64()).cast(f.type)
        else:
            columns[f.name] = pa.array(values, type=f.type)
    return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


class IngestState:
    """The ingest state under `state_dir` (SQLite index + `events/part-*.parquet`)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.events_dir = self.state_dir / "events"
        self.events_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.state_dir / "ingest.db", timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS parts (seq INTEGER PRIMARY KEY, file TEXT NOT NULL,
                n_events INTEGER NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS cursors (source TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        self._remove_orphans()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> IngestState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _remove_orphans(self) -> None:
        # A part written by a batch whose transaction never committed is not part of the data.
        # Only under the write lock: a writer in another process holds it from before it
        # writes its part until the part is recorded, so a part missing from the table while
        # we hold the lock is a dead batch's, never a live one's.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            known = {row[0] for row in self.db.execute("SELECT file FROM parts")}
            for path in self.events_dir.glob("part-*.parquet"):
                if path.name not in known:
                    path.unlink(missing_ok=True)
            for path in self.events_dir.glob(".*.tmp"):
                path.unlink(missing_ok=True)
        finally:
            self.db.execute("COMMIT")

    def cursor(self, source: str) -> Any:
        """The stored cursor of `source` (a JSON value) or None."""
        row = self.db.execute("SELECT value FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None else json.loads(row[0])

    def adopt_cursor(self, old: str, new: str) -> Any:
        """Move the cursor stored under the key `old` to `new` (a source renamed); the cursor."""
        self.db.execute("UPDATE OR IGNORE cursors SET source = ? WHERE source = ?", (new, old))
        self.db.execute("DELETE FROM cursors WHERE source = ?", (old,))
        return self.cursor(new)

    def _claim(self, event_ids: list[str]) -> list[str] | None:
        """Mark `event_ids` (distinct) seen; None if some were seen before (nothing marked).

        One statement over a JSON array instead of a row per id: the ids never cross into
        Python one by one. Sorted ids touch the index B-tree in order.
        """
        before = self.db.total_changes
        self.db.execute("SAVEPOINT claim")
        self.db.execute(
            "INSERT OR IGNORE INTO seen SELECT value FROM json_each(?)",
            (msgspec.json.encode(sorted(event_ids)).decode(),),
        )
        if self.db.total_changes - before == len(event_ids):
            self.db.execute("RELEASE claim")
            return event_ids
        self.db.execute("ROLLBACK TO claim")
        self.db.execute("RELEASE claim")
        return None

    def _seen(self, event_ids: list[str]) -> set[str]:
        query = "SELECT value FROM json_each(?) WHERE value IN (SELECT event_id FROM seen)"
        rows = self.db.execute(query, (msgspec.json.encode(event_ids).decode(),))
        return {row[0] for row in rows}

    def commit_table(self, table: pa.Table, source: str, cursor: Any) -> pa.Table:
        """Store the new events of `table` (EVENT_SCHEMA, source order), mark their ids seen,
        advance `source`'s cursor; all in one transaction.

        Returns the accepted rows; the others are duplicates (ids seen before, or earlier in
        the table).
        """
        ids = table["event_id"]
        if pc.count_distinct(ids).as_py() < len(table):  # keep each id's first occurrence
            first = pa.table({"id": ids, "row": np.arange(len(table))})
            first = first.group_by("id", use_threads=False).aggregate([("row", "min")])
            table = table.take(np.sort(first["row_min"].to_numpy()))
        self.db.execute("BEGIN IMMEDIATE")  # one writer at a time: the seen-check stays valid
        try:
            if len(table):
                event_ids = table["event_id"].to_pylist()
                if self._claim(event_ids) is None:
                    seen = pa.array(sorted(self._seen(event_ids)), pa.string())
                    table = table.filter(pc.invert(pc.is_in(table["event_id"], value_set=seen)))
                    self._claim(table["event_id"].to_pylist())
            if len(table):
                self._write_part(table)
            self.db.execute(
                "INSERT OR REPLACE INTO cursors VALUES (?, ?)", (source, json.dumps(cursor))
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return table

    def commit_batch(self, rows: list[dict], source: str, cursor: Any) -> list[dict]:
        """`commit_table` for validated records (dicts); returns the accepted ones."""
        return self.commit_table(events_table(rows), source, cursor).to_pylist()

    def _write_part(self, table: pa.Table) -> None:
        (seq,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM parts").fetchone()
        name = f"part-{seq:09d}.parquet"
        tmp = self.events_dir / f".{name}.tmp"
        # Dictionary pages only pay for the few low-cardinality columns; on texts they cost time.
        pq.write_table(table, tmp, compression="snappy", use_dictionary=_DICTIONARY_COLUMNS)
        os.replace(tmp, self.events_dir / name)
        now = datetime.now(UTC).isoformat()
        self.db.execute("INSERT INTO parts VALUES (?, ?, ?, ?)", (seq, name, len(table), now))

    def parts(self, after_seq: int = 0) -> list[tuple[int, Path, int]]:
        """Committed parts past `after_seq`: (seq, path, n_events), oldest first."""
        rows = self.db.execute(
            "SELECT seq, file, n_events FROM parts WHERE seq > ? ORDER BY seq", (after_seq,)
        )
        return [(seq, self.events_dir / name, n) for seq, name, n in rows]


def read_parts(paths: Iterable[Path], columns: list[str] | None = None) -> pa.Table:
    """Concatenate accepted-event part files (only the requested columns)."""
    tables = [pq.read_table(p, columns=columns) for p in paths]
    if not tables:
        schema = (
            EVENT_SCHEMA if columns is None else pa.schema([EVENT_SCHEMA.field(c) for c in columns])
        )
        return schema.empty_table()
    return pa.concat_tables(tables)
