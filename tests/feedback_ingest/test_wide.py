"""Texts held with 64-bit offsets during a build: zero-copy widening, bounded narrowing on write,
and hashing that takes the Arrow path (never the row-by-row fallback) on Arrow input.

A column past 2 GB is too big for a unit test (`bench/scale.py` builds one); these tests cover
the pieces with small limits instead."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fi_helpers import event, write_jsonl

from feedback_ingest import compile as cp
from feedback_ingest import digests, parts, wide
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.schema import PAIR_SCHEMA, pair_id, prompt_hash


def test_widened_shares_the_text_data():
    table = pa.table(
        {"prompt": ["p", "q"], "response_texts": [["a", "b"], ["c", "d"]], "n": [1, 2]}
    )
    wider = wide.widened(table)
    assert wider["prompt"].type == pa.large_string()
    assert wider["response_texts"].type == pa.list_(pa.large_string())
    assert wider["n"].type == pa.int64()
    data = table["prompt"].chunks[0].buffers()[2]
    assert wider["prompt"].chunks[0].buffers()[2].address == data.address
    assert wide.widened(wider) is wider  # already wide: nothing to do


def test_row_slices_respect_the_byte_limit():
    texts = ["x" * n for n in (5, 1, 7, 3, 20, 2, 2, 2)]
    table = pa.table({"prompt": texts, "chosen": ["y"] * len(texts), "weight": [1.0] * len(texts)})
    bounds = wide.row_slices(table, limit=10)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(texts)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    for start, stop in bounds:  # prompt + chosen bytes; a lone big row forms its own slice
        size = sum(len(t) + 1 for t in texts[start:stop])
        assert size <= 10 or stop - start == 1
    assert len(bounds) > 3 and wide.row_slices(table.slice(0, 0)) == []


def _pairs(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    texts = [f"text {i} " + "w" * int(rng.integers(1, 50)) for i in range(3 * n)]
    rows = [
        {"pair_id": f"{i:032x}", "prompt": texts[3 * i], "chosen": texts[3 * i + 1],
         "rejected": texts[3 * i + 2], "weight": 1.0, "n_votes": 1, "agreement": 1.0,
         "annotator_kind": "human", "source_event_ids": [f"e{i}"], "first_seen": 0,
         "prompt_hash": f"{i:032x}", "split": "train"}
        for i in range(n)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=PAIR_SCHEMA)


def test_parts_are_written_in_bounded_slices_and_keep_the_pair_schema(tmp_path, monkeypatch):
    table = _pairs(200)
    monkeypatch.setattr(wide, "SLICE_BYTES", 2_000)
    plan = parts.SplitPlan()
    plan.add_table(table.slice(50))  # wide in memory, a slice not at the buffer's start
    parts.materialise({"train": plan}, "v000001", tmp_path, {})
    (path,) = parts.split_files(tmp_path, "train")
    assert pq.read_schema(path).equals(PAIR_SCHEMA)
    assert pq.ParquetFile(path).num_row_groups > 5  # one row group per narrowed slice
    assert pq.read_table(path).to_pylist() == table.slice(50).to_pylist()


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "hashlib"])
@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_arrow_hashing_never_falls_back_to_python(monkeypatch, text_type, compiled):
    if compiled and not digests._SHA_NI:
        pytest.skip("no compiled hasher on this CPU (test_digests says why)")
    monkeypatch.setattr(digests, "_SHA_NI", compiled)
    prompts = [f" prompt {i % 7}\u3000" for i in range(50)]
    chosen, rejected = [f"c{i}" for i in range(50)], [f"r{i}\u00e9" for i in range(50)]
    expected = [pair_id(p, c, r) for p, c, r in zip(prompts, chosen, rejected, strict=True)]
    expected_hashes = [prompt_hash(p) for p in prompts]

    def forbidden(*_):
        raise AssertionError("row-by-row fallback used for Arrow input")

    monkeypatch.setattr(digests, "pair_id", forbidden)
    monkeypatch.setattr(digests, "prompt_hash", forbidden)
    monkeypatch.setattr(digests, "SLICE_ROWS", 8)  # many slices, a short last one

    def chunked(values):
        return pa.chunked_array([values[:20], values[20:]], text_type)

    ids = digests.pair_ids(chunked(prompts), chunked(chosen), pa.array(rejected, text_type))
    assert ids.to_pylist() == expected
    hashes, leading = digests.prompt_hashes(chunked(prompts))
    assert hashes.to_pylist() == expected_hashes
    assert leading.tolist() == [int(h[:8], 16) for h in expected_hashes]


def test_votes_are_the_same_from_narrow_or_wide_events(tmp_path):
    config = IngestConfig(home=tmp_path)
    events = [
        event(f"e{i}", prompt=f"p{i % 4}", preference={"winner": "ab"[i % 2]}) for i in range(12)
    ]
    write_jsonl(config.incoming_dir / "a.jsonl", events)
    ingest_feedback(config)
    build_snapshot(config)
    from feedback_ingest.store import IngestState, read_parts

    with IngestState(config.state_dir) as state:
        table = read_parts([path for _, path, _ in state.parts(0)])
    narrow, wider = cp.pairwise_votes(table), cp.pairwise_votes(wide.widened(table))
    assert narrow.schema.equals(cp.VOTE_SCHEMA) and narrow.to_pylist() == wider.to_pylist()
    grouped = cp.group_votes(narrow)
    assert len(grouped) < len(narrow)  # repeated keys were merged, not passed through
