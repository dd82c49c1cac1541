"""Vote grouping on whole columns against a row-by-row reference (any mix of repeated keys,
repeated and unordered event ids, empty id lists and several chunks), and rating votes against
every pair of individual ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_ingest import compile as cp

TEXTS = st.sampled_from(["tea", "Tea", "ça", "日本", "a b", "x"])
IDS = st.text(alphabet="ab\u00e9\u65e5z9-", max_size=4)
ROW = st.tuples(
    TEXTS, TEXTS, TEXTS, st.integers(0, 3), st.integers(0, 3), st.lists(IDS, max_size=4),
    st.integers(0, 10**6), st.sampled_from([1, 2, 3]),
)  # fmt: skip


def reference(rows: list[tuple]) -> dict[tuple, tuple]:
    """(prompt, lo, hi) -> (votes_lo, votes_hi, event_ids, first_seen, kinds), row by row."""
    groups: dict[tuple, list[tuple]] = {}
    for row in rows:
        groups.setdefault(row[:3], []).append(row)
    out = {}
    for key, members in groups.items():
        ids = members[0][5] if len(members) == 1 else sorted({e for m in members for e in m[5]})
        kinds = 0
        for m in members:
            kinds |= m[7]
        out[key] = (sum(m[3] for m in members), sum(m[4] for m in members), ids,
                    min(m[6] for m in members), kinds)  # fmt: skip
    return out


def vote_table(rows: list[tuple], chunks: int) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    table = pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, cp.VOTE_SCHEMA, strict=True)],
        schema=cp.VOTE_SCHEMA,
    )
    step = max(1, len(rows) // chunks)
    return pa.concat_tables([table.slice(i, step) for i in range(0, len(rows), step)])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=40), chunks=st.integers(1, 4))
def test_group_votes_matches_a_row_by_row_grouping(rows, chunks):
    grouped = cp.group_votes(vote_table(rows, chunks))
    got = {
        (r["prompt"], r["lo"], r["hi"]): (
            r["votes_lo"], r["votes_hi"], r["event_ids"], r["first_seen"], r["kinds"]
        )
        for r in grouped.to_pylist()
    }  # fmt: skip
    assert len(got) == len(grouped)  # one row per key
    assert got == reference(rows)
    assert grouped.schema == cp.VOTE_SCHEMA


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=40), chunks=st.integers(1, 4))
def test_group_votes_by_digest_or_by_dictionary_is_the_same_table(rows, chunks):
    """The compiled hasher's keys and Arrow's dictionaries number the groups alike (in order
    of first appearance), so the vote table does not depend on the CPU."""
    votes = vote_table(rows, chunks)
    by_digest = cp.group_votes(votes)
    real = cp.row_digests
    try:
        cp.row_digests = lambda columns, n: None  # as where the CPU lacks SHA extensions
        by_dictionary = cp.group_votes(votes)
    finally:
        cp.row_digests = real
    assert by_digest.equals(by_dictionary)


SCORES = st.sampled_from([1.0, 2.0, 3.0])
RATING = st.tuples(
    st.sampled_from(["p1", "p2"]), st.sampled_from(["x", "y", "z"]), SCORES,
    st.booleans(),  # a new rating
)  # fmt: skip


def hist_of(ratings: list[tuple]) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "prompt": [r[0] for r in ratings],
            "text": [r[1] for r in ratings],
            "score": np.array([r[2] for r in ratings], np.float64),
            "count": np.ones(len(ratings), np.int64),
            "event_ids": [[r[4]] for r in ratings],
            "first_seen": np.arange(len(ratings), dtype=np.int64),
            "kinds": np.ones(len(ratings), np.int8),
        }
    )
    return (
        cp.group(rows, ["prompt", "text", "score"], sums=["count"]) if ratings else cp.empty_hist()
    )


@settings(max_examples=150, deadline=None)
@given(ratings=st.lists(RATING, max_size=14))
def test_rating_votes_count_every_pair_with_a_new_rating(ratings):
    ratings = [(*r, f"e{i}") for i, r in enumerate(ratings)]
    old, new = [r for r in ratings if not r[3]], [r for r in ratings if r[3]]
    ids_of: dict[tuple, set] = {}  # a vote cites every event behind its two (text, score) rows
    for r in ratings:
        ids_of.setdefault(r[:3], set()).add(r[4])
    expected: dict[tuple, list] = {}
    for i, a in enumerate(ratings):
        for b in ratings[i + 1 :]:
            if a[0] != b[0] or a[1] == b[1] or a[2] == b[2] or not (a[3] or b[3]):
                continue
            win, lose = (a, b) if a[2] > b[2] else (b, a)
            lo, hi = sorted((win[1], lose[1]))
            entry = expected.setdefault((a[0], lo, hi), [0, 0, set()])
            entry[0 if win[1] == lo else 1] += 1
            entry[2] |= ids_of[a[:3]] | ids_of[b[:3]]
    if not new:
        assert len(cp.rating_votes(hist_of(old), cp.empty_hist())) == 0
        return
    votes = cp.rating_votes(hist_of(old), hist_of(new)).to_pylist()
    got = {
        (v["prompt"], v["lo"], v["hi"]): [v["votes_lo"], v["votes_hi"], v["event_ids"]]
        for v in votes
    }
    expected = {key: [lo, hi, sorted(ids)] for key, (lo, hi, ids) in expected.items()}
    assert len(got) == len(votes) and got == expected  # ids: each once, sorted
