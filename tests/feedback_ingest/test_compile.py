"""Vote grouping on whole columns against a row-by-row reference: any mix of repeated keys,
repeated and unordered event ids, empty id lists and several chunks."""

from __future__ import annotations

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
