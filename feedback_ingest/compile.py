"""Accepted events -> preference votes, vectorised (Arrow + NumPy, no per-event Python loop).

A vote table (Arrow, `VOTE_SCHEMA`) has one row per unordered (prompt, lo, hi) response pair,
`lo < hi` as text, with the votes for each side, the contributing event ids, the earliest
timestamp and the annotator kinds as bits (1 human, 2 ai). Votes are additive, so an
incremental snapshot adds the new events' votes to the parent's and re-decides only the pairs
they touch. Texts stay Arrow strings throughout: grouping hashes them in C++, and no Python
string is made per vote; they are `large_string` (see `wide.py`), so a build may hold more
than 2 GB of them. The rating histogram is a pandas frame (few rows per prompt).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest.digests import dictionary_codes, row_digests
from feedback_ingest.wide import TEXT, widened

KIND_BITS = {"human": 1, "ai": 2}
KIND_NAMES = {1: "human", 2: "ai", 3: "mixed"}
VOTE_SCHEMA = pa.schema(
    [("prompt", TEXT), ("lo", TEXT), ("hi", TEXT),
     ("votes_lo", pa.int64()), ("votes_hi", pa.int64()), ("event_ids", pa.list_(pa.string())),
     ("first_seen", pa.int64()), ("kinds", pa.int8())]
)  # fmt: skip
VOTE_COLUMNS = VOTE_SCHEMA.names
HIST_COLUMNS = ["prompt", "text", "score", "count", "event_ids", "first_seen", "kinds"]


def _list_parts(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A list column -> (flat values, offsets into them as NumPy)."""
    if pa.types.is_string(column.type.value_type):  # combined, 32-bit offsets could overflow
        column = column.cast(pa.list_(TEXT))
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    start, stop = arr.offsets[0].as_py(), arr.offsets[-1].as_py()
    return arr.values.slice(start, stop - start), arr.offsets.to_numpy() - start


def _kinds(events: pa.Table) -> np.ndarray:
    return pc.if_else(pc.equal(events["annotator_kind"], "ai"), 2, 1).to_numpy().astype(np.int8)


def _singletons(ids: pa.Array) -> pa.ListArray:
    """Each id as a one-element list."""
    return pa.ListArray.from_arrays(pa.array(np.arange(len(ids) + 1, dtype=np.int32)), ids)


def _judgments(events: pa.Table, winner: pa.Array, loser: pa.Array, ev: np.ndarray) -> pa.Table:
    """(winner text, loser text) per judgment + its event's columns -> a vote table."""
    rows = pa.array(ev, pa.int64())
    lo_wins = pc.less(winner, loser)  # UTF-8 byte order is code point order, as in Python
    wins = lo_wins.to_numpy(zero_copy_only=False)
    columns = [
        events["prompt"].take(rows),
        pc.if_else(lo_wins, winner, loser),
        pc.if_else(lo_wins, loser, winner),
        pa.array(wins.astype(np.int64)),
        pa.array((~wins).astype(np.int64)),
        _singletons(events["event_id"].take(rows).combine_chunks()),
        events["timestamp"].cast(pa.int64()).take(rows),
        pa.array(_kinds(events)[ev]),
    ]
    return pa.Table.from_arrays(columns, schema=VOTE_SCHEMA)


def pairwise_votes(events: pa.Table) -> pa.Table:
    """Pairwise events with a winner: the winner beats every other response of the event.
    Other events and ties add nothing. Batch by batch, and events are picked by index, not
    filtered: a filter or a combine would copy every text of the table."""
    tables = [_pairwise_batch(widened(pa.Table.from_batches([b]))) for b in events.to_batches()]
    return pa.concat_tables(tables) if tables else VOTE_SCHEMA.empty_table()


def _pairwise_batch(events: pa.Table) -> pa.Table:
    texts, offsets = _list_parts(events["response_texts"])
    win_idx = events["winner_idx"].to_numpy().astype(np.int64)
    is_pairwise = pc.equal(events["type"], "pairwise").to_numpy(zero_copy_only=False)
    counts = np.where((win_idx >= 0) & is_pairwise, np.diff(offsets), 0)
    ev = np.repeat(np.arange(len(events)), counts)
    pos = np.arange(len(ev)) - (np.cumsum(counts) - counts)[ev]
    keep = pos != win_idx[ev]
    ev, pos = ev[keep], pos[keep]
    winner = texts.take(pa.array(offsets[ev] + win_idx[ev]))
    return _judgments(events, winner, texts.take(pa.array(offsets[ev] + pos)), ev)


