"""HH-RLHF adapter, rendering, golden set; ingest of the real HH files from ../shared."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.golden import golden_hash, load_golden
from feedback_ingest.hh import hh_events, split_hh
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.render import render_prompt
from feedback_ingest.schema import prompt_hash
from feedback_ingest.snapshots import load_snapshot
from feedback_ingest.store import atomic_write_bytes

# The shared HH data beside the checkout (never copied into the repository).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hh-rlhf"

POOL = SHARED_DATA / "harmless-feedback-pool.jsonl.gz"
GOLDEN = SHARED_DATA / "harmless-golden.jsonl.gz"


def test_split_hh_keeps_the_shared_prompt():
    base = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tea?\n\nAssistant:"
    prompt, chosen, rejected = split_hh(base + " Yes, tea.", base + " Yes, coffee.")
    assert (prompt, chosen, rejected) == (base, "Yes, tea.", "Yes, coffee.")
    with pytest.raises(ValueError, match="Assistant"):
        split_hh("\n\nHuman: a", "\n\nHuman: b")


def test_chat_messages_render_to_the_hh_prompt():
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tea?"},
    ]
    hh = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tea?\n\nAssistant:"
    assert render_prompt(messages) == hh == render_prompt(hh)
    assert prompt_hash(render_prompt("Tea?")) == prompt_hash("\n\nHuman: Tea?\n\nAssistant:")


@pytest.mark.parametrize("lead", [" ", "\n", "\t \n", "\n\n\n", "\u3000"])
def test_a_transcript_after_whitespace_renders_as_the_transcript(lead):
    # It rendered "Human: Human: Tea?": another prompt_hash than its golden copy's, so such a
    # prompt escaped the golden exclusion and split apart from its own other events.
    hh = "\n\nHuman: Tea?\n\nAssistant:"
    assert render_prompt(lead + hh) == hh
    assert render_prompt(lead + hh.lstrip() + "  ") == hh
    assert render_prompt(lead + "Human: Tea?") == hh


def test_golden_formats_and_categories(tmp_path):
    pair_file = tmp_path / "custom-golden.jsonl"
    pair_file.write_text(json.dumps({"prompt": "Tea?", "chosen": " a ", "rejected": "b"}) + "\n")
    golden = load_golden([GOLDEN, pair_file])
    assert len(golden) == 349
    assert set(golden.category) == {"harmless", "custom"}
    assert golden.iloc[-1].chosen == "a" and golden.prompt.str.endswith("\n\nAssistant:").all()
    assert golden_hash([pair_file]) != golden_hash([GOLDEN]) and len(golden_hash([GOLDEN])) == 64
    bad = tmp_path / "bad-golden.jsonl"
    bad.write_text('{"chosen": "x"}\n')
    with pytest.raises(ValueError, match="bad-golden.jsonl:1: golden record needs"):
        load_golden([bad])


def test_real_hh_pool_ingests_with_golden_exclusion(tmp_path):
    events = list(hh_events(POOL))
    assert len(events) == 1505 and len({e["event_id"] for e in events}) == 1505
    # Make one golden prompt reappear in the feedback: it must be excluded and counted.
    with gzip.open(GOLDEN, "rt") as handle:
        (tmp_path / "one.jsonl").write_text(handle.readline())
    leaked = {**next(hh_events(tmp_path / "one.jsonl")), "event_id": "leaked"}
    config = IngestConfig(home=tmp_path, golden_paths=[GOLDEN])
    lines = [json.dumps(e).encode() for e in [*events, leaked]]
    config.incoming_dir.mkdir(parents=True)
    atomic_write_bytes(config.incoming_dir / "hh.jsonl", b"\n".join(lines) + b"\n")
    report = ingest_feedback(config)
    assert report.read == 1506
    assert report.accepted + report.quarantined == 1506
    assert report.quarantined < 30 and set(report.quarantine_reasons) <= {
        "identical_responses",
        "empty_text",
    }
    built = build_snapshot(config)
    assert built.counts["golden_excluded"] == 1
    train, val = load_snapshot(config.datasets_root, built.version)
    assert len(train) + len(val) == built.counts["total"] >= 1400
    golden_hashes = set(load_golden([GOLDEN]).prompt_hash)
    assert not golden_hashes & set(train.prompt_hash) and not golden_hashes & set(val.prompt_hash)
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.16
