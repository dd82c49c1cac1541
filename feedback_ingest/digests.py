"""`schema.prompt_hash` and `schema.pair_id` for whole columns (Arrow in, Arrow out).

Where the CPU has the SHA extensions, `_sha256.c` hashes each row's length-framed texts
straight from the Arrow buffers, on the native lane's threads (`row_digests`). Elsewhere Arrow
strips and length-frames the messages of all rows at once, so only the SHA-256 calls run per
row (through `map`, without a Python frame per call). Text that Arrow cannot hold (a lone
surrogate, which validation never lets through) takes the row-by-row schema functions.
"""

from __future__ import annotations

import hashlib
from operator import methodcaller

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest import native
from feedback_ingest.schema import pair_id, prompt_hash
from feedback_ingest.wide import TEXT, wide_text

try:
    from feedback_ingest import _sha256
except ImportError:  # not compiled: hashlib does every digest
    _sha256 = None
_SHA_NI = _sha256 is not None and _sha256.available()

_DIGEST = methodcaller("digest")
SLICE_ROWS = 1 << 16
"""Rows framed and hashed at a time."""


def _framed(columns: list[pa.Array]) -> pa.Array:
    """Per row: each value prefixed by its UTF-8 length as 8 big-endian bytes, concatenated
    (64-bit offsets: a slice of a column past 2 GB casts without copying)."""
    parts = []
    for col in columns:
        data = col.cast(pa.large_binary())
        lengths = pc.binary_length(data).to_numpy(zero_copy_only=False).astype(">u8")
        buffers = [None, pa.py_buffer(lengths.tobytes())]
        prefix = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(data), buffers)
        parts += [prefix.cast(pa.large_binary()), data]
    return pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.large_binary()))


def _buffers(column: pa.Array) -> tuple[np.ndarray, pa.Buffer | bytes] | None:
    """(int64 offsets of the rows, data buffer) of a text column, or None if it has nulls."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.cast(pa.large_binary())
    if column.null_count:
        return None
    _, offsets, data = column.buffers()
    rows = np.frombuffer(offsets, np.int64)[column.offset : column.offset + len(column) + 1]
    return rows, data if data is not None else b""


def row_digests(columns: list[pa.Array | pa.ChunkedArray], n: int) -> bytes | None:
    """The SHA-256 of each row's framed texts (32 bytes a row) by the compiled hasher, on the
    lane's threads; None where it cannot run (no SHA extensions, not compiled, nulls)."""
    if not _SHA_NI:  # also False when the module is not compiled
        return None
    if n == 0:
        return b""
    buffers = [_buffers(c) for c in columns]
    if any(b is None for b in buffers):
        return None

    def work(start: int, stop: int) -> bytes:
        return _sha256.framed(
            [(rows[start : stop + 1], data) for rows, data in buffers], stop - start
        )

    return b"".join(native.sliced(n, work, min_rows=4096))


def _hashlib_digests(columns: list[pa.Array], n: int) -> bytes:
    """The 32-byte digests of every row by hashlib; rows are framed slice by slice, so memory
    stays bounded by a slice."""
    digests = []
    for start in range(0, n, SLICE_ROWS):
        messages = _framed([c.slice(start, SLICE_ROWS) for c in columns])
        digests.append(b"".join(map(_DIGEST, map(hashlib.sha256, messages.to_pylist()))))
    return b"".join(digests)


def _hex32(columns: list[pa.Array]) -> tuple[pa.Array, np.ndarray]:
    """(first 32 hex digits of the SHA-256 of each row's framed values, its first 4 bytes as a
    big-endian uint32)."""
    n = len(columns[0])
    digests = row_digests(columns, n)
    if digests is None:
        digests = _hashlib_digests(columns, n)
    head = np.frombuffer(digests, np.uint8).reshape(n, 32)[:, :16]
    text = pa.py_buffer(head.tobytes().hex().encode())
    offsets = pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32).tobytes())
    leading = np.ascontiguousarray(head[:, :4]).view(">u4").ravel().astype(np.int64)
    return pa.StringArray.from_buffers(n, offsets, text), leading


def dictionary_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(code of each value, the distinct values) of a non-empty column, encoded chunk by chunk:
    no copy of the texts."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.DictionaryArray):
        return encoded.indices.to_numpy(), encoded.dictionary
    if len({len(c.dictionary) for c in encoded.chunks}) > 1:  # Arrow shares one; be sure
        encoded = encoded.unify_dictionaries()
    chunks = [c for c in encoded.chunks if len(c)]
    return np.concatenate([c.indices.to_numpy() for c in chunks]), chunks[0].dictionary


def _python_text(values) -> list:
    return values.to_pylist() if isinstance(values, pa.Array | pa.ChunkedArray) else list(values)


def _stripped(texts: pa.Array) -> pa.Array:
    """Each text of a `large_string` array as `str.strip` leaves it. Arrow trims ASCII
    whitespace; texts that then start or end with a byte it does not judge (non-ASCII, or
    \\x1c-\\x1f) are stripped by Python."""
    trimmed = pc.ascii_trim_whitespace(texts)
    if len(trimmed) == 0:
        return trimmed
    _, offsets, data = trimmed.buffers()
    offsets = np.frombuffer(offsets, np.int64)[trimmed.offset : trimmed.offset + len(trimmed) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)
    rows = np.flatnonzero(np.diff(offsets) > 0)
    ends = np.stack([data[offsets[rows]], data[offsets[rows + 1] - 1]])
    odd = rows[((ends >= 0x80) | ((ends >= 0x1C) & (ends <= 0x1F))).any(axis=0)]
    if not len(odd):
        return trimmed
    values = [v.strip() for v in trimmed.take(pa.array(odd)).to_pylist()]
    pointer = np.arange(len(trimmed))
    pointer[odd] = len(trimmed) + np.arange(len(odd))
    return pa.concat_arrays([trimmed, pa.array(values, TEXT)]).take(pa.array(pointer))


def _arrow_or_none(values) -> pa.Array | None:
    """`values` as one `large_string` array, or None for text Arrow cannot hold (a lone
    surrogate, which validation never lets through: such rows are hashed by Python)."""
    try:
        return wide_text(values)
    except (UnicodeEncodeError, pa.ArrowInvalid):
        return None


def prompt_hashes(prompts) -> tuple[pa.Array, np.ndarray]:
    """(`prompt_hash` of each prompt, its leading 32 bits as integers), hashing each distinct
    prompt once."""
    if len(prompts) == 0:
        return pa.array([], pa.string()), np.array([], dtype=np.int64)
    column = prompts.cast(TEXT) if isinstance(prompts, pa.ChunkedArray) else _arrow_or_none(prompts)
    if column is None:
        hex_values = [prompt_hash(p) for p in _python_text(prompts)]
        leading = np.array([int(h[:8], 16) for h in hex_values], dtype=np.int64)
        return pa.array(hex_values, pa.string()), leading
    codes, uniques = dictionary_codes(column)
    hexes, leading = _hex32([_stripped(uniques)])
    return hexes.take(pa.array(codes)), leading[codes]


def pair_ids(prompts, chosen, rejected) -> pa.Array:
    """`pair_id` of each (prompt, chosen, rejected) row."""
    if len(prompts) == 0:
        return pa.array([], pa.string())
    columns = [_arrow_or_none(values) for values in (prompts, chosen, rejected)]
    if any(column is None for column in columns):
        rows = zip(*map(_python_text, (prompts, chosen, rejected)), strict=True)
        return pa.array([pair_id(p, c, r) for p, c, r in rows], pa.string())
    return _hex32([_stripped(columns[0]), *columns[1:]])[0]
