"""The native lane (`_pairwise.c`): it takes the common pairwise shape, accepts nothing the
reference validator rejects, stores the very record the reference makes, and leaves every
other line to the Python lanes."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import suppress

import numpy as np
import pytest
from fi_helpers import LIMITS, event, reference
from hypothesis import given, settings
from hypothesis import strategies as st
from test_byte_mutations import TOKENS
from test_columnar import _chat_paths, _paths, _roles, _values, set_path

from feedback_ingest import columnar, native
from feedback_ingest.store import events_table

pytestmark = pytest.mark.skipif(not native.available(), reason="checked by test_it_is_built")


METADATA = {"k": [1, 2.5, -0.0, 1e3, None, True], "s": "t\u00e9", "o": {"x": {}}, "e": []}


def plain(event_id: str = "e1", metadata: object = "absent", **fields) -> dict:
    """A pairwise event of the shape the native lane takes (metadata absent unless given)."""
    e = event(event_id, **fields)
    if metadata == "absent":
        del e["metadata"]
    else:
        e["metadata"] = metadata
    return e


def lines_of(*events: dict, ascii_only: bool = True) -> list[bytes]:
    return [json.dumps(e, ensure_ascii=ascii_only).encode() for e in events]


def check_against_reference(lines: list[bytes]) -> np.ndarray:
    """The native lane's mask of `lines`, after checking each accepted record."""
    table, taken = native.scan_lines(lines, LIMITS)
    expected = [reference(line) for line, ok in zip(lines, taken, strict=True) if ok]
    assert None not in expected, [line for line, ok in zip(lines, taken, strict=True) if ok]
    assert table.equals(events_table(expected))
    return taken


def test_a_transcript_after_whitespace_gets_the_reference_rendering():
    hh = "\n\nHuman: Tea?\n\nAssistant:"
    prompts = [" " + hh, "\n" + hh, "\t\n" + hh, "\n\n\n" + hh, "  Human: Tea?", "Human: Tea?"]
    lines = lines_of(*(plain(f"w{i}", prompt=p) for i, p in enumerate(prompts)))
    check_against_reference(lines)
    table, accepted, _ = columnar.validate_lines(lines, LIMITS)
    assert table.equals(events_table([reference(lines[i]) for i in accepted.tolist()]))
    assert [reference(line)["prompt"] for line in lines] == [hh] * len(lines)


def test_it_is_built():
    """`pip install` compiles the scanner; without it every line takes the Python lanes."""
    assert native.available()


def test_common_events_take_the_native_lane_with_the_reference_record():
    events = [
        plain("p1", prompt="  Why tea?\n"),
        plain("p2", responses={"a": "Tea \u00e9t\u00e9 \U0001f375", "b": "Tab\tand\nnewline"}),
        plain("p3", preference={"tie": True}),
        plain("p4", preference={"winner": "b", "tie": False}),
        plain("p5", timestamp="2024-02-29T23:59:59.5-05:30"),
        plain("p6", timestamp="2026-01-01T00:00:00Z", annotator_kind="ai"),
        plain("m1", metadata=METADATA),
        plain("m2", metadata={}),  # stored as null, as by the reference
        plain("m3", metadata=None),
        event("m4"),
        plain("c1", prompt=[{"role": "user", "content": " hi "}]),
        plain(
            "c2",
            prompt=[
                {"role": "SYSTEM", "content": "Be brief."},
                {"role": "Human", "content": "Tea?"},
                {"role": "assistant", "content": "Yes."},
                {"content": "More \u00e9?", "role": "user"},
            ],
        ),  # fmt: skip
    ]
    events[0]["annotator"] = {"kind": "human"}  # no annotator id: null in the record
    events[1]["responses"][0]["policy_version"] = "\u00e9" * 40  # cut to 32 characters
    for ascii_only in (True, False):
        lines = lines_of(*events, ascii_only=ascii_only)
        assert check_against_reference(lines).all()
        assert check_against_reference([lines[1].replace(b'"a"', b'"\\u0061"', 1)]).all()


