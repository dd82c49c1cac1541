"""Lines of a landing file, read in blocks with memory bounded whatever the file holds.

Iterating a file object reads each line whole, so one 10 GB line (a producer bug, a file with
no newlines, a hostile upload) would be held in memory at once. Here the stream is read in
blocks and split on newlines; a line longer than `line_cap` bytes is kept cut to its first
`line_cap` bytes (validation refuses it as oversized) and the rest of it is skipped, while its
full size still counts towards the file offset.

A read error (a truncated `.gz`) does not take the lines read before it with it: `read`
returns them and raises at the next call. A last line without a newline is a line only if
`take_last` says so: the landing folder leaves a line a producer is still writing unread.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from itertools import accumulate, repeat
from operator import add
from typing import BinaryIO

BLOCK_BYTES = 1 << 20
"""Bytes read from the stream at a time."""


class LineReader:
    """Lines (without their newline) of a binary stream, each with the bytes it consumed."""

    def __init__(
        self,
        handle: BinaryIO,
        line_cap: int,
        block_bytes: int = BLOCK_BYTES,
        take_last: Callable[[bytes], bool] | None = None,
    ) -> None:
        if line_cap < 1 or block_bytes < 1:
            raise ValueError(f"line_cap and block_bytes must be >= 1: {line_cap}, {block_bytes}")
        self._handle, self._cap, self._block = handle, line_cap, block_bytes
        self._take_last = take_last
        self.waiting_bytes = 0  # a last line without a newline, left unread (see take_last)
        self._error: BaseException | None = None
        self._lines: list[bytes] = []  # complete lines of the last block, not yet taken
        self._sizes: list[int] = []
        self._held: list[int] = []  # running total of the kept bytes of those lines
        self._next = 0
        self._head, self._head_size = b"", 0  # the line in progress: kept bytes, consumed bytes
        self._done = False

    def read(self, max_lines: int, max_bytes: int) -> tuple[list[bytes], list[int]]:
        """Up to `max_lines` lines, stopping at the line that brings them to `max_bytes` or more
        (so at most one line past it); ([], []) at the end of the stream."""
        if self._error is not None:
            raise self._error
        lines, sizes, held = [], [], 0
        while len(lines) < max_lines and held < max_bytes:
            try:
                more = self._next < len(self._lines) or self._fill()
            except (EOFError, OSError, zlib.error) as exc:
                if not lines:
                    raise
                self._error = exc  # raised at the next call, once these lines are taken
                break
            if not more:
                break
            base = self._held[self._next - 1] if self._next else 0
            full = bisect.bisect_left(self._held, base + max_bytes - held, lo=self._next) + 1
            stop = min(len(self._lines), self._next + max_lines - len(lines), full)
            lines += self._lines[self._next : stop]
            sizes += self._sizes[self._next : stop]
            held += self._held[stop - 1] - base
            self._next = stop
        return lines, sizes

    def _cut(self, line: bytes) -> bytes:
        return line if len(line) <= self._cap else line[: self._cap]

    def _fill(self) -> bool:
        """Split the next block into complete lines; False once the stream is exhausted."""
        self._lines, self._sizes, self._next = [], [], 0
        while not self._lines and not self._done:
            # read1: at most one read of the stream, so that data decoded before an error
            # (a truncated .gz) is returned, not dropped with the error
            data = getattr(self._handle, "read1", self._handle.read)(self._block)
            if not data:
                self._done = True
                if self._head_size and (self._take_last is None or self._take_last(self._head)):
                    self._lines, self._sizes = [self._head], [self._head_size]
                else:
                    self.waiting_bytes = self._head_size
                break
            parts = data.split(b"\n")
            rest = parts.pop()  # after the last newline: the start of the next line
            if parts:
                first_size = self._head_size + len(parts[0]) + 1
                if self._head_size:
                    parts[0] = self._head + parts[0]
                sizes = list(map(add, map(len, parts), repeat(1)))  # map: no Python loop
                sizes[0] = first_size
                if max(sizes) > self._cap + 1:  # rare: only then look at each line
                    parts = [self._cut(p) for p in parts]
                self._lines, self._sizes = parts, sizes
                self._head, self._head_size = b"", 0
            self._head = self._cut(self._head + rest) if len(self._head) < self._cap else self._head
            self._head_size += len(rest)
        self._held = list(accumulate(map(len, self._lines)))
        return bool(self._lines)
