"""The part-keys index: every version indexes exactly its parts, an incremental build opens only
the parent parts whose keys match, a prefix collision is settled on the full ids, and a
version without a usable index is scanned as before."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_parts import PROMPTS, assert_hashes_true, build, events_for, rows

from feedback_ingest import part_keys, parts
from feedback_ingest.config import IngestConfig
from feedback_ingest.schema import SPLITS, pair_id


def part_names(version_dir) -> list[str]:
    files = [p for split in SPLITS for p in parts.split_files(version_dir, split)]
    return [f"{p.parent.name}/{p.name}" for p in files]


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Paths of the snapshot parts read through `parts` during the test."""
    paths, read_table = [], pq.read_table

    def recording(source, *args, **kwargs):
        paths.append(str(source))
        return read_table(source, *args, **kwargs)

    monkeypatch.setattr(parts.pq, "read_table", recording)
    return paths


def test_key64_is_the_leading_64_bits_of_each_id():
    rng = random.Random(7)
    ids = [pair_id(f"p{i}", f"c{rng.random()}", "r") for i in range(500)]
    expected = np.array([int(h[:16], 16) for h in ids], np.uint64)
    chunked = pa.chunked_array([ids[:123], ids[123:]])
    assert (part_keys.key64(chunked) == expected).all()
    sliced = pa.array(ids).slice(17, 200)  # an array with an offset into its buffers
    assert (part_keys.key64(sliced) == expected[17:217]).all()
    assert part_keys.key64(pa.array([], pa.string())).dtype == np.uint64


@pytest.mark.parametrize("bad", [None, "ab" * 15, "zz" * 16, " 1" * 16])
def test_key64_refuses_anything_but_32_hex_digits(bad):
    with pytest.raises(ValueError, match="hex"):
        part_keys.key64(pa.array(["0" * 32, bad], pa.string()))


def test_every_version_indexes_exactly_its_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(parts, "MAX_PARTS", 3)
    config = IngestConfig(home=tmp_path)
    batches = [events_for(PROMPTS[i * 8 : i * 8 + 8], f"b{i}") for i in range(5)]
    batches[3] += events_for([PROMPTS[0]], "flip", winner="b")  # rewrites a parent part
    for i, batch in enumerate(batches):
        report = build(config, batch, f"{i}.jsonl")
        folder = config.datasets_root / report.version
        index = part_keys.read_index(folder, part_names(folder))
        assert index is not None and len(index) == sum(report.counts["parts"].values())
        for name, (pair_keys, prompt_keys) in index.items():
            table = pq.read_table(folder / name)
            assert (pair_keys == part_keys.key64(table["pair_id"])).all(), name
            assert (prompt_keys == part_keys.key64(table["prompt_hash"])).all(), name
        assert_hashes_true(config, report.version)  # the index is in the manifest too


def test_an_incremental_build_opens_only_the_parts_it_changes(tmp_path, opened):
    config = IngestConfig(home=tmp_path)
    build(config, events_for(PROMPTS, "one"), "a.jsonl")
    v1 = config.datasets_root / "v000001"
    build(config, events_for(["Brand new?"], "two"), "b.jsonl")  # touches no parent pair
    assert not [p for p in opened if "/v000001/" in p and "part-" in p]
    flipped = rows(config, "v000001").query("prompt.str.contains('number 3\\\\?')").split.item()
    opened.clear()
    build(config, events_for([PROMPTS[3]], "flip", winner="b"), "c.jsonl")
    read = {p.split("/v000002/")[1] for p in opened if "/v000002/" in p and "part-" in p}
    assert read == {f"{flipped}.parquet/{p.name}" for p in parts.split_files(v1, flipped)}


def test_a_key_collision_is_settled_on_the_full_ids(tmp_path, opened):
    config = IngestConfig(home=tmp_path)
    build(config, events_for(PROMPTS, "one"), "a.jsonl")
    v1 = config.datasets_root / "v000001"
    real = parts.read_split(v1, "train")["pair_id"][0].as_py()
    twin = real[:16] + ("0" * 16 if real[16:] != "0" * 16 else "1" * 16)  # same key, other id
    opened.clear()
    scan = parts.scan_parent(v1, pa.array([twin]), pa.array([], pa.string()))
    assert any("/train.parquet/" in p for p in opened)  # the candidate part was read...
    assert not any("/val.parquet/" in p for p in opened)
    assert len(scan.touched_rows) == 0  # ...and kept whole, linked
    assert [len(p.linked) for p in scan.plans.values()] == [1, 1]


def test_a_newly_golden_prompt_drops_its_parent_pair(tmp_path):
    golden = tmp_path / "golden.jsonl"
    config = IngestConfig(home=tmp_path / "home", golden_paths=[golden])
    golden.write_text("")
    build(config, events_for(PROMPTS, "one"), "a.jsonl")
    golden.write_text(json.dumps({"prompt": PROMPTS[5], "chosen": "x", "rejected": "y"}) + "\n")
    report = build(config, events_for(["Brand new?"], "two"), "b.jsonl")
    assert report.counts["golden_excluded"] == 1 and report.counts["total"] == len(PROMPTS)
    assert PROMPTS[5] not in " ".join(rows(config, report.version).prompt)


@pytest.mark.parametrize("damage", ["missing", "stale", "unreadable"])
def test_a_version_without_a_usable_index_is_scanned(tmp_path, damage):
    with_index, without = IngestConfig(home=tmp_path / "a"), IngestConfig(home=tmp_path / "b")
    first = events_for(PROMPTS, "one")
    second = events_for([PROMPTS[3]], "flip", winner="b") + events_for(["New?"], "two")
    for config in (with_index, without):
        build(config, first, "a.jsonl")
    v1 = without.datasets_root / "v000001"
    if damage == "missing":
        (v1 / part_keys.KEYS_FILE).unlink()
    elif damage == "unreadable":
        (v1 / part_keys.KEYS_FILE).write_bytes(b"PAR1 not parquet")
    else:  # names a part the version does not have
        nothing = np.zeros(0, np.uint64)
        absent = {"train.parquet/part-v000009-000.parquet": (nothing, nothing)}
        part_keys.write_index(absent, v1 / part_keys.KEYS_FILE)
    assert part_keys.read_index(v1, part_names(v1)) is None
    for config in (with_index, without):
        build(config, second, "b.jsonl")
    assert (
        rows(without, "v000002")
        .drop(columns="first_seen")
        .equals(rows(with_index, "v000002").drop(columns="first_seen"))
    )
    v2 = without.datasets_root / "v000002"
    assert part_keys.read_index(v2, part_names(v2)) is not None  # rebuilt from the scan
