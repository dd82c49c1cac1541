"""The batched JSONL lane: it accepts exactly what the reference validator accepts, with the
same stored record, and leaves everything else to the per-line path."""

from __future__ import annotations

import copy
import json
from contextlib import suppress

import pyarrow.parquet as pq
from fi_helpers import LIMITS, event, reference, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_ingest.columnar import _timestamps, validate_lines
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.store import events_table
from feedback_ingest.validate import parse_timestamp


def set_path(e: dict, path: str, value: object) -> dict:
    target, keys = e, path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(keys[-1])] = value
    else:
        target[keys[-1]] = value
    return e


_texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\u3000x\u2003", "a\x00", "\ud800", "x" * 250, "\x85", "é"]),
)
_stamps = st.sampled_from(
    ["2026-01-01T00:00:00Z", "2026-02-30T00:00:00+00:00", "2026-01-01T05:30:00.5+05:30",
     "2026-01-01 00:00:00+00:00", "2026-01-01T00:00:00", "1850-06-01T00:00:00-07:00"]
)  # fmt: skip
_values = st.one_of(_texts, _stamps, st.integers(), st.none(), st.booleans())
_paths = st.sampled_from(
    ["event_id", "timestamp", "prompt", "responses.0.text", "responses.1.text", "responses.0.id",
     "responses.1.id", "preference.winner", "preference.tie", "annotator.kind", "annotator.id",
     "responses.1.policy_version", "metadata", "type"]
)  # fmt: skip


_RANKING = {"a": "Tea is a drink.", "b": "No.", "c": "Maybe tea."}
_ranking_paths = st.sampled_from(
    ["preference.order", "preference.order.0", "preference.order.2", "preference.scores",
     "preference.winner", "responses.2.id", "responses.2.text", "responses.2", "type"]
)  # fmt: skip
_ranking_values = st.one_of(
    _values, st.sampled_from(["a", "b", "c", "d", ["a", "b"], ["b", "a", "a"], [], ["c"]]),
    st.sampled_from([{"a": 1, "b": 2}, {"a": 1.5}, {"d": 1}, {}, {"a": "x"}, {"a": None}]),
    st.sampled_from(["ranking", "rating", "pairwise"]),
)  # fmt: skip


