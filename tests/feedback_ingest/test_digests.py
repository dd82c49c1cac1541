"""The compiled SHA-256 of framed rows (`_sha256.c`) gives hashlib's digests, whatever the
lengths (SHA-256 block and padding edges), text, slicing and chunking of the columns."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_ingest import digests

EDGES = [0, 1, 47, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]


def test_it_is_used_where_the_cpu_has_sha_extensions():
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if platform.system() == "Linux" else []
    assert digests._sha256 is not None  # `pip install` compiles it
    assert ("sha_ni" in flags) is digests._SHA_NI


def _framed_digest(values: list[str]) -> bytes:
    message = b"".join(len(v.encode()).to_bytes(8, "big") + v.encode() for v in values)
    return hashlib.sha256(message).digest()


@pytest.mark.skipif(not digests._SHA_NI, reason="no SHA extensions on this CPU")
@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(EDGES).map(lambda n: "x" * n), st.text(max_size=90)),
            st.one_of(st.sampled_from(EDGES).map(lambda n: "\u00e9" * n), st.text(max_size=9)),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 5),
    st.booleans(),
)
def test_compiled_digests_are_hashlibs(rows, skip, chunk):
    first = pa.array([a for a, _ in rows], pa.large_string()).slice(min(skip, len(rows) - 1))
    second = pa.array([b for _, b in rows], pa.string()).slice(min(skip, len(rows) - 1))
    if chunk and len(first) > 1:
        first = pa.chunked_array([first[:1], first[1:]])
    n = len(second)
    got = digests.row_digests([first, second], n)
    pairs = zip(first.to_pylist(), second.to_pylist(), strict=True)
    expected = [_framed_digest([a, b]) for a, b in pairs]
    assert got == b"".join(expected)
    assert got == digests._hashlib_digests([pa.array(first.to_pylist()), second], n)


@pytest.mark.skipif(not digests._SHA_NI, reason="no SHA extensions on this CPU")
def test_many_rows_on_threads_and_bad_offsets_refused():
    values = [f"row {i} " * (i % 20) for i in range(20_000)]
    column = pa.array(values, pa.large_string())
    got = digests.row_digests([column], len(values))
    assert got == digests._hashlib_digests([column], len(values))
    offsets = np.array([0, 5, 3], np.int64)  # not monotonic
    with pytest.raises(ValueError, match="offsets"):
        digests._sha256.framed([(offsets, b"abcdef")], 2)
    with pytest.raises(ValueError, match="offsets"):
        digests._sha256.framed([(np.array([0, 99], np.int64), b"abc")], 1)  # past the data
    empty = pa.chunked_array([], pa.large_string())
    assert digests.row_digests([empty, pa.array([], pa.string())], 0) == b""
