"""Byte-level mutations of valid events (escapes, invalid UTF-8, repeated keys, stray bytes):
the fast path and the batched lane never accept a line that the reference validator rejects,
and store the very record the reference makes of the lines they accept."""

from __future__ import annotations

import json

from fi_helpers import LIMITS, reference
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_ingest.columnar import validate_lines
from feedback_ingest.fast import fast_record
from feedback_ingest.store import events_table

PREFERENCES = {"pairwise": {"winner": "a"}, "ranking": {"order": ["b", "a"]},
               "rating": {"scores": {"a": 1, "b": 2.5}}}  # fmt: skip


def _template(kind: str, chat: bool, ascii_only: bool) -> bytes:
    event = {
        "event_id": "e1",
        "timestamp": "2026-01-01T00:00:00Z",
        "type": kind,
        "prompt": [{"role": "user", "content": "Why tea?"}] if chat else "Why tea?",
        "responses": [
            {"id": "a", "text": "Tea is a drink.", "policy_version": "p1"},
            {"id": "b", "text": "Nö.", "policy_version": 3},
        ],  # fmt: skip
        "preference": PREFERENCES[kind],
        "annotator": {"kind": "human", "id": "h1"},
        "metadata": {"k": [1, 2]},
    }
    return json.dumps(event, ensure_ascii=ascii_only).encode()


TEMPLATES = [_template(k, c, a) for k in PREFERENCES for c in (False, True) for a in (False, True)]
TOKENS = [b"\\u0000", b"\\u001f", b"\\u007f", b"\\ud800", b"\\ud83d\\ude00", b"\\b", b"\\n",
          b'\\"', b"\xc3\xa9", b"\xe2\x80\x83", b"\xc2\x85", b"\x7f", b"\xff", b"\x97",
          b"\xed\xa0\x80", b"\xef\xbb\xbf", b" ", b"\x1c", b'"', b",", b"{", b"]", b"null",
          b"1e400", b"NaN", b'"winner":"b",', b'"tie":true,', b'"type":"rating",', b'"id":"a",',
          b'"text":" ",', b'"role":"assistant",', b"2026-02-30", b"T24:00:00", b"+05:30",
          b"\\u2028", b"\\u00a0", b'"order":["a","a"],']  # fmt: skip
_edits = st.lists(
    st.tuples(st.floats(0, 1), st.one_of(st.sampled_from(TOKENS), st.binary(max_size=2))),
    min_size=1,
    max_size=4,
)


def _mutated(template: bytes, edits: list[tuple[float, bytes]]) -> bytes:
    line = bytearray(template)
    for where, token in edits:
        at = int(where * len(line))
        line[at:at] = token
    return bytes(line).replace(b"\n", b" ")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TEMPLATES), _edits), min_size=1, max_size=8))
def test_no_path_accepts_what_the_reference_rejects(batch):
    lines = [_mutated(template, edits) for template, edits in batch]
    for line in lines:
        fast = fast_record(line, LIMITS)
        if fast is not None:
            expected = reference(line)
            assert expected is not None, line
            assert events_table([fast]).equals(events_table([expected])), line
    table, accepted, _ = validate_lines(lines, LIMITS)
    expected = [reference(lines[i]) for i in accepted.tolist()]
    assert None not in expected
    assert table.equals(events_table(expected))
