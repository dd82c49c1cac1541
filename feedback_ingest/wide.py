"""Texts past 2 GB: a build holds its texts with 64-bit offsets and narrows them on write.

Arrow's `string` has 32-bit offsets, so one array holds at most 2 GB of text, and `take`,
`if_else` or `combine_chunks` over a bigger column fail ("offset overflow"): about 2M events
with HH-length responses in one build. During a build, text columns are `large_string`
(`widened`, zero-copy: only the offsets widen); on the way to disk they are cast back to the
pair schema in row slices of bounded size (`narrowed`), so the files keep `PAIR_SCHEMA`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()
TEXT_COLUMNS = ("prompt", "chosen", "rejected")  # of events and pairs (votes are wide already)
_TEXT_LISTS = ("response_texts",)
SLICE_BYTES = 1 << 30
"""Most text bytes in one narrowed slice: well under the 2 GB of 32-bit offsets."""


def _wide_field(f: pa.Field) -> pa.Field:
    if f.name in TEXT_COLUMNS and pa.types.is_string(f.type):
        return f.with_type(TEXT)
    if f.name in _TEXT_LISTS and f.type == pa.list_(pa.string()):
        return f.with_type(pa.list_(TEXT))
    return f


def wide_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with its text columns as `large_string`."""
    return pa.schema([_wide_field(f) for f in schema], metadata=schema.metadata)


def widened(table: pa.Table) -> pa.Table:
    """`table` with its text columns as `large_string` (the text data is not copied)."""
    schema = wide_schema(table.schema)
    return table if schema.equals(table.schema) else table.cast(schema)


def wide_text(values) -> pa.Array:
    """A column of texts (Arrow, chunked or not, or a Python sequence) as one `large_string`
    array: chunks are widened before they are combined, so they cannot overflow."""
    if isinstance(values, pa.ChunkedArray):
        return values.cast(TEXT).combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(TEXT)
    return pa.array(values, TEXT)


def _row_bytes(table: pa.Table) -> np.ndarray:
    sizes = np.zeros(len(table), np.int64)
    for name in table.column_names:
        if name in TEXT_COLUMNS:
            column = table[name]
            sizes += pc.binary_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    return sizes


def row_slices(table: pa.Table, limit: int | None = None) -> list[tuple[int, int]]:
    """(start, stop) row ranges covering `table`, each with at most `limit` (default
    SLICE_BYTES) text bytes, or one row if a single row is bigger."""
    limit = SLICE_BYTES if limit is None else limit
    ends = np.cumsum(_row_bytes(table))
    bounds, start = [], 0
    while start < len(table):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        bounds.append((start, stop))
        start = stop
    return bounds


def narrowed(table: pa.Table, schema: pa.Schema, limit: int | None = None) -> Iterator[pa.Table]:
    """`table` cast to `schema` (32-bit offsets), slice by slice."""
    for start, stop in row_slices(table, limit):
        piece = table.slice(start, stop - start)
        try:
            yield piece.cast(schema)
        except pa.ArrowInvalid:  # a slice deep inside a buffer past 2 GB: copy its rows out
            yield piece.take(pa.array(np.arange(len(piece)))).cast(schema)
