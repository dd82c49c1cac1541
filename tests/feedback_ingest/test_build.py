"""build_snapshot: hand-checked compilation, vote aggregation, golden exclusion, splits,
idempotent and crash-safe versions, incremental == full."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
from fi_helpers import event, write_jsonl

from feedback_ingest import snapshots as snap
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.schema import PAIR_COLUMNS, pair_id
from feedback_ingest.simulate import write_simulated


def run(config: IngestConfig, events: list, name: str = "a.jsonl"):
    write_jsonl(config.incoming_dir / name, events)
    ingest_feedback(config)
    return build_snapshot(config)


def pairs_of(config: IngestConfig, version: str) -> pd.DataFrame:
    train, val = snap.load_snapshot(config.datasets_root, version)
    return pd.concat([train, val], ignore_index=True)


def triples(frame: pd.DataFrame) -> set[tuple[str, str, int, float]]:
    return {(r.chosen, r.rejected, r.n_votes, round(r.agreement, 6)) for r in frame.itertuples()}


def test_ranking_gives_all_ordered_pairs(tmp_path):
    config = IngestConfig(home=tmp_path)
    ranking = event(
        "r1", "ranking", {"x": "One", "y": "Two", "z": "Three"}, {"order": ["z", "x", "y"]}
    )
    report = run(config, [ranking])
    frame = pairs_of(config, report.version)
    assert triples(frame) == {
        ("Three", "One", 1, 1.0),
        ("Three", "Two", 1, 1.0),
        ("One", "Two", 1, 1.0),
    }
    assert list(frame.columns) == list(PAIR_COLUMNS)
    row = frame.iloc[0]
    assert row.pair_id == pair_id(row.prompt, row.chosen, row.rejected)


def test_ratings_pair_responses_of_one_prompt_across_events(tmp_path):
    config = IngestConfig(home=tmp_path)
    rate = lambda i, text, score: event(f"s{i}", "rating", {"r": text}, {"scores": {"r": score}})  # noqa: E731
    stars = event("s9", "rating", {"p": "Great", "q": "Fine"}, {"scores": {"p": 5, "q": 3}})
    report = run(config, [rate(1, "Great", 5), rate(2, "Bad", 1), rate(3, "Bad", 1), stars])
    # Great(5) twice, Fine(3) once, Bad(1) twice: every pair of ratings with different scores
    # is a vote; equal scores make none.
    assert triples(pairs_of(config, report.version)) == {
        ("Great", "Bad", 4, 1.0),
        ("Great", "Fine", 2, 1.0),
        ("Fine", "Bad", 2, 1.0),
    }


def test_conflicting_votes_aggregate_by_majority(tmp_path):
    config = IngestConfig(home=tmp_path)
    win_a = [event(f"a{i}") for i in range(3)]
    win_b = [event("b1", preference={"winner": "b"}, annotator_kind="ai")]
    ties = [event("t1", preference={"tie": True})]
    report = run(config, win_a + win_b + ties)
    frame = pairs_of(config, report.version)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row.chosen, row.n_votes, row.agreement) == ("Tea is a drink made from leaves.", 4, 0.75)
    assert row.weight == pytest.approx(0.5) and row.annotator_kind == "mixed"
    assert sorted(row.source_event_ids) == ["a0", "a1", "a2", "b1"]
    assert report.counts["ties"] == 1
    # An even split is kept out of the pairs but its votes are remembered for later events.
    even = run(config, [event(f"b{i}", preference={"winner": "b"}) for i in (2, 3)], "b.jsonl")
    assert (even.counts["total"], even.counts["undecided"]) == (0, 1)
    flipped = run(config, [event("b4", preference={"winner": "b"})], "c.jsonl")
    assert triples(pairs_of(config, flipped.version)) == {
        ("No.", "Tea is a drink made from leaves.", 7, round(4 / 7, 6))
    }


def test_golden_prompts_excluded_and_counted(tmp_path):
    golden = tmp_path / "harmless-golden.jsonl"
    golden.write_text(json.dumps({"prompt": "What is tea?", "chosen": "x", "rejected": "y"}) + "\n")
    config = IngestConfig(home=tmp_path / "home", golden_paths=[golden])
    report = run(config, [event("e1"), event("e2", prompt="What is coffee?")])
    assert report.counts["golden_excluded"] == 1 and report.counts["total"] == 1
    assert set(pairs_of(config, report.version).prompt) == {
        "\n\nHuman: What is coffee?\n\nAssistant:"
    }
    assert snap.read_manifest(config.datasets_root, report.version)["golden"]["files"] == [
        golden.name
    ]


def test_splits_by_prompt_and_incremental_equals_full(tmp_path):
    step = IngestConfig(home=tmp_path / "step", val_fraction=0.3)
    whole = IngestConfig(home=tmp_path / "whole", val_fraction=0.3)
    for config in (step, whole):
        write_simulated(config, 1500, seed=1)
    ingest_feedback(step)
    first = build_snapshot(step)
    for config in (step, whole):
        write_simulated(config, 500, seed=2, drift=True)
    ingest_feedback(step)
    second = build_snapshot(step)
    ingest_feedback(whole)
    full = build_snapshot(whole)
    assert (first.version, second.version, second.parent, full.version) == (
        "v000001",
        "v000002",
        "v000001",
        "v000001",
    )
    a, b = pairs_of(step, second.version), pairs_of(whole, full.version)
    assert triples(a) == triples(b) and len(a) == len(b) > 100
    train, val = snap.load_snapshot(step.datasets_root, second.version)
    assert not set(train.prompt_hash) & set(val.prompt_hash)
    assert (train.split == "train").all() and (val.split == "val").all() and len(val) > 0
    assert a.pair_id.is_unique and (a.weight > 0).all() and (a.agreement > 0.5).all()
    m1 = snap.read_manifest(step.datasets_root, "v000001")
    m2 = snap.read_manifest(step.datasets_root, "v000002")
    assert m2["counts"]["new_pairs"] == snap.pairs_added_since(step.datasets_root, "v000001") > 0
    assert snap.pairs_added_since(step.datasets_root, None) == m2["counts"]["total"]
    assert m2["counts"]["events_total"] == m1["counts"]["events_total"] + m2["counts"]["new_events"]


def test_replay_is_idempotent_and_reproducible(tmp_path):
    homes = [IngestConfig(home=tmp_path / n) for n in ("one", "two")]
    for config in homes:
        write_simulated(config, 400, seed=5)
        ingest_feedback(config)
        built = build_snapshot(config)
        assert built.created
        write_simulated(config, 400, seed=5)  # the same file again
        assert ingest_feedback(config).accepted == 0
        again = build_snapshot(config)
        assert (again.created, again.version) == (False, built.version)
    files = [snap.read_manifest(c.datasets_root, "v000001")["files"] for c in homes]
    assert files[0] == files[1]  # byte-identical version content in both homes


def test_failed_write_leaves_previous_version_intact(tmp_path, monkeypatch):
    config = IngestConfig(home=tmp_path)
    first = run(config, [event("e1")])
    before = snap.read_manifest(config.datasets_root, first.version)
    write_jsonl(config.incoming_dir / "b.jsonl", [event("e2", prompt="Other?")])
    ingest_feedback(config)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(snap, "publish", broken)
    with pytest.raises(OSError, match="disk full"):
        build_snapshot(config)
    monkeypatch.undo()
    assert snap.list_versions(config.datasets_root) == ["v000001"]
    assert snap.read_manifest(config.datasets_root, "v000001") == before
    assert not list(config.datasets_root.glob(".tmp-*"))
    assert build_snapshot(config).version == "v000002"


KILLED_WRITER = """
import sys, time
import feedback_ingest.snapshots as snap
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
real = snap.publish
def slow(tmp, *a, **k):
    print("writing", flush=True)
    time.sleep(60)
