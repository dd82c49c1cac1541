"""Raw records as read from a source, and a batch of them in source order."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from itertools import accumulate


@dataclass(slots=True)
class RawRecord:
    """One event as read: its raw bytes, the decoded object if the source has one, where from."""

    raw: bytes
    obj: dict | None
    location: str


UNREADABLE: dict = {}
"""The `obj` of the record that stands for a file's unreadable rest (compared by identity: no
row or line can produce it); validation quarantines it as `unreadable_file`."""


@dataclass
class RawBatch:
    """One batch in source order. JSONL lines stay bare bytes (`objs[i] is None`); their
    locations are kept per run of lines and rendered only for the records that need one."""

    raws: list[bytes] = field(default_factory=list)
    objs: list[dict | None] = field(default_factory=list)
    _firsts: list[int] = field(default_factory=list)  # index of each run's first record
    _runs: list[tuple[str, list[int] | str]] = field(default_factory=list)
    nbytes: int = 0  # raw bytes held
    cut_sizes: dict[tuple[str, int], int] = field(default_factory=dict)  # (file, offset): bytes

    def __len__(self) -> int:
        return len(self.raws)

    def add_record(self, record: RawRecord) -> None:
        self._firsts.append(len(self.raws))
        self._runs.append(("", record.location))
        self.raws.append(record.raw)
        self.objs.append(record.obj)
        self.nbytes += len(record.raw)

    def add_lines(self, name: str, lines: list[bytes], sizes: list[int], offset: int) -> int:
        """Add the events of raw file lines read at byte `offset` (`sizes`: the bytes each
        consumed, newline included); returns the end offset."""
        starts = list(accumulate(sizes, initial=offset))
        end = starts.pop()
        raws = [line.rstrip(b"\r") for line in lines]
        if end - offset > sum(map(len, lines)) + len(lines):  # the reader cut a line short
            for k, (line, size, start) in enumerate(zip(lines, sizes, starts, strict=True)):
                if size > len(line) + 1:
                    self.cut_sizes[(name, start)] = size - 1
                    raws[k] = line  # a CR kept at the cut must not bring it under the limit
        if not all(map(bytes.strip, raws)):  # blank lines separate nothing and are not events
            # blank as JSON sees it (space, tab, CR); a form feed or vertical tab is not
            kept = [(r, s) for r, s in zip(raws, starts, strict=True) if r.strip(b" \t\r")]
            raws, starts = [r for r, _ in kept], [s for _, s in kept]
        if raws:
            self._firsts.append(len(self.raws))
            self._runs.append((name, starts))
            self.raws += raws
            self.objs += [None] * len(raws)
            self.nbytes += sum(map(len, raws))
        return end

    def _place(self, i: int) -> tuple[str, int | str]:
        """(file name, byte offset) of line `i`, or ("", location) of a whole record."""
        run = bisect.bisect_right(self._firsts, i) - 1
        name, where = self._runs[run]
        return (name, where) if isinstance(where, str) else (name, where[i - self._firsts[run]])

    def location(self, i: int) -> str:
        name, where = self._place(i)
        return where if isinstance(where, str) else f"{name}@{where}"

    def cut_size(self, i: int) -> int | None:
        """The full length of line `i` if the reader kept only its start, else None."""
        return self.cut_sizes.get(self._place(i)) if self.cut_sizes else None

    def record(self, i: int) -> RawRecord:
        return RawRecord(self.raws[i], self.objs[i], self.location(i))

    @classmethod
    def of(cls, records: list[RawRecord]) -> RawBatch:
        batch = cls()
        for record in records:
            batch.add_record(record)
        return batch