def ranking_votes(events: pa.Table) -> pa.Table:
    """Ranking events: every ranked response beats every response ranked below it."""
    events = widened(events)
    texts, t_offsets = _list_parts(events["response_texts"])
    order, o_offsets = _list_parts(events["order_idx"])
    ev = np.repeat(np.arange(len(events)), np.diff(o_offsets))
    rank = np.arange(len(order)) - o_offsets[ev]
    flat = pd.DataFrame({"ev": ev, "rank": rank, "text": t_offsets[ev] + order.to_numpy()})
    pairs = flat.merge(flat, on="ev", suffixes=("_w", "_l"))
    pairs = pairs[pairs["rank_w"] < pairs["rank_l"]]
    return _judgments(
        events,
        texts.take(pa.array(pairs["text_w"].to_numpy())),
        texts.take(pa.array(pairs["text_l"].to_numpy())),
        pairs["ev"].to_numpy(),
    )


def parent_votes(rows: pa.Table) -> pa.Table:
    """Parent pairs back to votes (majority votes = round(n_votes * agreement))."""
    rows = widened(rows)
    n = rows["n_votes"].to_numpy()
    majority = np.rint(n * rows["agreement"].to_numpy()).astype(np.int64)
    chosen, rejected = rows["chosen"], rows["rejected"]
    chosen_lo = pc.less(chosen, rejected)
    lo_mask = chosen_lo.to_numpy()
    kinds = rows["annotator_kind"].to_numpy()
    columns = [
        rows["prompt"],
        pc.if_else(chosen_lo, chosen, rejected),
        pc.if_else(chosen_lo, rejected, chosen),
        pa.array(np.where(lo_mask, majority, n - majority)),
        pa.array(np.where(lo_mask, n - majority, majority)),
        rows["source_event_ids"],
        rows["first_seen"].cast(pa.int64()),
        pa.array(np.select([kinds == "human", kinds == "ai"], [1, 2], 3).astype(np.int8)),
    ]
    return pa.Table.from_arrays(columns, schema=VOTE_SCHEMA)


def rating_rows(events: pa.Table) -> pd.DataFrame:
    """Rating events -> a histogram: one row per (prompt, response text, score)."""
    texts, offsets = _list_parts(events["response_texts"])
    scores = _list_parts(events["scores"])[0].to_numpy(zero_copy_only=False)
    ev = np.repeat(np.arange(len(events)), np.diff(offsets))
    rated = ~pd.isna(scores)
    ev = ev[rated]
    rows = pd.DataFrame(
        {
            "prompt": events["prompt"].to_numpy()[ev],
            "text": texts.to_numpy(zero_copy_only=False)[rated],
            "score": scores[rated].astype(np.float64),
            "count": np.ones(len(ev), np.int64),
            "event_ids": [[e] for e in events["event_id"].to_numpy()[ev]],
            "first_seen": events["timestamp"].cast(pa.int64()).to_numpy()[ev],
            "kinds": _kinds(events)[ev],
        }
    )
    return group(rows, ["prompt", "text", "score"], sums=["count"])


