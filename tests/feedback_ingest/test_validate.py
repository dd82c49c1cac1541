"""Event validation: each contract violation gets its reason and field; the fast path agrees
with the reference validator record for record."""

from __future__ import annotations

import json

import pytest
from fi_helpers import LIMITS, event, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_ingest.config import IngestConfig
from feedback_ingest.fast import _SUSPECT, fast_record
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.validate import EventRejected, parse_raw, validate_event


def reference(raw: bytes) -> dict:
    return validate_event(parse_raw(raw, LIMITS), LIMITS)


def verdict(raw: bytes) -> tuple[str, str] | None:
    try:
        reference(raw)
    except EventRejected as rejected:
        return rejected.reason, rejected.field
    return None


def _mutate(e: dict, path: str, value: object) -> bytes:
    target = e
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return json.dumps(e).encode()


@pytest.mark.parametrize(
    ("path", "value", "reason", "field"),
    [
        ("event_id", KeyError, "missing_field", "event_id"),
        ("event_id", 7, "wrong_type", "event_id"),
        ("type", "thumbs", "unknown_type", "type"),
        ("timestamp", "2026-01-01T00:00:00", "bad_timestamp", "timestamp"),
        ("timestamp", "yesterday", "bad_timestamp", "timestamp"),
        ("timestamp", "9999-12-31T23:59:59-01:00", "bad_timestamp", "timestamp"),  # year 10000
        ("timestamp", "0001-01-01T00:00:00+01:00", "bad_timestamp", "timestamp"),  # in UTC
        ("prompt", "   ", "empty_text", "prompt"),
        ("prompt", "x" * 201, "oversize_text", "prompt"),
        ("prompt", [{"role": "robot", "content": "hi"}], "bad_role", "prompt[0].role"),
        ("responses", [{"id": "a", "text": "only one"}], "too_few_responses", "responses"),
        ("responses.1.text", "bad\x00nul", "control_chars", "responses[1].text"),
        ("responses.1.text", "", "empty_text", "responses[1].text"),
        ("responses.1.id", "a", "duplicate_response_id", "responses[1].id"),
        (
            "responses.1.text",
            "Tea is a drink made from leaves.",
            "identical_responses",
            "responses",
        ),
        ("preference", {"winner": "zzz"}, "unknown_response_id", "preference.winner"),
        ("preference", {"winner": "a", "tie": True}, "bad_preference", "preference"),
        ("annotator.kind", "robot", "bad_annotator_kind", "annotator.kind"),
        ("metadata", [1, 2], "wrong_type", "metadata"),
    ],
)
def test_each_violation_names_reason_and_field(path, value, reason, field):
    raw = _mutate(event("e1"), path, value)
    assert verdict(raw) == (reason, field)
    assert fast_record(raw, LIMITS) is None  # the fast path never accepts what is invalid


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event_id": "e1", "type": ', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"event_id": "\xff\xfe"}', "invalid_utf8"),
        (b'{"event_id": "' + b"x" * 5000 + b'"}', "oversize_event"),
    ],
)
def test_raw_level_problems(raw, reason):
    assert verdict(raw)[0] == reason


@pytest.mark.parametrize("kind", ["pairwise", "ranking"])
def test_invalid_utf8_outside_the_known_fields_is_still_quarantined(tmp_path, kind):
    """msgspec skips unknown fields unread: the per-line fast path must still refuse a line that
    the reference rejects for a byte there (it accepted such lines before)."""
    e = event("e1", kind, preference={"order": ["b", "a"]} if kind == "ranking" else None)
    good = json.dumps(e).encode()
    lines = [good.replace(b'"annotator"', b'"note": "caf\xe9", "annotator"'),  # in a value
             good.replace(b'"annotator"', b'"n\x97te": 1, "annotator"')]  # in a key # fmt: skip
    for raw in lines:
        assert verdict(raw)[0] == "invalid_utf8"
        assert fast_record(raw, LIMITS) is None
    config = IngestConfig(home=tmp_path)
    write_jsonl(config.incoming_dir / "bad.jsonl", lines)
    report = ingest_feedback(config)
    assert (report.accepted, report.quarantine_reasons) == (0, {"invalid_utf8": 2})


def test_ranking_and_rating_preferences():
    ranking = event("r", "ranking", {"x": "One", "y": "Two", "z": "Three"}, {"order": ["z", "x"]})
    assert reference(json.dumps(ranking).encode())["order_idx"] == [2, 0]
    bad_order = event("r", "ranking", {"x": "One", "y": "Two"}, {"order": ["x", "x"]})
    assert verdict(json.dumps(bad_order).encode())[0] == "bad_preference"
    rating = event("s", "rating", {"x": "Up", "y": "Down"}, {"scores": {"x": 5}})
    assert reference(json.dumps(rating).encode())["scores"] == [5.0, None]
    nan = json.dumps(event("s", "rating", {"x": "Up"}, {"scores": {"x": 1}})).replace(
        ": 1}", ": NaN}"
    )
    assert verdict(nan.encode())[0] == "bad_score"
    huge = nan.replace(": NaN}", ": 1" + "0" * 400 + "}")  # no float holds it: not a crash
    assert verdict(huge.encode())[:2] == ("bad_score", "preference.scores.x")
    big = nan.replace(": NaN}", ": 1" + "0" * 300 + "}")  # 1e300 as an integer: a fine score
    assert reference(big.encode())["scores"] == [1e300]


def test_chat_prompt_rendered_like_hh():
    messages = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": " Hi "}]
    record = reference(json.dumps(event("c", prompt=messages)).encode())
    assert record["prompt"] == "\n\nSystem: Be nice.\n\nHuman: Hi\n\nAssistant:"


_texts = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "a\x00", "\ud800", "x" * 250]))
_values = st.one_of(_texts, st.integers(), st.none(), st.booleans(), st.lists(_texts, max_size=3))
_paths = st.sampled_from(
    ["event_id", "type", "timestamp", "prompt", "responses.0.text", "responses.1.id",
     "preference.winner", "preference.tie", "annotator.kind", "annotator.id", "metadata",
     "responses.0.policy_version"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(mutations=st.lists(st.tuples(_paths, _values), max_size=3))
def test_fast_path_agrees_with_reference(mutations):
    e = event("e1")
    raw = json.dumps(e).encode()
    for path, value in mutations:
        try:
            raw = _mutate(json.loads(raw), path, value)
        except (KeyError, TypeError, IndexError, ValueError):
            continue
    fast = fast_record(raw, LIMITS)
    if fast is not None:  # whatever the fast path accepts, the reference accepts identically
        assert reference(raw) == fast
    if verdict(raw) is None and b"\\ud800" not in raw and not _SUSPECT.search(raw):
        assert fast == reference(raw)  # and it does not needlessly fall back