snap.publish = slow
build_snapshot(IngestConfig(home=sys.argv[1]))
"""


def test_killed_writer_leaves_previous_version_and_next_run_completes(tmp_path):
    config = IngestConfig(home=tmp_path)
    run(config, [event("e1")])
    write_jsonl(config.incoming_dir / "b.jsonl", [event("e2", prompt="Other?")])
    ingest_feedback(config)
    command = [sys.executable, "-c", KILLED_WRITER, str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=os.getcwd(), text=True)
    assert proc.stdout.readline().strip() == "writing"  # files are written, not yet published
    assert list(config.datasets_root.glob(".tmp-*"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert snap.list_versions(config.datasets_root) == ["v000001"]
    report = build_snapshot(config)
    assert (report.version, report.counts["total"]) == ("v000002", 2)
    assert not list(config.datasets_root.glob(".tmp-*"))


def test_unknown_version_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="look like v000001"):
        snap.read_manifest(tmp_path, "../etc")
    with pytest.raises(FileNotFoundError, match="v000009 not found"):
        snap.read_manifest(tmp_path, "v000009")
    assert snap.pairs_added_since(tmp_path, None) == 0 and snap.latest_version(tmp_path) is None


def test_batched_hashes_match_the_schema():
    import numpy as np

    from feedback_ingest.digests import pair_ids, prompt_hashes
    from feedback_ingest.schema import prompt_hash

    # Surrogates cannot go through Arrow (the row-by-row fallback); the rest can, Python's
    # own whitespace at the ends included.
    for prompts in (
        [" p1 ", "p2", " p1 ", "\u00e9\ud800"],
        ["\n\nHuman: p1\u3000", "p2 ", "", "\u00e9"],
        ["\x1cp\x1f", "\x85q\xa0", " \t\x0b\x0cr\r\n", "\u2003 s \U0001f375"],
    ):
        for values in (np.array(prompts, dtype=object), prompts):
            chosen = ["a", "b", "c", "\u00e9\u00e9"]
            rejected = np.array(["x", "y", "z", "w"], dtype=object)
            hashes, leading = prompt_hashes(values)
            assert hashes.to_pylist() == [prompt_hash(p) for p in prompts]
            assert list(leading) == [int(prompt_hash(p)[:8], 16) for p in prompts]
            assert pair_ids(values, chosen, rejected).to_pylist() == [
                pair_id(p, c, r) for p, c, r in zip(prompts, chosen, rejected, strict=True)
            ]


def test_a_backlog_past_max_build_events_becomes_versions_equal_to_one_build(tmp_path):
    chunked = IngestConfig(home=tmp_path / "chunked", batch_size=300, max_build_events=700)
    whole = IngestConfig(home=tmp_path / "whole", batch_size=300)
    for config in (chunked, whole):
        write_simulated(config, 2000, seed=3)
        ingest_feedback(config)
    many, one = build_snapshot(chunked), build_snapshot(whole)
    assert one.versions == ["v000001"] and len(many.versions) >= 3
    assert many.version == many.versions[-1] and many.parent is None
    for earlier, later in zip(many.versions, many.versions[1:], strict=False):
        assert snap.read_manifest(chunked.datasets_root, later)["parent"] == earlier
        assert snap.read_manifest(chunked.datasets_root, earlier)["counts"]["new_events"] <= 700
    a, b = (
        pairs_of(c, r.version).sort_values("pair_id") for c, r in ((chunked, many), (whole, one))
    )
    a, b = (
        f.reset_index(drop=True).map(
            lambda v: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v
        )
        for f in (a, b)
    )
    pd.testing.assert_frame_equal(a, b)
    for key in ("total", "train", "val", "new_events", "ties", "by_type", "undecided"):
        assert many.counts[key] == one.counts[key], key
    assert build_snapshot(chunked).created is False  # nothing left over