def rating_votes(old_hist: pd.DataFrame, new_hist: pd.DataFrame) -> pa.Table:
    """Votes that the new ratings add: every pair of ratings of one prompt with different
    scores is one vote, counted only when at least one of the two ratings is new."""
    if new_hist.empty:
        return VOTE_SCHEMA.empty_table()
    prompts = new_hist["prompt"].unique()
    old = old_hist[old_hist["prompt"].isin(prompts)].assign(old=lambda d: d["count"])
    new = new_hist.assign(old=0)
    hist = group(pd.concat([old, new], ignore_index=True), ["prompt", "text", "score"],
                 sums=["count", "old"])  # fmt: skip
    id_lists = pa.array(hist.pop("event_ids").tolist(), VOTE_SCHEMA.field("event_ids").type)
    hist["row"] = np.arange(len(hist))
    # Only pairs with a new rating on one side gain votes: pair the fresh rows with all rows,
    # and the old-only rows with the fresh ones (not all rows with all: quadratic per prompt).
    fresh = hist["count"] > hist["old"]
    pairs = pd.concat(
        [hist[fresh].merge(hist, on="prompt", suffixes=("_a", "_b")),
         hist[~fresh].merge(hist[fresh], on="prompt", suffixes=("_a", "_b"))],
        ignore_index=True,
    )  # fmt: skip
    pairs = pairs[(pairs["score_a"] > pairs["score_b"]) & (pairs["text_a"] != pairs["text_b"])]
    votes = pairs["count_a"] * pairs["count_b"] - pairs["old_a"] * pairs["old_b"]
    pairs, votes = pairs[votes > 0], votes[votes > 0].to_numpy()
    a_is_lo = (pairs["text_a"] < pairs["text_b"]).to_numpy()
    a, b = pairs["text_a"].to_numpy(), pairs["text_b"].to_numpy()
    ids = unique_id_lists(
        _joined_lists(id_lists, pairs["row_a"].to_numpy(), pairs["row_b"].to_numpy())
    )
    columns = {
        "prompt": pairs["prompt"].to_numpy(),
        "lo": np.where(a_is_lo, a, b),
        "hi": np.where(a_is_lo, b, a),
        "votes_lo": np.where(a_is_lo, votes, 0),
        "votes_hi": np.where(a_is_lo, 0, votes),
        "first_seen": np.minimum(pairs["first_seen_a"], pairs["first_seen_b"]).to_numpy(),
        "kinds": (pairs["kinds_a"] | pairs["kinds_b"]).to_numpy(),
    }
    arrays = [ids if f.name == "event_ids" else pa.array(columns[f.name], f.type)
              for f in VOTE_SCHEMA]  # fmt: skip
    return group_votes(pa.Table.from_arrays(arrays, schema=VOTE_SCHEMA))


def _joined_lists(lists: pa.ListArray, first: np.ndarray, second: np.ndarray) -> pa.ListArray:
    """Row i: the values of lists[first[i]] followed by those of lists[second[i]] (one take)."""
    offsets = lists.offsets.to_numpy()
    starts = np.stack([offsets[first], offsets[second]], axis=1).ravel()
    lengths = np.stack([offsets[first + 1], offsets[second + 1]], axis=1).ravel() - starts
    ends = np.cumsum(lengths)
    gather = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths - starts, lengths)
    row_offsets = np.r_[0, ends[1::2]].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(row_offsets), lists.values.take(pa.array(gather)))


def empty_hist() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in HIST_COLUMNS}).astype(
        {"score": np.float64, "count": np.int64, "first_seen": np.int64, "kinds": np.int8}
    )


def _runs(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row order that puts equal codes together, start of each group in it, group sizes)."""
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    return order, starts, np.diff(np.r_[starts, len(order)])


def _reduced(columns: dict[str, np.ndarray], sums: list[str], order, starts) -> dict:
    """`sums` added, `first_seen` min, `kinds` or-ed per group."""
    out = {name: np.add.reduceat(columns[name][order], starts) for name in sums}
    out["first_seen"] = np.minimum.reduceat(columns["first_seen"][order], starts)
    out["kinds"] = np.bitwise_or.reduceat(columns["kinds"][order], starts)
    return out


def group(frame: pd.DataFrame, keys: list[str], sums: list[str]) -> pd.DataFrame:
    """Rows with equal `keys` -> one row: `sums` added, `first_seen` min, `kinds` or-ed,
    event-id lists concatenated (deduplicated, sorted)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    code = np.zeros(len(frame), np.int64)
    for key in keys:
        part, uniques = pd.factorize(frame[key], use_na_sentinel=False)
        code, _ = pd.factorize(code * len(uniques) + part)
    order, starts, sizes = _runs(code)
    out = frame.iloc[order[starts]][keys].reset_index(drop=True)
    columns = {name: frame[name].to_numpy() for name in [*sums, "first_seen", "kinds"]}
    for name, values in _reduced(columns, sums, order, starts).items():
        out[name] = values
    id_lists = frame["event_ids"].to_numpy()
    merged = id_lists[order[starts]].copy()
    multi, lists = _merged_id_lists(
        lambda rows: pa.array(id_lists[rows].tolist(), pa.list_(pa.string())), order, starts, sizes
    )
    for g, ids in zip(multi.tolist(), lists.to_pylist() if len(multi) else [], strict=True):
        merged[g] = ids
    out["event_ids"] = merged
    return out


