"""The quarantine: invalid events kept with their exact bytes and a reason, never dropped."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PREVIEW_BYTES = 160
"""Bytes of a quarantined event shown by `Quarantine.summary` (escaped: never raw control
characters on a terminal)."""


STALE_TMP_SECONDS = 3600
"""Age past which a quarantine temp file is a leftover of a killed write."""


def _written_order(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, path.name


class Quarantine:
    """Invalid events, kept: one `batch-<hash>.jsonl` per ingest batch that had any, each line
    a reason record with the event's exact bytes (`raw_b64`).

    The name is a hash of the file's content (never of event ids: no path escape), so a replay
    of the same batch rewrites the same file instead of adding a copy. One file per batch, not
    per event: creating a file costs ~0.1 ms here, so a flood of bad events (an upstream schema
    change, a hostile producer) stays as cheap as the batch that carries it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        # A write killed midway leaves its temp file; one this old has no writer left.
        stale = time.time() - STALE_TMP_SECONDS
        for tmp in self.folder.glob(".batch.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < stale:
                    tmp.unlink()

    def put_batch(self, rejected: list[tuple[bytes, dict[str, Any], str]]) -> Path | None:
        """Store (raw bytes, reason, location) of each rejected event of one batch; returns the
        file written (None when there was nothing to keep)."""
        if not rejected:
            return None
        digest = hashlib.sha256()
        tmp = self.folder / f".batch.{os.getpid()}.{uuid.uuid4().hex}.tmp"  # threads too
        with open(tmp, "wb") as handle:  # streamed: a batch of big bad events is not copied
            for raw, reason, location in rejected:
                record = {**reason, "location": location, "bytes": len(raw)}
                record["sha256_32"] = hashlib.sha256(raw).hexdigest()[:32]
                record["raw_b64"] = base64.b64encode(raw).decode("ascii")
                line = json.dumps(record).encode() + b"\n"
                handle.write(line)
                digest.update(line)
        path = self.folder / f"batch-{digest.hexdigest()[:32]}.jsonl"
        os.replace(tmp, path)
        return path

    def records(self) -> Iterator[dict]:
        """The stored records, oldest file first, each read event once (`raw_bytes` gives back
        an event's bytes).

        A batch that failed to commit is read again by the next run; with another batch size
        its bad events land in another file, so an event already seen at the same location with
        the same bytes is skipped: counts here match the runs' accounting.
        """
        seen: set[bytes] = set()
        for path in sorted(self.folder.glob("batch-*.jsonl"), key=_written_order):
            with open(path, "rb") as handle:
                for line in handle:
                    record = json.loads(line)
                    key = f"{record['location']}\0{record['sha256_32']}".encode()
                    key = hashlib.blake2b(key, digest_size=16).digest()  # bounded per event
                    if key not in seen:
                        seen.add(key)
                        yield record

    @staticmethod
    def raw_bytes(record: dict) -> bytes:
        """The exact bytes of a quarantined event."""
        return base64.b64decode(record["raw_b64"], validate=True)

    def summary(self, reason: str | None = None, limit: int = 10) -> dict[str, Any]:
        """Counts per reason over every stored event, and the last `limit` records (of `reason`
        if given), each with a short printable preview of its bytes instead of the bytes."""
        by_reason: Counter[str] = Counter()
        last: deque[dict] = deque(maxlen=max(0, limit))
        for record in self.records():
            by_reason[record["reason"]] += 1
            if reason is None or record["reason"] == reason:
                last.append(record)
        shown = []
        for record in last:
            text = self.raw_bytes(record)[:PREVIEW_BYTES].decode("utf-8", "backslashreplace")
            preview = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
            kept = {k: v for k, v in record.items() if k != "raw_b64"}
            shown.append({**kept, "preview": preview})
        return {"total": sum(by_reason.values()), "by_reason": dict(sorted(by_reason.items())),
                "records": shown}  # fmt: skip

    def export(self, path: Path, reason: str | None = None) -> dict[str, Any]:
        """Write the exact bytes of the quarantined events (of `reason` if given), one per line,
        to `path` in one atomic step: to fix them and land them again. Returns the counts.

        Left out, and counted: records whose bytes are not a whole event (a file's unreadable
        rest, a line kept cut at `max_event_bytes`) or would not fit on one line.
        """
        path = Path(path)
        counts: Counter[str] = Counter()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as handle:
                for record in self.records():
                    if reason is not None and record["reason"] != reason:
                        continue
                    raw = self.raw_bytes(record)
                    if record["reason"] == "unreadable_file":
                        counts["left_out_unreadable"] += 1
                    elif record.get("full_bytes", len(raw)) > len(raw):
                        counts["left_out_cut"] += 1
                    elif b"\n" in raw:
                        counts["left_out_multiline"] += 1
                    else:
                        handle.write(raw + b"\n")
                        counts["exported"] += 1
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return {"path": str(path), "exported": 0, **counts}
