"""Snapshot splits as part folders: untouched parent parts are hard-linked, touched ones
rewritten, many parts compacted, and pre-parts versions still read and extend."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
from fi_helpers import event, write_jsonl

from feedback_ingest import parts
from feedback_ingest import snapshots as snap
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback


def events_for(prompts: list[str], tag: str, winner: str = "a") -> list[dict]:
    return [
        event(f"{tag}-{i}", prompt=p, preference={"winner": winner}) for i, p in enumerate(prompts)
    ]


def build(config: IngestConfig, events: list[dict], name: str):
    write_jsonl(config.incoming_dir / name, events)
    ingest_feedback(config)
    return build_snapshot(config)


def rows(config: IngestConfig, version: str) -> pd.DataFrame:
    frame = pd.concat(snap.load_snapshot(config.datasets_root, version), ignore_index=True)
    frame["source_event_ids"] = frame["source_event_ids"].map(tuple)
    return frame.sort_values("pair_id").reset_index(drop=True)


def assert_hashes_true(config: IngestConfig, version: str) -> None:
    manifest = snap.read_manifest(config.datasets_root, version)
    folder = config.datasets_root / version
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {snap.MANIFEST}
    for name, digest in manifest["files"].items():
        assert snap.file_sha256(folder / name) == digest, name


PROMPTS = [f"Question number {i}?" for i in range(40)]


def test_incremental_links_untouched_parts_and_equals_a_full_build(tmp_path):
    step, whole = IngestConfig(home=tmp_path / "step"), IngestConfig(home=tmp_path / "whole")
    first = events_for(PROMPTS, "one")
    # The second batch flips one old pair to a tie (undecided) and adds new prompts.
    second = events_for([PROMPTS[0]], "flip", winner="b") + events_for(["Brand new?"], "two")
    build(step, first, "a.jsonl")
    report = build(step, second, "b.jsonl")
    build(whole, first + second, "a.jsonl")
    assert report.version == "v000002" and report.counts["undecided"] == 1
    pd.testing.assert_frame_equal(
        rows(step, "v000002").drop(columns="first_seen"),
        rows(whole, "v000001").drop(columns="first_seen"),
    )
    v1, v2 = step.datasets_root / "v000001", step.datasets_root / "v000002"
    flipped = rows(step, "v000001").query("prompt.str.contains('number 0\\\\?')").split.item()
    for split in snap.SPLITS:
        old = parts.split_files(v1, split)
        kept = [p for p in parts.split_files(v2, split) if p.name.startswith("part-v000001")]
        if split == flipped:  # its only parent part lost a row: rewritten, not linked
            assert kept == []
        else:  # the very same file: a hard link, not a copy
            assert [p.name for p in kept] == [p.name for p in old]
            assert all(k.stat().st_ino == o.stat().st_ino for k, o in zip(kept, old, strict=True))
    assert_hashes_true(step, "v000002")


def test_many_versions_compact_into_one_part(tmp_path, monkeypatch):
    monkeypatch.setattr(parts, "MAX_PARTS", 2)
    step, whole = IngestConfig(home=tmp_path / "step"), IngestConfig(home=tmp_path / "whole")
    batches = [events_for(PROMPTS[i * 10 : i * 10 + 10], f"b{i}") for i in range(4)]
    counts = []
    for i, batch in enumerate(batches):
        report = build(step, batch, f"{i}.jsonl")
        counts.append(report.counts["parts"]["train"])
        assert_hashes_true(step, report.version)
    build(whole, [e for batch in batches for e in batch], "all.jsonl")
    assert max(counts) <= 2 and 1 in counts[2:], counts  # grew, then compacted
    pd.testing.assert_frame_equal(
        rows(step, "v000004").drop(columns="first_seen"),
        rows(whole, "v000001").drop(columns="first_seen"),
    )


def test_compaction_merges_only_small_parts_within_its_byte_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(parts, "MAX_PARTS", 2)
    step, whole = IngestConfig(home=tmp_path / "step"), IngestConfig(home=tmp_path / "whole")
    batches = [events_for(PROMPTS[:40], "big")]
    small = [f"Small question {i}?" for i in range(12)]
    batches += [events_for(small[4 * i : 4 * i + 4], f"small{i}") for i in range(3)]
    build(step, batches[0], "0.jsonl")
    (big,) = parts.split_files(step.datasets_root / "v000001", "train")
    monkeypatch.setattr(parts, "MAX_COMPACT_BYTES", parts._part_bytes(big) - 1)
    for i, batch in enumerate(batches[1:], start=1):
        report = build(step, batch, f"{i}.jsonl")
        assert_hashes_true(step, report.version)
    files = parts.split_files(step.datasets_root / "v000004", "train")
    assert len(files) == 2 and big.name in [f.name for f in files]  # only the small ones merged
    kept = next(f for f in files if f.name == big.name)
    assert kept.stat().st_ino == big.stat().st_ino  # the big part was linked, never rewritten
    build(whole, [e for batch in batches for e in batch], "all.jsonl")
    pd.testing.assert_frame_equal(
        rows(step, "v000004").drop(columns="first_seen"),
        rows(whole, "v000001").drop(columns="first_seen"),
    )


def test_a_version_with_single_file_splits_reads_and_extends(tmp_path):
    config = IngestConfig(home=tmp_path)
    build(config, events_for(PROMPTS[:20], "one"), "a.jsonl")
    v1 = config.datasets_root / "v000001"
    manifest = json.loads((v1 / snap.MANIFEST).read_text())
    for split in snap.SPLITS:  # rewrite v1 as versions were written before parts
        table = parts.read_split(v1, split)
        shutil.rmtree(v1 / f"{split}.parquet")
        pq.write_table(table, v1 / f"{split}.parquet")
        manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(split)}
        manifest["files"][f"{split}.parquet"] = snap.file_sha256(v1 / f"{split}.parquet")
    (v1 / snap.MANIFEST).write_text(json.dumps(manifest))
    before = rows(config, "v000001")
    assert len(before) == 20
    report = build(config, events_for(PROMPTS[20:], "two"), "b.jsonl")
    after = rows(config, report.version)
    assert len(after) == 40 and set(before.pair_id) < set(after.pair_id)
    assert_hashes_true(config, report.version)
