"""The native lane: pairwise JSONL lines of the common shape straight into Arrow columns.

`_pairwise.c` scans each line once, strictly, without the GIL, so batches are split over the
cores; metadata objects come back as raw JSON, decoded here by msgspec. Like the other fast
paths it only ever ACCEPTS: whatever it does not take (HH transcripts, numbers outside
metadata, unknown keys, suspicious escapes, anything invalid) goes to the Python
lanes, which judge it and name the reason; tests check that every lane stores the very
record the reference validator makes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import msgspec
import numpy as np
import pyarrow as pa

from feedback_ingest.fast import DECODE_ERRORS
from feedback_ingest.render import ASSISTANT, HUMAN, ROLE_LABELS
from feedback_ingest.store import EVENT_SCHEMA
from feedback_ingest.validate import Limits, encode_metadata

try:
    from feedback_ingest import _pairwise
except ImportError:  # not compiled (a bare source tree): the Python lanes take every line
    _pairwise = None

CHUNK_LINES = 8192
"""Lines below which a batch is not split over threads (dispatch would cost more)."""
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
THREADS = min(_CORES or 1, 8)
"""Threads the lane's work is cut over (1: none started)."""
_POOLS: dict[int, ThreadPoolExecutor] = {}  # by process: a forked child starts its own
_TS_TYPE = EVENT_SCHEMA.field("timestamp").type
_HUMAN, _ASSISTANT = HUMAN.encode(), ASSISTANT.encode()
_ROLES = tuple((role.encode(), label.encode()) for role, label in ROLE_LABELS.items())
_METADATA = msgspec.json.Decoder(dict)


def available() -> bool:
    """Whether the compiled scanner is importable (`pip install` builds it)."""
    return _pairwise is not None


def sliced(n: int, work, min_rows: int = CHUNK_LINES) -> list:
    """`work(start, stop)` over [0, n) cut into one slice per core (each `min_rows` at least),
    run on the lane's threads; results in order. The work must release the GIL to gain."""
    slices = max(1, min(THREADS, n // max(min_rows, 1)))
    if slices == 1:
        return [work(0, n)]
    pool = _POOLS.get(os.getpid())
    if pool is None:
        pool = _POOLS[os.getpid()] = ThreadPoolExecutor(THREADS, thread_name_prefix="native")
    bounds = np.linspace(0, n, slices + 1).astype(int).tolist()
    return list(pool.map(work, bounds[:-1], bounds[1:]))


def _strings(column: tuple[bytes, bytes, bytes], count: int, kind=pa.string()) -> pa.Array:
    offsets, data, valid = column
    flags = np.frombuffer(valid, np.uint8)
    bitmap = None if flags.all() else pa.py_buffer(np.packbits(flags, bitorder="little"))
    buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(kind, count, buffers)


def _metadata(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(metadata as the other lanes store it, mask of rows msgspec could decode)."""
    decodable = np.ones(len(raw), bool)
    if raw.null_count == len(raw):
        return pa.nulls(len(raw), pa.string()), decodable
    values = raw.to_pylist()
    for i, value in enumerate(values):
        if value is not None:
            try:
                values[i] = encode_metadata(_METADATA.decode(value))
            except DECODE_ERRORS:  # e.g. 1e400
                values[i], decodable[i] = None, False
    return pa.array(values, pa.string()), decodable


def _table(scanned: tuple) -> tuple[pa.Table, np.ndarray]:
    """(accepted events in EVENT_SCHEMA, accepted mask) from one scanner answer."""
    ok, micros, winner, tie, columns = scanned
    event_id, prompt, annotator, kind, ids, texts, policies, metadata = columns
    n = len(micros) // 8
    metadata, decodable = _metadata(_strings(metadata, n, pa.binary()))
    pairs = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    columns = {
        "event_id": _strings(event_id, n),
        "timestamp": pa.Array.from_buffers(_TS_TYPE, n, [None, pa.py_buffer(micros)]),
        "type": pa.repeat(pa.scalar("pairwise"), n),
        "prompt": _strings(prompt, n),
        "annotator_id": _strings(annotator, n),
        "annotator_kind": _strings(kind, n),
        "response_ids": pa.ListArray.from_arrays(pairs, _strings(ids, 2 * n)),
        "response_texts": pa.ListArray.from_arrays(pairs, _strings(texts, 2 * n)),
        "policy_versions": pa.ListArray.from_arrays(pairs, _strings(policies, 2 * n)),
        "winner_idx": pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(winner)]),
        "tie": pa.array(np.frombuffer(tie, np.uint8).astype(bool), pa.bool_()),
        "order_idx": pa.nulls(n, pa.list_(pa.int32())),
        "scores": pa.nulls(n, pa.list_(pa.float64())),
        "metadata": metadata,
    }
    table = pa.Table.from_arrays([columns[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)
    taken = np.frombuffer(ok, bool).copy()
    if not decodable.all():  # left to the Python lanes, which name the reason
        table = table.filter(pa.array(decodable))
        taken[np.flatnonzero(taken)[~decodable]] = False
    return table, taken


def _scan(lines: list[bytes], limits: Limits) -> tuple:
    return _pairwise.scan(
        lines, limits.max_event_bytes, limits.max_text_chars, limits.max_id_chars,
        limits.max_responses, _HUMAN, _ASSISTANT, _ROLES,
    )  # fmt: skip


def scan_lines(lines: list[bytes], limits: Limits) -> tuple[pa.Table, np.ndarray] | None:
    """(events the native lane accepts, in line order; mask of those lines), or None when the
    scanner is not compiled. Large batches are cut into one slice per core."""
    if _pairwise is None:
        return None
    answers = sliced(len(lines), lambda a, b: _table(_scan(lines[a:b], limits)))
    if len(answers) == 1:
        return answers[0]
    table = pa.concat_tables([t for t, _ in answers])
    return table, np.concatenate([mask for _, mask in answers])
