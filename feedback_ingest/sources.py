"""Where feedback events come from: a landing folder of files (here), or a SQL table
(`sql_source.py`).

A source yields batches of `RawRecord`s together with the cursor that is true once the batch
is committed; the ingest stores that cursor in the same transaction as the batch, so a re-run
continues exactly where the last committed batch ended and never reads an event twice.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import json
import time
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from feedback_ingest.lines import LineReader
from feedback_ingest.raw import UNREADABLE, RawBatch, RawRecord

JSON_FIELDS = ("prompt", "responses", "preference", "annotator", "metadata")
FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
_BOM = b"\xef\xbb\xbf"  # the UTF-8 byte order mark some Windows tools write at a file's start
HEAD_BYTES = 4096
"""Bytes at a file's start whose hash tells a file from another one later under its name."""


def row_to_record(row: dict, location: str) -> RawRecord:
    """A table row (Parquet/SQL) -> a record; JSON-text columns are decoded where possible."""
    obj = dict(row)
    for key in JSON_FIELDS:
        value = obj.get(key)
        # A text prompt stays text; a prompt that is a JSON message list, and the nested fields,
        # arrive as JSON text from flat tables.
        if isinstance(value, str) and (key != "prompt" or value.lstrip()[:1] == "["):
            # Unparseable (or nested past the recursion limit): kept as text, and validation
            # names the wrong type; never an exception that stops the run.
            with contextlib.suppress(ValueError, RecursionError):
                decoded = json.loads(value)
                if key != "prompt" or _messages(decoded):  # "[1, 2]" asked as text stays text
                    obj[key] = decoded
    if isinstance(obj.get("timestamp"), datetime):
        obj["timestamp"] = obj["timestamp"].isoformat()
    raw = json.dumps(row, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return RawRecord(raw, obj, location)


def _messages(value: Any) -> bool:
    """Whether a decoded prompt is a chat: a non-empty list of objects."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value)


def _unreadable(path: Path, offset: int, exc: BaseException, unit: str = "byte") -> RawRecord:
    detail = f"unreadable_file: {path.name} after {unit} {offset}: {type(exc).__name__}: {exc}"
    return RawRecord(detail[:500].encode(), UNREADABLE, f"{path.name}@{offset}")


class LandingFolderSource:
    """`.jsonl`, `.jsonl.gz` and `.parquet` files in one folder, read in name order.

    Cursor: per file, the consumed (decompressed) byte offset or Parquet row count, and the
    file's identity (inode, size, hash of its first bytes). A file replaced under the same name
    (rewritten, truncated, rotated) is read again from its start: its events already ingested
    count as duplicates, its new ones are not skipped. A file renamed in the folder (the same
    inode and first bytes under a new name, as a writer that rotates `current.jsonl` to a dated
    name does) is read on from where its old name stopped. `.jsonl` files may grow by appending
    lines; a last line without a newline is left for a later run while the file changed in the
    last `partial_line_wait_s` seconds, unless it already decodes as JSON. A `.jsonl.gz` or
    `.parquet` that could not be read is retried once it changes (a copy that was still being
    written); write them atomically (temp + rename) to avoid the quarantine record.
    """

    def __init__(
        self,
        folder: Path,
        max_line_bytes: int = 256 * 1024 + 1,
        max_batch_bytes: int = 1 << 28,
        partial_line_wait_s: float = 60.0,
    ) -> None:
        self.folder = Path(folder)
        self.max_line_bytes = max_line_bytes  # longer lines are kept cut to this (oversize)
        self.max_batch_bytes = max_batch_bytes
        self.partial_line_wait_s = partial_line_wait_s
        self.key = f"landing:{self.folder.resolve()}"
        self.reread: list[str] = []  # files of the last run read again from their start
        self.renamed: dict[str, str] = {}  # new name -> old name of files read on after a rename
        self.waiting: dict[str, int] = {}  # files whose unfinished last line was left unread
        self.ignored: list[str] = []  # entries of the folder that are not read (see files)

    def files(self) -> list[Path]:
        """The files to read, in name order; `ignored` names the other entries (a subfolder,
        another suffix such as `.JSONL`, a broken link), so that none is skipped unseen."""
        read, self.ignored = [], []
        if not self.folder.is_dir():
            return read
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith("."):
                continue  # hidden, as Spark and Hive skip them: a copy in progress
            if path.is_file() and path.name.endswith(FILE_SUFFIXES):
                read.append(path)
            else:
                self.ignored.append(path.name)
        return read

    @classmethod
    def for_config(cls, config: Any) -> LandingFolderSource:
        """The landing folder of `config`, with its event and batch size bounds."""
        return cls(
            config.incoming_dir,
            config.max_event_bytes + 1,
            config.max_batch_bytes,
            config.partial_line_wait_s,
        )

    def _full(self, batch: RawBatch, batch_size: int) -> bool:
        return len(batch) >= batch_size or batch.nbytes >= self.max_batch_bytes

    def batches(self, cursor: Any, batch_size: int) -> Iterator[tuple[list[RawRecord], Any]]:
        """Batches of unread records, each with the cursor that holds once it is committed."""
        for batch, state in self.raw_batches(cursor, batch_size):
            yield [batch.record(i) for i in range(len(batch))], state

    def raw_batches(self, cursor: Any, batch_size: int) -> Iterator[tuple[RawBatch, Any]]:
        """Like `batches`, as `RawBatch`es: lines are read in chunks, not one by one."""
        state = copy.deepcopy(cursor) if cursor else {"files": {}}
        self.reread, self.waiting, self.renamed = [], {}, {}
        moves = _Moves(cursor or state)  # the cursor as given: `state` is its working copy
        batch = RawBatch()
        for path in self.files():
            offset = self._start(path, state, moves)
            if offset is None:
                continue
            if path.name.endswith(".parquet"):
                try:
                    for record, rows_read in self._read_parquet(path, offset):
                        batch.add_record(record)
                        state["files"][path.name] = rows_read
                        if self._full(batch, batch_size):
                            yield batch, copy.deepcopy(state)
                            batch = RawBatch()
                except (EOFError, OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
                    # As for JSONL below: the rows read count, the rest is quarantined once.
                    rows = state["files"].get(path.name, 0)
                    batch.add_record(_unreadable(path, rows, exc, unit="row"))
                    state.setdefault("unreadable", {})[path.name] = rows
                continue
            opener = gzip.open if path.name.endswith(".gz") else open
            try:
                with opener(path, "rb") as handle:
                    if offset == 0 and handle.read(len(_BOM)) == _BOM:
                        offset = len(_BOM)  # not part of the first event (RFC 8259, 8.1)
                    handle.seek(offset)  # gzip seeks forward by decompressing: bounded memory
                    last = self._last(path, state["identity"][path.name])
                    lines = LineReader(handle, self.max_line_bytes, take_last=last)
                    while True:
                        room = max(1, self.max_batch_bytes - batch.nbytes)
                        chunk, sizes = lines.read(batch_size - len(batch), room)
                        if not chunk:
                            break
                        offset = batch.add_lines(path.name, chunk, sizes, offset)
                        state["files"][path.name] = offset
                        if self._full(batch, batch_size):
                            yield batch, copy.deepcopy(state)
                            batch = RawBatch()
                    if lines.waiting_bytes:
                        self.waiting[path.name] = lines.waiting_bytes
            except (EOFError, OSError, zlib.error) as exc:
                # A truncated or corrupt file: what was read counts; the unreadable rest is
                # quarantined once (as one record naming the file), retried once it changes.
                batch.add_record(_unreadable(path, offset, exc))
                state.setdefault("unreadable", {})[path.name] = offset
        if len(batch):
            yield batch, copy.deepcopy(state)

    def _start(self, path: Path, state: dict, moves: _Moves) -> int | None:
        """Where to start reading `path` (None: skip it), its identity recorded in `state`."""
        try:
            name, identity = path.name, _identity(path)
        except FileNotFoundError:  # removed since the folder was listed: nothing to read
            return None
        known = state.setdefault("identity", {}).get(name)
        if known is None and (old := moves.old_name(path, identity)) is not None:
            self.renamed[name] = old
            known = moves.take(old, name, state, self.folder)
        state["identity"][name] = identity
        unreadable = state.get("unreadable", {})
        if known is not None and name in state["files"] and _replaced(known, identity, path):
            self.reread.append(name)
            state["files"].pop(name)
            unreadable.pop(name, None)
        elif name in unreadable:
            changed = known is not None and any(
                known[k] != identity[k] for k in ("size", "mtime_ns")
            )
            if not changed:
                return None  # quarantined once; retried only when the file changes
            unreadable.pop(name)
        return state["files"].get(name, 0)

    def _last(self, path: Path, identity: dict):
        """Whether a last line without a newline is taken: always in a `.gz` (complete once
        readable), in a `.jsonl` once it decodes or the file has been left alone a while."""
        if path.name.endswith(".gz"):
            return None
        settled = time.time() - identity["mtime_ns"] / 1e9 >= self.partial_line_wait_s
        return lambda line: settled or _decodes(line)

    @staticmethod
    def _read_parquet(path: Path, offset: int) -> Iterator[tuple[RawRecord, int]]:
        """(record, rows read) from row `offset` on, a row group at a time: row groups already
        read are skipped unopened, and a corrupt one loses no rows before it."""
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        row = 0
        for group in range(parquet.num_row_groups):
            n_group = parquet.metadata.row_group(group).num_rows
            if row + n_group <= offset:
                row += n_group
                continue
            for batch in parquet.iter_batches(batch_size=8192, row_groups=[group]):
                skip = max(0, offset - row)
                for i, item in enumerate(batch.to_pylist()[skip:], start=row + skip):
                    yield row_to_record(item, f"{path.name}#{i}"), i + 1
                row += batch.num_rows


class _Moves:
    """The files a cursor knew, by inode, as the run began: a new name whose file is one of
    them, unchanged but for appended bytes, is that file renamed."""

    def __init__(self, state: dict) -> None:
        self.origin = state  # read only
        self.by_ino: dict[int, list[str]] = {}
        for name, known in state.get("identity", {}).items():
            if name in state["files"]:
                self.by_ino.setdefault(known["ino"], []).append(name)

    def old_name(self, path: Path, identity: dict) -> str | None:
        """The name under which the cursor read `path` before, if any."""
        for old in self.by_ino.get(identity["ino"], []):
            known = self.origin["identity"][old]
            same_kind = old != path.name and _kind(old) == _kind(path.name)
            if same_kind and not _replaced(known, identity, path):
                return old
        return None

    def take(self, old: str, new: str, state: dict, folder: Path) -> dict:
        """Carry `old`'s offset (and unreadable mark) over to `new` in `state`, forgetting
        `old` once no file has its name; the identity `old` had, for `new`."""
        state["files"][new] = self.origin["files"][old]
        unreadable = state.setdefault("unreadable", {})
        if old in self.origin.get("unreadable", {}):
            unreadable[new] = self.origin["unreadable"][old]
        if not (folder / old).exists():
            for entries in (state["files"], state["identity"], unreadable):
                entries.pop(old, None)
        return self.origin["identity"][old]


def _kind(name: str) -> str:
    return next(suffix for suffix in FILE_SUFFIXES[::-1] if name.endswith(suffix))


def _decodes(line: bytes) -> bool:
    try:
        msgspec.json.decode(line)
    except msgspec.DecodeError:
        return False
    return True


def _identity(path: Path) -> dict:
    """What tells this file from another one later under its name."""
    stat = path.stat()
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    return {"ino": stat.st_ino, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head": hashlib.sha256(head).hexdigest(), "head_bytes": len(head)}  # fmt: skip


def _replaced(known: dict, now: dict, path: Path) -> bool:
    """Whether `path` is now another file than the one `known` described (not the same one
    grown by appending)."""
    if now["ino"] != known["ino"] or now["size"] < known["size"]:
        return True
    if path.name.endswith(".parquet") and now["mtime_ns"] != known["mtime_ns"]:
        return True  # a Parquet file does not grow by appending: any change makes a new one
    if now["head_bytes"] == known["head_bytes"]:
        return now["head"] != known["head"]
    with open(path, "rb") as handle:  # it was shorter then: compare the bytes it had
        return hashlib.sha256(handle.read(known["head_bytes"])).hexdigest() != known["head"]
