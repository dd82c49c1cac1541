"""Compact keys of the rows of every snapshot part, kept in the version's `state/`.

An incremental build must find the parent parts that new votes re-decide (or that a changed
golden set now excludes). Reading every part's `pair_id` and `prompt_hash` texts costs in
proportion to the whole dataset; this index holds the first 64 bits of both hashes per row
(16 bytes against 64 characters), so untouched parts are recognised without opening them.
A key match is only a candidate: the build then reads that part and compares the full ids, so
a 64-bit prefix collision costs one read, never a wrong verdict. Versions without the index
(or with one that does not match their parts) are scanned as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

KEYS_FILE = "state/part_keys.parquet"
KEYS_SCHEMA = pa.schema(
    [
        pa.field("part", pa.string(), nullable=False),  # the part's path in its version
        pa.field("pair_keys", pa.large_list(pa.uint64()), nullable=False),  # one per row, in order
        pa.field("prompt_keys", pa.large_list(pa.uint64()), nullable=False),
    ]
)
_HEX_CHARS = 32  # `schema.pair_id` and `schema.prompt_hash` are 32 hex digits

Keys = tuple[np.ndarray, np.ndarray]
"""(pair keys, prompt keys) of one part's rows, in row order."""


def key64(hex_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The first 64 bits of each 32-hex-digit id as uint64 (ValueError for anything else)."""
    chunks = hex_ids.chunks if isinstance(hex_ids, pa.ChunkedArray) else [hex_ids]
    out = [_chunk_keys(chunk.cast(pa.string())) for chunk in chunks if len(chunk)]
    return np.concatenate(out) if out else np.array([], np.uint64)


def _chunk_keys(ids: pa.StringArray) -> np.ndarray:
    if ids.null_count:
        raise ValueError("hex ids: null values")
    _, offsets, data = ids.buffers()
    offsets = np.frombuffer(offsets, np.int32)[ids.offset : ids.offset + len(ids) + 1]
    if (np.diff(offsets) != _HEX_CHARS).any():
        raise ValueError(f"hex ids: every id must have {_HEX_CHARS} characters")
    digits = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]].reshape(len(ids), -1)
    head = bytes.fromhex(digits[:, :16].tobytes().decode("ascii"))  # ValueError if not hex
    if len(head) != 8 * len(ids):  # fromhex skips spaces
        raise ValueError("hex ids: not hexadecimal")
    return np.frombuffer(head, ">u8").astype(np.uint64)


def table_keys(table: pa.Table) -> Keys:
    """Keys of the rows of a pair table (or of its `pair_id` and `prompt_hash` columns)."""
    return key64(table["pair_id"]), key64(table["prompt_hash"])


def hits(keys: Keys, pair_keys: np.ndarray, prompt_keys: np.ndarray) -> bool:
    """Whether any row may carry one of `pair_keys` or `prompt_keys` (sorted arrays)."""
    return _any_in(keys[0], pair_keys) or _any_in(keys[1], prompt_keys)


def _any_in(values: np.ndarray, sorted_keys: np.ndarray) -> bool:
    if not len(values) or not len(sorted_keys):
        return False
    at = np.searchsorted(sorted_keys, values).clip(max=len(sorted_keys) - 1)
    return bool((sorted_keys[at] == values).any())


def read_index(version_dir: Path, parts: list[str]) -> dict[str, Keys] | None:
    """The keys of each of `parts` (paths in the version), or None where the version has no
    index or one that does not name exactly these parts."""
    path = Path(version_dir) / KEYS_FILE
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path, schema=KEYS_SCHEMA).combine_chunks()
    except (pa.ArrowException, OSError):  # unreadable: scanning the parts is always correct
        return None
    names = table["part"].to_pylist()
    if sorted(names) != sorted(parts) or len(set(names)) != len(names):
        return None
    pair, prompt = (_rows(table[name]) for name in ("pair_keys", "prompt_keys"))
    return dict(zip(names, zip(pair, prompt, strict=True), strict=True))


def _rows(column: pa.ChunkedArray) -> list[np.ndarray]:
    """Each row of a large_list<uint64> column as a NumPy view (no copy)."""
    lists = column.chunk(0) if column.num_chunks else pa.array([], KEYS_SCHEMA.field(1).type)
    values = lists.values.to_numpy()
    offsets = lists.offsets.to_numpy()
    return [values[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def write_index(entries: dict[str, Keys], path: Path) -> None:
    """Write the keys of every part of a version, one row per part."""
    names = sorted(entries)
    columns = [pa.array(names, pa.string())]
    for k in (0, 1):
        values = [entries[n][k] for n in names]
        offsets = np.r_[0, np.cumsum([len(v) for v in values])].astype(np.int64)
        flat = pa.array(np.concatenate(values) if values else np.array([], np.uint64), pa.uint64())
        columns.append(pa.LargeListArray.from_arrays(pa.array(offsets), flat))
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_arrays(columns, schema=KEYS_SCHEMA)
    pq.write_table(table, path, compression="none", use_dictionary=False)
