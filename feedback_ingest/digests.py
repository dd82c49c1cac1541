"""`schema.prompt_hash` and `schema.pair_id` for whole columns (Arrow in, Arrow out).

Arrow strips and length-frames the messages of all rows at once, so only the SHA-256 calls run
per row (through `map`, without a Python frame per call). Text that Arrow cannot hold (a lone
surrogate, which validation never lets through) takes the row-by-row schema functions.
"""

from __future__ import annotations

import hashlib
from operator import methodcaller

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest.schema import pair_id, prompt_hash

_DIGEST = methodcaller("digest")


def _framed(columns: list[pa.Array]) -> pa.Array:
    """Per row: each value prefixed by its UTF-8 length as 8 big-endian bytes, concatenated."""
    parts = []
    for col in columns:
        data = col.cast(pa.binary())
        lengths = pc.binary_length(data).to_numpy(zero_copy_only=False).astype(">u8")
        buffers = [None, pa.py_buffer(lengths.tobytes())]
        prefix = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(data), buffers)
        parts += [prefix.cast(pa.binary()), data]
    return pc.binary_join_element_wise(*parts, b"")


def _hex32(messages: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(first 32 hex digits of each SHA-256, its first 4 bytes as a big-endian uint32)."""
    n = len(messages)
    joined = b"".join(map(_DIGEST, map(hashlib.sha256, messages.to_pylist())))
    head = np.frombuffer(joined, np.uint8).reshape(n, 32)[:, :16]
    text = pa.py_buffer(head.tobytes().hex().encode())
    offsets = pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32).tobytes())
    leading = np.ascontiguousarray(head[:, :4]).view(">u4").ravel().astype(np.int64)
    return pa.StringArray.from_buffers(n, offsets, text), leading


def _arrow_text(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


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
    """Each text as `str.strip` leaves it. Arrow trims ASCII whitespace; texts that then start
    or end with a byte it does not judge (non-ASCII, or \\x1c-\\x1f) are stripped by Python."""
    trimmed = pc.ascii_trim_whitespace(texts)
    if len(trimmed) == 0:
        return trimmed
    _, offsets, data = trimmed.buffers()
    offsets = np.frombuffer(offsets, np.int32)[trimmed.offset : trimmed.offset + len(trimmed) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)
    rows = np.flatnonzero(np.diff(offsets) > 0)
    ends = np.stack([data[offsets[rows]], data[offsets[rows + 1] - 1]])
    odd = rows[((ends >= 0x80) | ((ends >= 0x1C) & (ends <= 0x1F))).any(axis=0)]
    if not len(odd):
        return trimmed
    values = [v.strip() for v in trimmed.take(pa.array(odd)).to_pylist()]
    pointer = np.arange(len(trimmed))
    pointer[odd] = len(trimmed) + np.arange(len(odd))
    return pa.concat_arrays([trimmed, pa.array(values, pa.string())]).take(pa.array(pointer))


def prompt_hashes(prompts) -> tuple[pa.Array, np.ndarray]:
    """(`prompt_hash` of each prompt, its leading 32 bits as integers), hashing each distinct
    prompt once."""
    if len(prompts) == 0:
        return pa.array([], pa.string()), np.array([], dtype=np.int64)
    try:
        column = prompts if isinstance(prompts, pa.ChunkedArray) else _arrow_text(prompts)
        codes, uniques = dictionary_codes(column)
        hexes, leading = _hex32(_framed([_stripped(uniques)]))
        return hexes.take(pa.array(codes)), leading[codes]
    except (UnicodeEncodeError, pa.ArrowException):
        hex_values = [prompt_hash(p) for p in _python_text(prompts)]
        leading = np.array([int(h[:8], 16) for h in hex_values], dtype=np.int64)
        return pa.array(hex_values, pa.string()), leading


def pair_ids(prompts, chosen, rejected) -> pa.Array:
    """`pair_id` of each (prompt, chosen, rejected) row."""
    if len(prompts) == 0:
        return pa.array([], pa.string())
    try:
        columns = [_stripped(_arrow_text(prompts)), _arrow_text(chosen), _arrow_text(rejected)]
        return _hex32(_framed(columns))[0]
    except (UnicodeEncodeError, pa.ArrowException):
        rows = zip(*map(_python_text, (prompts, chosen, rejected)), strict=True)
        return pa.array([pair_id(p, c, r) for p, c, r in rows], pa.string())
