"""The landing folder's line reader: the lines of any byte stream, long ones cut, memory bounded
by blocks; the ingest that uses it bounds batches by bytes too."""

from __future__ import annotations

import io
import json

import pytest
from fi_helpers import event, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hostile import ingest_in_subprocess

from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.lines import LineReader
from feedback_ingest.quarantine import Quarantine

_streams = st.lists(
    st.one_of(st.binary(max_size=30), st.sampled_from([b"\n", b"\r\n", b"\n\n", b"x" * 70])),
    max_size=40,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(
    _streams,
    st.integers(1, 40),  # line cap
    st.integers(1, 50),  # block size
    st.lists(st.tuples(st.integers(1, 5), st.integers(1, 200)), min_size=1, max_size=8),
)
def test_lines_are_the_streams_lines_cut_to_the_cap(data, cap, block, reads):
    reader = LineReader(io.BytesIO(data), cap, block_bytes=block)
    lines, sizes, i = [], [], 0
    while True:
        max_lines, max_bytes = reads[i % len(reads)]
        got, got_sizes = reader.read(max_lines, max_bytes)
        assert len(got) == len(got_sizes) <= max_lines
        assert sum(map(len, got[:-1])) < max_bytes  # it stops at the line that reaches the bound
        if not got:
            break
        lines += got
        sizes += got_sizes
        i += 1
    expected = data.split(b"\n")
    if expected[-1] == b"":  # a trailing newline ends the last line; it starts none
        expected.pop()
    assert lines == [line[:cap] for line in expected]
    assert sizes == [len(line) + 1 for line in expected][: len(expected) - 1] + (
        [len(expected[-1]) + (1 if data.endswith(b"\n") else 0)] if expected else []
    )
    assert sum(sizes) == len(data)


def test_long_lines_anywhere_in_a_block_are_cut():
    data = b"ab\n" + b"x" * 20 + b"\n" + b"y" * 9 + b"\ncd"
    reader = LineReader(io.BytesIO(data), 4, block_bytes=64)
    assert reader.read(10, 100) == ([b"ab", b"xxxx", b"yyyy", b"cd"], [3, 21, 10, 2])
    assert reader.read(10, 100) == ([], [])


def test_a_read_stops_at_the_line_that_reaches_the_byte_bound():
    reader = LineReader(io.BytesIO(b"aa\nbb\ncc\n"), 10, block_bytes=64)
    assert reader.read(10, 3) == ([b"aa", b"bb"], [3, 3])
    assert reader.read(10, 100) == ([b"cc"], [3])


def test_a_huge_line_is_quarantined_cut_and_never_held_whole(tmp_path):
    """A 200 MB line (a file with no newlines, say) between two events: the events are
    accepted, the line is quarantined as oversized, kept cut, and the ingest's peak memory is
    about that of the same run without it."""
    config = IngestConfig(home=tmp_path / "with")
    plain = IngestConfig(home=tmp_path / "without")
    line = b'{"event_id": "' + b"x" * 200_000_000 + b'"}'
    for home, middle in ((config, [line]), (plain, [])):
        write_jsonl(home.incoming_dir / "a.jsonl", [event("e1"), *middle, event("e2")])
    huge = ingest_in_subprocess(config.home)
    base = ingest_in_subprocess(plain.home)
    assert huge["report"]["accepted"] == 2 and huge["report"]["quarantine_reasons"] == {
        "oversize_event": 1
    }
    assert huge["peak_mib"] < base["peak_mib"] + 60, (huge["peak_mib"], base["peak_mib"])
    (record,) = Quarantine(config.quarantine_dir).records()
    assert len(Quarantine.raw_bytes(record)) == config.max_event_bytes + 1
    assert record["detail"] == f"{len(line)} bytes > {config.max_event_bytes} (first bytes kept)"
    first = len(json.dumps(event("e1"))) + 1
    assert record["location"] == f"a.jsonl@{first}"
    again = ingest_feedback(config)  # the offset went past the whole line
    assert (again.read, again.accepted) == (0, 0)


@pytest.mark.parametrize("max_batch_bytes", [2_000, 10**9])
def test_batches_are_bounded_by_bytes_too(tmp_path, max_batch_bytes):
    config = IngestConfig(home=tmp_path, batch_size=1_000, max_batch_bytes=max_batch_bytes)
    events = [event(f"e{i}", prompt="p" * 400) for i in range(30)]
    write_jsonl(config.incoming_dir / "a.jsonl", events)
    report = ingest_feedback(config)
    assert report.accepted == 30
    size = len(json.dumps(events[0]))
    expected = 1 if max_batch_bytes > 30 * size else -(-30 // -(-max_batch_bytes // size))
    assert report.batches == expected


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_batch_bytes"):
        IngestConfig(home="x", max_batch_bytes=0)
    with pytest.raises(ValueError, match="line_cap"):
        LineReader(io.BytesIO(b""), 0)


def test_a_line_cut_right_after_a_carriage_return_stays_oversize(tmp_path):
    """A line cut at the limit whose kept bytes end in CR: stripping the CR made a complete
    event of exactly the limit, accepted while the rest of the line vanished."""
    limit = 1024
    e = event("e1")
    e["metadata"] = {"pad": ""}
    e["metadata"]["pad"] = "x" * (limit - len(json.dumps(e)))
    head = json.dumps(e).encode()
    assert len(head) == limit
    config = IngestConfig(home=tmp_path, max_event_bytes=limit)
    write_jsonl(config.incoming_dir / "a.jsonl", [head + b"\r" + b'{"more": 1}' * 20])
    report = ingest_feedback(config)
    assert (report.accepted, report.quarantine_reasons) == (0, {"oversize_event": 1})


def test_lines_of_form_feeds_or_vertical_tabs_are_quarantined_not_dropped(tmp_path):
    """Blank lines (JSON whitespace: space, tab, CR) are skipped; other control bytes are not
    whitespace to JSON, so such a line is read and judged."""
    config = IngestConfig(home=tmp_path)
    lines = [json.dumps(event("e1")).encode(), b"\x0c", b"\x0b\x0b", b" \x0c ", b" \t ", b""]
    write_jsonl(config.incoming_dir / "a.jsonl", lines)
    report = ingest_feedback(config)
    assert (report.read, report.accepted, report.quarantined) == (4, 1, 3)