def group_votes(votes: pa.Table) -> pa.Table:
    """`group` for a vote table: one row per (prompt, lo, hi), keys coded by `_key_codes`."""
    if len(votes) == 0:
        return votes
    order, starts, sizes = _runs(_key_codes(votes))
    firsts = order[starts]
    # every key once and in order (usual in a first build): the columns as they are, no copy
    unchanged = len(firsts) == len(votes) and bool((firsts == np.arange(len(votes))).all())
    first_rows = pa.array(firsts)

    def pick(column):
        return column if unchanged else column.take(first_rows)

    sums = ["votes_lo", "votes_hi"]
    columns = {name: votes[name].to_numpy() for name in [*sums, "first_seen", "kinds"]}
    out = {key: pick(votes[key]) for key in ("prompt", "lo", "hi")}
    out.update({name: pa.array(v) for name, v in _reduced(columns, sums, order, starts).items()})
    ids = votes["event_ids"]
    multi, merged = _merged_id_lists(lambda rows: ids.take(pa.array(rows)), order, starts, sizes)
    out["event_ids"] = pick(votes["event_ids"])
    if len(multi):  # replace the merged groups' lists: append them, then point at them
        pointer = np.arange(len(starts))
        pointer[multi] = len(starts) + np.arange(len(multi))
        combined = pa.concat_arrays([out["event_ids"].combine_chunks(), merged])
        out["event_ids"] = combined.take(pa.array(pointer))
    return pa.Table.from_arrays([out[name] for name in VOTE_COLUMNS], schema=VOTE_SCHEMA)


def _key_codes(votes: pa.Table) -> np.ndarray:
    """A code per row for its (prompt, lo, hi), numbered in order of first appearance. With the
    compiled hasher: the SHA-256 of the framed texts (as a pair id is made), no copy of them;
    else Arrow's dictionary of each text column in turn."""
    keys = [votes["prompt"], votes["lo"], votes["hi"]]
    digests = row_digests(keys, len(votes))
    if digests is not None:  # 32 bytes a row: bytes objects, equal exactly when the keys are
        return pd.factorize(np.frombuffer(digests, "S32").astype(object))[0]
    code = np.zeros(len(votes), np.int64)
    for key in keys:
        indices, dictionary = dictionary_codes(key)
        distinct = len(dictionary)
        del dictionary  # a copy of the distinct texts: not kept while the next one is made
        code, _ = pd.factorize(code * distinct + indices)
    return code


def _merged_id_lists(lists_of, order, starts, sizes) -> tuple[np.ndarray, pa.Array | None]:
    """(the groups of several rows, their event-id lists merged: deduplicated and sorted),
    computed on whole columns: one Arrow call per step, none per group. `lists_of(rows)` gives
    those rows' id lists as an Arrow list array."""
    multi = np.flatnonzero(sizes > 1)
    if not len(multi):
        return multi, None
    group_of = np.empty(len(order), np.int64)
    group_of[order] = np.repeat(np.arange(len(starts)), sizes)
    rows = np.flatnonzero(sizes[group_of] > 1)
    flat, offsets = _list_parts(lists_of(rows))
    owner = np.searchsorted(multi, np.repeat(group_of[rows], np.diff(offsets)))
    return multi, _unique_sorted_lists(flat, owner, len(multi))


def unique_id_lists(lists: pa.ListArray) -> pa.ListArray:
    """Each row's ids deduplicated and sorted (a rating vote joins the ids of its two rated
    texts, and one event often rated both)."""
    flat, offsets = _list_parts(lists)
    owner = np.repeat(np.arange(len(lists)), np.diff(offsets))
    return _unique_sorted_lists(flat, owner, len(lists))


def _unique_sorted_lists(flat: pa.Array, owner: np.ndarray, n: int) -> pa.ListArray:
    """List i: the values of `flat` whose `owner` is i, deduplicated and sorted."""
    pairs = pa.table({"group": pa.array(owner, pa.int64()), "id": flat})
    pairs = pairs.take(pc.sort_indices(pairs, [("group", "ascending"), ("id", "ascending")]))
    group, values = pairs["group"].to_numpy(), pairs["id"]
    repeat = np.zeros(len(group), bool)  # an id met before in its group
    if len(group) > 1:
        same_id = pc.equal(values.slice(1), values.slice(0, len(group) - 1))
        repeat[1:] = (group[1:] == group[:-1]) & same_id.to_numpy(zero_copy_only=False)
    group, values = group[~repeat], values.filter(pa.array(~repeat))
    offsets = pa.array(np.r_[0, np.cumsum(np.bincount(group, minlength=n))].astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values.combine_chunks().cast(pa.string()))
