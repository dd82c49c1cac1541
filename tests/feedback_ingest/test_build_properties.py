"""Property: however events arrive (any mix of types, repeated ids and judgments, tiny batches,
versions of a few events each), the latest version holds the pairs one build of everything
makes: same pair ids, splits, vote counts and agreement."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.snapshots import load_snapshot

TEXTS = st.one_of(
    st.sampled_from(["a", "b", "c", " a ", "a\n", "\u00e9", "\U0001f375", "x" * 300, "\u3000a"]),
    st.text(min_size=1, max_size=6),
)
PROMPTS = st.sampled_from(
    ["p1", "p2", " p1", "\n\nHuman: p1\n\nAssistant:", [{"role": "user", "content": "p1"}]]
)


@st.composite
def preference(draw, kind: str, ids: list[str]) -> dict:
    if kind == "pairwise":
        return draw(st.sampled_from([{"winner": ids[0]}, {"winner": ids[1]}, {"tie": True}]))
    if kind == "ranking":
        return {"order": draw(st.permutations(ids))[: draw(st.integers(2, len(ids)))]}
    rated = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    return {"scores": {r: draw(st.sampled_from([1, 2, 3, 0.5, -1])) for r in rated}}


@st.composite
def events(draw) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(1, 20))):
        kind = draw(st.sampled_from(["pairwise", "ranking", "rating"]))
        ids = [f"r{j}" for j in range(draw(st.integers(1 if kind == "rating" else 2, 4)))]
        out.append({
            "event_id": f"e{draw(st.integers(0, 30))}",  # repeated ids: duplicates
            "timestamp": "2026-01-01T00:00:00Z",
            "type": kind,
            "prompt": draw(PROMPTS),
            "responses": [{"id": r, "text": draw(TEXTS)} for r in ids],
            "preference": draw(preference(kind, ids)),
            "annotator": {"kind": draw(st.sampled_from(["human", "ai"]))},
        })  # fmt: skip
    return out


def _land(config: IngestConfig, name: str, batch: list[dict]) -> None:
    config.incoming_dir.mkdir(parents=True, exist_ok=True)
    (config.incoming_dir / name).write_text("".join(json.dumps(e) + "\n" for e in batch))


def _pairs(config: IngestConfig, version: str | None) -> list[tuple]:
    if version is None:
        return []
    train, val = load_snapshot(config.datasets_root, version)
    rows = []
    for split, frame in (("train", train), ("val", val)):
        columns = [frame["pair_id"], frame["n_votes"], frame["agreement"]]
        rows += [(split, *row) for row in zip(*columns, strict=True)]
    return sorted(rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), events(), st.integers(1, 7))
def test_small_batches_and_versions_build_what_one_build_makes(first, second, batch):
    with tempfile.TemporaryDirectory() as tmp:
        steps = IngestConfig(home=Path(tmp) / "steps", batch_size=batch, max_build_events=batch)
        whole = IngestConfig(home=Path(tmp) / "whole")
        for config in (steps, whole):
            _land(config, "a.jsonl", first)
        ingest_feedback(steps)
        build_snapshot(steps)
        _land(steps, "b.jsonl", second)
        _land(whole, "b.jsonl", second)
        report = ingest_feedback(steps)
        assert report.read == report.accepted + report.duplicate + report.quarantined
        latest = build_snapshot(steps).version
        ingest_feedback(whole)
        assert _pairs(steps, latest) == _pairs(whole, build_snapshot(whole).version)