def test_other_shapes_and_doubtful_lines_are_left_to_python():
    base = plain()
    left = [
        plain("l", metadata=[1, 2]),  # not an object: the reference rejects it
        plain("c", prompt=[{"role": "user", "content": "hi", "name": "x"}]),  # an unknown key
        plain("h", prompt="\n\nHuman: hi\n\nAssistant:"),  # an HH transcript
        plain("n", timestamp="2026-02-30T00:00:00+00:00"),  # a date Python must judge
        plain("x", timestamp="2026-01-01 00:00:00+00:00"),  # another spelling
        plain("u", responses={"a": "\u3000x", "b": "y"}),  # a Unicode space at an edge
        {**base, "extra": "field"},
        {**base, "responses": [*base["responses"], {"id": "c", "text": "Three"}]},
    ]
    base["responses"][1]["policy_version"] = 3  # a number
    left.append(base)
    raw = lines_of(*left)
    raw.append(raw[0].replace(b'"type"', b'"type": "pairwise", "type"'))  # a repeated key
    raw.append(lines_of(plain("esc"))[0].replace(b"Tea", b"Te\\u0000a"))  # a control escape
    taken = check_against_reference(raw)
    assert not taken.any()
    table, accepted, rest = columnar.validate_lines(raw, LIMITS)  # the Python lanes take over
    assert sorted([*accepted.tolist(), *rest.tolist()]) == list(range(len(raw)))
    assert {1, 2, 8} <= set(accepted.tolist())  # an extra message key, HH, a numeric policy
    assert 0 in rest.tolist()
    assert table.equals(events_table([reference(raw[i]) for i in accepted.tolist()]))


def test_chat_prompts_past_a_bound_or_with_unknown_roles_are_left_to_python():
    def chat(*messages: tuple[str, str]) -> dict:
        return plain(prompt=[{"role": r, "content": c} for r, c in messages])

    left = [
        chat(("tool", "x")),
        chat(("\u0130user", "x")),  # not ASCII: Python lower-cases it
        chat(("user", "x" * 150), ("assistant", "y" * 17)),  # renders to 201 characters
        chat(("user", " ")),
        plain(prompt=[]),
        plain(prompt=[{"role": "user", "content": str(i)} for i in range(257)]),
        plain(prompt=[{"role": "user"}]),
    ]
    raw = lines_of(*left)
    assert not check_against_reference(raw).any()
    fits = chat(("user", "x" * 150), ("assistant", "y" * 16))  # 200: max_text_chars
    assert check_against_reference(lines_of(fits)).all()


_no_metadata_values = st.one_of(_values, st.just(None))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(_paths, _no_metadata_values), max_size=3), max_size=12))
def test_field_mutations_never_fool_the_native_lane(batch):
    lines = []
    for i, mutations in enumerate(batch):
        e = plain(f"e{i}", responses={"a": "Tea is a drink.", "b": "No."})
        for path, value in mutations:
            with suppress(TypeError, KeyError, IndexError):
                set_path(e, path, value)
        lines.append(json.dumps(e).encode())
    taken = check_against_reference(lines)
    unmutated = [not m for m in batch]
    assert taken[unmutated].all()  # the plain shape stays in the lane


CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Why tea? "}]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_chat_paths, st.one_of(_values, _roles)), max_size=3))
def test_chat_mutations_never_fool_the_native_lane(mutations):
    e = plain(prompt=json.loads(json.dumps(CHAT)))
    for path, value in mutations:
        with suppress(TypeError, KeyError, IndexError):
            set_path(e, path, value)
    taken = check_against_reference(lines_of(e))
    assert taken.all() or mutations


_TEMPLATES = [
    json.dumps(plain(prompt=" Why t\u00e9a? ", preference=p, metadata=m), ensure_ascii=a).encode()
    for p in ({"winner": "b"}, {"tie": True})
    for a in (True, False)
    for m in ("absent", METADATA)
] + [json.dumps(plain(prompt=CHAT, metadata=METADATA), ensure_ascii=a).encode() for a in (1, 0)]


