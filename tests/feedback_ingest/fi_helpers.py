"""Event builders shared by the feedback_ingest tests."""

from __future__ import annotations

import json
from pathlib import Path


def event(
    event_id: str,
    kind: str = "pairwise",
    responses: dict[str, str] | None = None,
    preference: dict | None = None,
    prompt: object = "What is tea?",
    annotator_kind: str = "human",
    timestamp: str = "2026-01-01T00:00:00+00:00",
) -> dict:
    """One valid contract event (pairwise 'a' beats 'b' unless told otherwise)."""
    responses = responses or {"a": "Tea is a drink made from leaves.", "b": "No."}
    return {
        "event_id": event_id,
        "timestamp": timestamp,
        "type": kind,
        "prompt": prompt,
        "responses": [{"id": k, "text": v} for k, v in responses.items()],
        "preference": preference if preference is not None else {"winner": "a"},
        "annotator": {"id": "ann-1", "kind": annotator_kind},
        "metadata": {"app": "test"},
    }


def write_jsonl(path: Path, events: list, append: bool = False) -> Path:
    """Write events (dicts, or raw bytes for broken lines) as JSONL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]
    with open(path, "ab" if append else "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path
