"""`schema.prompt_hash` and `schema.pair_id` for whole columns.

Arrow builds the length-framed messages of all rows at once, so only the SHA-256 calls run per
row (through `map`, without a Python frame per call). Text that Arrow cannot hold (a lone
surrogate, which validation never lets through) takes the row-by-row schema functions.
"""

from __future__ import annotations

import hashlib
from operator import methodcaller

import numpy as np
import pandas as pd
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


def prompt_hashes(prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`prompt_hash` of each prompt, its leading 32 bits as integers), hashing each distinct
    prompt once."""
    if len(prompts) == 0:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    codes, uniques = pd.factorize(prompts)
    stripped = [p.strip() for p in uniques]
    try:
        hexes, leading = _hex32(_framed([pa.array(stripped, pa.string())]))
        hex_values = hexes.to_numpy(zero_copy_only=False)
    except (UnicodeEncodeError, pa.ArrowException):
        hex_values = np.array([prompt_hash(p) for p in uniques], dtype=object)
        leading = np.array([int(h[:8], 16) for h in hex_values], dtype=np.int64)
    return hex_values[codes], leading[codes]


def pair_ids(prompts: np.ndarray, chosen: np.ndarray, rejected: np.ndarray) -> list[str]:
    """`pair_id` of each (prompt, chosen, rejected) row."""
    if len(prompts) == 0:
        return []
    try:
        columns = [pa.array([p.strip() for p in prompts], pa.string())]
        columns += [pa.array(chosen, pa.string()), pa.array(rejected, pa.string())]
        return _hex32(_framed(columns))[0].to_pylist()
    except (UnicodeEncodeError, pa.ArrowException):
        return [pair_id(p, c, r) for p, c, r in zip(prompts, chosen, rejected, strict=True)]