def _other_type(kind: str) -> dict:
    """A valid ranking or rating of three responses."""
    if kind == "ranking":
        return event("k", "ranking", _RANKING, {"order": ["c", "a", "b"]})
    return event("k", "rating", _RANKING, {"scores": {"a": 1, "b": 2.5, "c": -3}})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ranking", "rating"]),
            st.lists(st.tuples(_ranking_paths, _ranking_values), max_size=3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_rankings_and_ratings_too(batch):
    lines = []
    for i, (kind, mutations) in enumerate(batch):
        e = _other_type(kind)
        e["event_id"] = f"k{i}"
        for path, value in mutations:
            with suppress(TypeError, KeyError, IndexError, ValueError):  # parent mutated away
                set_path(e, path, copy.deepcopy(value))  # sampled values are shared objects
        lines.append(json.dumps(e).encode())
    table, accepted, rest = validate_lines(lines, LIMITS)
    assert sorted([*accepted.tolist(), *rest.tolist()]) == list(range(len(lines)))
    expected = [reference(lines[i]) for i in accepted.tolist()]
    assert None not in expected
    assert table.equals(events_table(expected))


_chat_paths = st.sampled_from(["prompt.0.role", "prompt.0.content", "prompt.1.content",
                              "prompt.1.role", "prompt.1"])  # fmt: skip
_roles = st.sampled_from(["user", "USER", "assistant", "system", "tool", "", "human"])
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Why tea? "}]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),  # a chat prompt
            st.lists(st.tuples(_paths, _values), max_size=3),
            st.lists(st.tuples(_chat_paths, st.one_of(_values, _roles)), max_size=2),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_lane_accepts_exactly_what_the_reference_accepts(batch):
    lines = []
    for i, (is_chat, mutations, chat_mutations) in enumerate(batch):
        e = event(f"e{i}", responses={"a": "Tea is a drink.", "b": "No."})
        if is_chat:
            e["prompt"] = json.loads(json.dumps(CHAT))
            mutations = chat_mutations + mutations
        for path, value in mutations:
            with suppress(TypeError, KeyError, IndexError):  # its parent was mutated away
                set_path(e, path, value)
        lines.append(json.dumps(e).encode())
    table, accepted, rest = validate_lines(lines, LIMITS)
    assert sorted([*accepted.tolist(), *rest.tolist()]) == list(range(len(lines)))
    expected = [reference(lines[i]) for i in accepted.tolist()]
    assert None not in expected  # never accepts what the reference rejects
    assert table.equals(events_table(expected))  # and stores the very same record


def test_every_event_type_stays_in_the_lane_and_non_events_fall_back():
    plain = [event(f"p{i}", prompt=f"  Why {i}?\n") for i in range(5)]
    chat = event("c", prompt=[{"role": "user", "content": "hi"}])
    ranking = event("r", "ranking", {"x": "One", "y": "Two"}, {"order": ["y", "x"]})
    rating = event("s", "rating", {"x": "One"}, {"scores": {"x": 4}})
    bad = event("b", "ranking", {"x": "One", "y": "Two"}, {"order": ["y", "z"]})
    lines = [json.dumps(e).encode() for e in [*plain, chat, ranking, rating, bad]]
    lines.append(lines[0] + b", " + lines[1])  # two objects on one line: not an event
    table, accepted, rest = validate_lines(lines, LIMITS)
    assert accepted.tolist() == [0, 1, 2, 3, 4, 5, 6, 7] and rest.tolist() == [8, 9]
    assert table["prompt"][0].as_py() == "\n\nHuman: Why 0?\n\nAssistant:"
    assert table.equals(events_table([reference(line) for line in lines[:8]]))
    assert table["order_idx"][6].as_py() == [1, 0] and table["scores"][7].as_py() == [4.0]


def test_lines_the_lane_would_misjudge_fall_back():
    plain = json.dumps(event("p")).encode()
    tricky = [
        plain[:-1] + b', "x": "\xff"}',  # invalid UTF-8 where msgspec decodes nothing
        plain + b" " + plain,  # two objects on one line
        json.dumps(event("n", preference={"winner": None, "tie": True})).encode(),
    ]
    table, accepted, rest = validate_lines([plain, *tricky], LIMITS)
    assert accepted.tolist() == [0] and rest.tolist() == [1, 2, 3]
    assert [reference(line) for line in tricky] == [None, None, None]


def test_utf8_screen_agrees_with_python():
    from feedback_ingest.columnar import _valid_utf8

    cases = [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff",
             "\u00e9".encode(), "\U0001f600".encode(), b"\xef\xbf\xbf", b"plain"]  # fmt: skip
    for case in cases:
        try:
            expected = bool(case.decode("utf-8")) or True
        except UnicodeDecodeError:
            expected = False
        assert _valid_utf8(b"x" + case + b"y") is expected, case


def test_timestamps_match_python_parsing():
    raw = ["2026-01-01T00:00:00+00:00", "2026-01-01T05:30:00+05:30", "2026-01-01T00:00:00Z",
           "2024-02-29T23:59:59.999999-23:59", "2026-02-30T00:00:00+00:00", "2026-01-01T00:00:00",
           "2026-01-01T24:00:00+00:00", "0001-01-01T00:00:00+00:00", "yesterday"]  # fmt: skip
    # Without 30 February Arrow parses the usual spellings; with it, Python parses each one.
    for batch in ([r for r in raw if "02-30" not in r], raw):
        micros, ok = _timestamps(batch)
        expected = [parse_timestamp(r) for r in batch]
        assert ok.tolist() == [e is not None for e in expected]
        assert [int(m) if k else None for m, k in zip(micros, ok, strict=True)] == expected


def test_mixed_batch_keeps_source_order_and_the_first_duplicate(tmp_path):
    config = IngestConfig(home=tmp_path)
    three = {"a": "One.", "b": "Two.", "c": "Three."}
    first = event("x", prompt="first", responses=three)  # three responses: batched lane
    plain = event("x", prompt="second")  # native lane, same id, later: a duplicate
    others = [event(f"o{i}") for i in range(3)]
    unsure = event("u", "ranking", preference={"order": ["b", "a"], "tie": "no"})  # line by line
    lines = [others[0], first, others[1], plain, unsure, others[2]]
    write_jsonl(config.incoming_dir / "a.jsonl", lines)
    report = ingest_feedback(config)
    assert (report.read, report.accepted, report.duplicate) == (6, 5, 1)
    assert report.lanes == {"native": 4, "batched": 1, "per_event": 1}
    stored = pq.read_table(next(config.events_dir.glob("part-*.parquet")))
    assert stored["event_id"].to_pylist() == ["o0", "x", "o1", "u", "o2"]
    assert "first" in stored["prompt"][1].as_py()
    assert stored["response_ids"][1].as_py() == ["a", "b", "c"]
    assert stored["winner_idx"].to_pylist() == [0, 0, 0, -1, 0]  # the ranking has no winner
