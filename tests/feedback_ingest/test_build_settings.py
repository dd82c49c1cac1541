"""A version built with other settings (golden set, val_fraction) is not built on: the next one
is compiled from every accepted event, so incremental builds still equal one build."""

from __future__ import annotations

import json
from pathlib import Path

from fi_helpers import event, write_jsonl

from feedback_ingest import snapshots as snap
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback

TEA, COFFEE = "What is tea?", "What is coffee?"


def golden_file(path: Path, prompts: list[str]) -> Path:
    rows = [{"prompt": p, "chosen": "x", "rejected": "y"} for p in prompts]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def land(config: IngestConfig, name: str, events: list):
    write_jsonl(config.incoming_dir / f"{name}.jsonl", events)
    ingest_feedback(config)
    return build_snapshot(config)


def content(config: IngestConfig) -> set[tuple]:
    """Every pair of the latest version, with its votes, split and events."""
    train, val = snap.load_snapshot(config.datasets_root, snap.latest_version(config.datasets_root))
    return {
        (
            r.prompt,
            r.chosen,
            r.rejected,
            r.n_votes,
            round(r.agreement, 6),
            r.split,
            tuple(r.source_event_ids),
        )  # fmt: skip
        for frame in (train, val)
        for r in frame.itertuples()
    }


def test_a_golden_change_alone_makes_a_version_without_the_golden_prompt(tmp_path):
    home = tmp_path / "home"
    land(IngestConfig(home=home), "a", [event("e1"), event("e2", prompt=COFFEE)])
    config = IngestConfig(home=home, golden_paths=[golden_file(tmp_path / "g.jsonl", [TEA])])
    report = build_snapshot(config)  # no new event: the golden set alone changed
    assert (report.created, report.version, report.parent) == (True, "v000002", "v000001")
    assert {row[0] for row in content(config)} == {f"\n\nHuman: {COFFEE}\n\nAssistant:"}
    manifest = snap.read_manifest(config.datasets_root, "v000002")
    assert manifest["rebuilt"] == "golden set changed"
    counts = manifest["counts"]
    assert (counts["golden_excluded"], counts["new_pairs"], counts["events_total"]) == (1, 0, 2)
    assert not build_snapshot(config).created  # built with these settings: nothing to do


def test_a_prompt_that_leaves_the_golden_set_gets_its_earlier_votes_back(tmp_path):
    golden = golden_file(tmp_path / "g.jsonl", [TEA])
    step = tmp_path / "step"
    land(IngestConfig(home=step, golden_paths=[golden]), "a", [event("e1"), event("e2")])
    later = event("e3", preference={"winner": "b"})
    land(IngestConfig(home=step), "b", [later])
    whole = IngestConfig(home=tmp_path / "whole")
    land(whole, "a", [event("e1"), event("e2"), later])
    assert content(IngestConfig(home=step)) == content(whole)
    ((*_, n_votes, agreement, _, ids),) = content(whole)
    assert (n_votes, agreement, ids) == (3, round(2 / 3, 6), ("e1", "e2", "e3"))


def test_a_new_val_fraction_splits_every_prompt_anew(tmp_path):
    def events(tag: str, texts: dict) -> list:
        return [event(f"{tag}{i}", prompt=f"Question {i}?", responses=texts) for i in range(40)]

    first, second = events("x", {"a": "A.", "b": "B."}), events("y", {"a": "C.", "b": "D."})
    step = tmp_path / "step"
    land(IngestConfig(home=step, val_fraction=0.1), "a", first)
    report = land(IngestConfig(home=step, val_fraction=0.5), "b", second)
    whole = IngestConfig(home=tmp_path / "whole", val_fraction=0.5)
    land(whole, "a", first + second)
    assert content(IngestConfig(home=step)) == content(whole)
    splits: dict[str, set] = {}
    for prompt, *_, split, _ in content(whole):
        splits.setdefault(prompt, set()).add(split)
    assert all(len(s) == 1 for s in splits.values()) and len(splits) == 40
    manifest = snap.read_manifest(step / "datasets" / "preferences", report.version)
    assert manifest["rebuilt"] == "val_fraction changed to 0.5"
    assert manifest["counts"]["new_pairs"] == 40  # the C/D pairs; the A/B ones were there


def test_golden_exclusion_counts_pairs_not_ties(tmp_path):
    golden = golden_file(tmp_path / "g.jsonl", [TEA])
    config = IngestConfig(home=tmp_path / "home", golden_paths=[golden])
    tied = [event("e1"), event("e2", preference={"winner": "b"}), event("e3", prompt=COFFEE)]
    assert land(config, "a", tied).counts["golden_excluded"] == 0  # 1:1 votes make no pair
    assert land(config, "b", [event("e4")]).counts["golden_excluded"] == 1