_edits = st.lists(
    st.tuples(st.floats(0, 1), st.one_of(st.sampled_from(TOKENS), st.binary(max_size=3))),
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TEMPLATES), _edits), min_size=1, max_size=8))
def test_byte_mutations_never_fool_the_native_lane(batch):
    lines = []
    for template, edits in batch:
        line = bytearray(template)
        for where, token in edits:
            at = int(where * len(line))
            line[at:at] = token
        lines.append(bytes(line).replace(b"\n", b" "))
    check_against_reference(lines)


def test_every_cut_of_a_line_is_refused_or_whole():
    """Reads stay inside the line: any prefix of an event is scanned without harm and only
    the whole line (or the whole line less trailing spaces) is accepted."""
    for line in _TEMPLATES[:2]:
        padded = line + b"  \r"
        cuts = [padded[:i] for i in range(len(padded) + 1)]
        taken = check_against_reference(cuts)
        assert taken.tolist() == [len(c) >= len(line) for c in cuts]


def test_threads_give_the_batch_in_line_order(monkeypatch):
    """A batch cut into one slice per thread gives the same table as one slice, with the
    batched lane's events (a numeric policy version) in their places between the native's."""
    monkeypatch.setattr(native, "THREADS", 2)  # even on one core
    lines, lanes = [], Counter()
    for i in range(3 * native.CHUNK_LINES):
        e = plain(f"t{i}", prompt=f"Question {i}?", metadata={"i": i} if i % 5 else "absent")
        if i % 7 == 0:
            e["responses"][0]["policy_version"] = i
        lines.append(json.dumps(e).encode())
    together, positions, rest = columnar.validate_lines(lines, LIMITS, lanes)
    assert len(rest) == 0 and positions.tolist() == list(range(len(lines)))
    assert together["event_id"].to_pylist() == [f"t{i}" for i in range(len(lines))]
    assert lanes == {"native": len(lines) - len(lines[::7]), "batched": len(lines[::7])}
    assert together["policy_versions"][7].as_py() == ["7", None]
    monkeypatch.setattr(native, "THREADS", 1)
    alone, positions_alone, _ = columnar.validate_lines(lines, LIMITS)
    assert alone.equals(together) and positions_alone.tolist() == positions.tolist()


FORKED = """
import json, os, sys
sys.path[:0] = [{root!r}, {tests!r}]
from fi_helpers import LIMITS, event
from feedback_ingest import native
native.THREADS = 2
lines = [json.dumps(event(f"f{{i}}")).encode() for i in range(3 * native.CHUNK_LINES)]
native.scan_lines(lines, LIMITS)  # the parent's pool has run
pid = os.fork()
if pid == 0:
    os._exit(0 if native.scan_lines(lines, LIMITS)[1].all() else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_scans_with_threads_of_its_own():
    """A child forked after the parent's pool ran scans with threads of its own. In a fresh
    interpreter: a fork of the test process would inherit pytest's and Dagster's state."""
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    script = FORKED.format(root=str(here.parents[1]), tests=str(here))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()[-2000:]


def test_without_the_compiled_scanner_the_python_lanes_store_the_same(monkeypatch):
    """A source tree without the built module (no compiler at install): same table."""
    events = [plain(f"w{i}", prompt=f"Why {i}?", metadata=METADATA if i % 2 else "absent")
              for i in range(40)]  # fmt: skip
    events.append(plain("chat", prompt=json.loads(json.dumps(CHAT))))
    lines = lines_of(*events) + [b"{broken"]
    with_native = columnar.validate_lines(lines, LIMITS)
    monkeypatch.setattr(native, "_pairwise", None)
    assert not native.available() and native.scan_lines(lines, LIMITS) is None
    without = columnar.validate_lines(lines, LIMITS)
    assert without[0].equals(with_native[0])
    assert [a.tolist() for a in without[1:]] == [a.tolist() for a in with_native[1:]]
