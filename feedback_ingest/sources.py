"""Where feedback events come from: a landing folder of files, or a SQL table.

A source yields batches of `RawRecord`s together with the cursor that is true once the batch
is committed; the ingest stores that cursor in the same transaction as the batch, so a re-run
continues exactly where the last committed batch ended and never reads an event twice.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

JSON_FIELDS = ("prompt", "responses", "preference", "annotator", "metadata")
FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


@dataclass(slots=True)
class RawRecord:
    """One event as read: its raw bytes, the decoded object if the source has one, where from."""

    raw: bytes
    obj: dict | None
    location: str


def _row_to_record(row: dict, location: str) -> RawRecord:
    """A table row (Parquet/SQL) -> a record; JSON-text columns are decoded where possible."""
    obj = dict(row)
    for key in JSON_FIELDS:
        value = obj.get(key)
        # A text prompt stays text; a prompt that is a JSON message list, and the nested fields,
        # arrive as JSON text from flat tables.
        if isinstance(value, str) and (key != "prompt" or value.lstrip()[:1] == "["):
            with contextlib.suppress(ValueError):  # else validation names the wrong type
                obj[key] = json.loads(value)
    if isinstance(obj.get("timestamp"), datetime):
        obj["timestamp"] = obj["timestamp"].isoformat()
    raw = json.dumps(row, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return RawRecord(raw, obj, location)


class LandingFolderSource:
    """`.jsonl`, `.jsonl.gz` and `.parquet` files in one folder, read in name order.

    Cursor: per file, the consumed (decompressed) byte offset or Parquet row count. Producers
    must write files atomically (temp + rename); `.jsonl` files may grow by appending lines.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.key = f"landing:{self.folder.resolve()}"

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p for p in self.folder.iterdir() if p.is_file() and p.name.endswith(FILE_SUFFIXES)
        )

    def batches(self, cursor: Any, batch_size: int) -> Iterator[tuple[list[RawRecord], Any]]:
        """Batches of unread records, each with the cursor that holds once it is committed."""
        state = copy.deepcopy(cursor) if cursor else {"files": {}}
        batch: list[RawRecord] = []
        for path in self.files():
            for record, offset in self._read(path, state["files"].get(path.name, 0)):
                batch.append(record)
                state["files"][path.name] = offset
                if len(batch) >= batch_size:
                    yield batch, copy.deepcopy(state)
                    batch = []
        if batch:
            yield batch, copy.deepcopy(state)

    def _read(self, path: Path, offset: int) -> Iterator[tuple[RawRecord, int]]:
        if path.name.endswith(".parquet"):
            yield from self._read_parquet(path, offset)
            return
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            yield from self._read_lines(handle, path.name, offset)

    @staticmethod
    def _read_lines(handle: BinaryIO, name: str, offset: int) -> Iterator[tuple[RawRecord, int]]:
        handle.seek(offset)  # gzip seeks forward by decompressing: bounded memory either way
        for line in handle:
            start, offset = offset, offset + len(line)
            raw = line.rstrip(b"\r\n")
            if raw.strip():  # blank lines separate nothing and are not events
                yield RawRecord(raw, None, f"{name}@{start}"), offset

    @staticmethod
    def _read_parquet(path: Path, offset: int) -> Iterator[tuple[RawRecord, int]]:
        import pyarrow.parquet as pq

        row = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
            n_rows = batch.num_rows
            if row + n_rows > offset:
                skip = max(0, offset - row)
                for i, item in enumerate(batch.to_pylist()[skip:], start=row + skip):
                    yield _row_to_record(item, f"{path.name}#{i}"), i + 1
            row += n_rows


def _encode_watermark(value: Any) -> dict:
    if isinstance(value, datetime):
        return {"kind": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"kind": "date", "value": value.isoformat()}
    return {"kind": "plain", "value": value}


def _decode_watermark(data: dict) -> Any:
    kind, value = data["kind"], data["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    return value


class SqlSource:
    """Rows of a SQL table (via SQLAlchemy) past a watermark column.

    Each row is one event; its columns are the contract's fields, nested ones as JSON text.
    Rows sharing a watermark value are always read together, so a batch boundary never splits
    them; rows that arrive later with a watermark below the cursor are not seen (the usual
    watermark contract: the column must grow monotonically, e.g. an autoincrement id).
    """

    def __init__(self, url: str, table: str, watermark_column: str = "id") -> None:
        self.url = url
        self.table = table
        self.watermark_column = watermark_column
        self.key = f"sql:{url}:{table}:{watermark_column}"

    def batches(self, cursor: Any, batch_size: int) -> Iterator[tuple[list[RawRecord], Any]]:
        """Batches of rows past the stored watermark, ordered by it."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            table = sa.Table(self.table, sa.MetaData(), autoload_with=engine)
            if self.watermark_column not in table.c:
                raise ValueError(
                    f"SqlSource: table {self.table!r} has no watermark column "
                    f"{self.watermark_column!r}"
                )
            column = table.c[self.watermark_column]
            last = None if cursor is None else _decode_watermark(cursor["watermark"])
            while True:
                rows = self._fetch(engine, table, column, last, batch_size)
                if not rows:
                    return
                last = rows[-1][self.watermark_column]
                records = [
                    _row_to_record(r, f"{self.table}:{r[self.watermark_column]}") for r in rows
                ]
                yield records, {"watermark": _encode_watermark(last)}
        finally:
            engine.dispose()

    def _fetch(self, engine: Any, table: Any, column: Any, last: Any, limit: int) -> list[dict]:
        import sqlalchemy as sa

        past = sa.true() if last is None else column > last
        with engine.connect() as conn:
            upper = conn.execute(
                sa.select(column).where(past).order_by(column).offset(limit - 1).limit(1)
            ).scalar()
            query = sa.select(table).where(past).order_by(column)
            if upper is not None:  # a full batch: extend it to every row sharing the last value
                query = query.where(column <= upper)
            return [dict(row._mapping) for row in conn.execute(query)]
