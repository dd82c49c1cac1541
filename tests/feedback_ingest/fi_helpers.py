"""Event builders shared by the feedback_ingest tests."""

from __future__ import annotations

import json
from pathlib import Path

from feedback_ingest.validate import EventRejected, Limits, parse_raw, validate_event

LIMITS = Limits(max_event_bytes=4096, max_text_chars=200, max_responses=4, max_id_chars=32)
"""Small limits, so that tests reach every bound with short events."""


def reference(raw: bytes) -> dict | None:
    """The reference validator's record of `raw` under LIMITS, or None when it rejects it."""
    try:
        return validate_event(parse_raw(raw, LIMITS), LIMITS)
    except EventRejected:
        return None


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
