"""Accepted events -> preference votes, vectorised (Arrow + NumPy, no per-event Python loop).

A vote table has one row per unordered (prompt, lo, hi) response pair, `lo < hi` as text,
with the votes for each side, the contributing event ids, the earliest timestamp and the
annotator kinds as bits (1 human, 2 ai). Votes are additive, so an incremental snapshot adds
the new events' votes to the parent's and re-decides only the pairs they touch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KIND_BITS = {"human": 1, "ai": 2}
KIND_NAMES = {1: "human", 2: "ai", 3: "mixed"}
VOTE_COLUMNS = ["prompt", "lo", "hi", "votes_lo", "votes_hi", "event_ids", "first_seen", "kinds"]
HIST_COLUMNS = ["prompt", "text", "score", "count", "event_ids", "first_seen", "kinds"]


def _list_parts(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list column -> (flat values as NumPy, offsets into them)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    start, stop = arr.offsets[0].as_py(), arr.offsets[-1].as_py()
    offsets = arr.offsets.to_numpy() - start
    values = arr.values.slice(start, stop - start).to_numpy(zero_copy_only=False)
    return values, offsets


def _event_columns(events: pa.Table) -> dict[str, np.ndarray]:
    kinds = pc.if_else(pc.equal(events["annotator_kind"], "ai"), 2, 1).to_numpy()
    return {
        "prompt": events["prompt"].to_numpy(),
        "event_id": events["event_id"].to_numpy(),
        "ts": events["timestamp"].cast(pa.int64()).to_numpy(),
        "kinds": kinds.astype(np.int8),
    }


def _singletons(ids: np.ndarray) -> np.ndarray:
    """Each id as a one-element list (an object array of lists)."""
    return np.fromiter(([e] for e in ids), dtype=object, count=len(ids))


def _judgments(events: pa.Table, winner: np.ndarray, loser: np.ndarray, ev: np.ndarray):
    """(winner text, loser text) per judgment + its event's columns -> a vote frame."""
    cols = _event_columns(events)
    lo_wins = winner < loser  # elementwise text comparison
    return pd.DataFrame(
        {
            "prompt": cols["prompt"][ev],
            "lo": np.where(lo_wins, winner, loser),
            "hi": np.where(lo_wins, loser, winner),
            "votes_lo": lo_wins.astype(np.int64),
            "votes_hi": (~lo_wins).astype(np.int64),
            "event_ids": _singletons(cols["event_id"][ev]),
            "first_seen": cols["ts"][ev],
            "kinds": cols["kinds"][ev],
        }
    )


def pairwise_votes(events: pa.Table) -> pd.DataFrame:
    """Pairwise events with a winner: the winner beats every other response of the event."""
    events = events.filter(pc.greater_equal(events["winner_idx"], 0))
    texts, offsets = _list_parts(events["response_texts"])
    lengths = np.diff(offsets)
    ev = np.repeat(np.arange(len(events)), lengths)
    pos = np.arange(len(texts)) - offsets[ev]
    win_idx = events["winner_idx"].to_numpy().astype(np.int64)
    keep = pos != win_idx[ev]
    winner = texts[offsets[ev] + win_idx[ev]][keep]
    return _judgments(events, winner, texts[keep], ev[keep])


def ranking_votes(events: pa.Table) -> pd.DataFrame:
    """Ranking events: every ranked response beats every response ranked below it."""
    texts, t_offsets = _list_parts(events["response_texts"])
    order, o_offsets = _list_parts(events["order_idx"])
    ev = np.repeat(np.arange(len(events)), np.diff(o_offsets))
    rank = np.arange(len(order)) - o_offsets[ev]
    flat = pd.DataFrame({"ev": ev, "rank": rank, "text": texts[t_offsets[ev] + order]})
    pairs = flat.merge(flat, on="ev", suffixes=("_w", "_l"))
    pairs = pairs[pairs["rank_w"] < pairs["rank_l"]]
    return _judgments(
        events,
        pairs["text_w"].to_numpy(),
        pairs["text_l"].to_numpy(),
        pairs["ev"].to_numpy(),
    )


def rating_rows(events: pa.Table) -> pd.DataFrame:
    """Rating events -> a histogram: one row per (prompt, response text, score)."""
    texts, offsets = _list_parts(events["response_texts"])
    scores, _ = _list_parts(events["scores"])
    ev = np.repeat(np.arange(len(events)), np.diff(offsets))
    cols = _event_columns(events)
    rated = ~pd.isna(scores)
    rows = pd.DataFrame(
        {
            "prompt": cols["prompt"][ev][rated],
            "text": texts[rated],
            "score": scores[rated].astype(np.float64),
            "count": np.ones(int(rated.sum()), np.int64),
            "event_ids": _singletons(cols["event_id"][ev][rated]),
            "first_seen": cols["ts"][ev][rated],
            "kinds": cols["kinds"][ev][rated],
        }
    )
    return group(rows, ["prompt", "text", "score"], sums=["count"])


def rating_votes(old_hist: pd.DataFrame, new_hist: pd.DataFrame) -> pd.DataFrame:
    """Votes that the new ratings add: every pair of ratings of one prompt with different
    scores is one vote, counted only when at least one of the two ratings is new."""
    if new_hist.empty:
        return empty_votes()
    prompts = new_hist["prompt"].unique()
    old = old_hist[old_hist["prompt"].isin(prompts)].assign(old=lambda d: d["count"])
    new = new_hist.assign(old=0)
    hist = group(pd.concat([old, new], ignore_index=True), ["prompt", "text", "score"],
                 sums=["count", "old"])  # fmt: skip
    pairs = hist.merge(hist, on="prompt", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["score_a"] > pairs["score_b"]) & (pairs["text_a"] != pairs["text_b"])]
    votes = pairs["count_a"] * pairs["count_b"] - pairs["old_a"] * pairs["old_b"]
    pairs, votes = pairs[votes > 0], votes[votes > 0].to_numpy()
    a_is_lo = (pairs["text_a"] < pairs["text_b"]).to_numpy()
    a, b = pairs["text_a"].to_numpy(), pairs["text_b"].to_numpy()
    ids = [x + y for x, y in zip(pairs["event_ids_a"], pairs["event_ids_b"], strict=True)]
    frame = pd.DataFrame(
        {
            "prompt": pairs["prompt"].to_numpy(),
            "lo": np.where(a_is_lo, a, b),
            "hi": np.where(a_is_lo, b, a),
            "votes_lo": np.where(a_is_lo, votes, 0),
            "votes_hi": np.where(a_is_lo, 0, votes),
            "event_ids": pd.Series(ids, dtype=object).to_numpy(),
            "first_seen": np.minimum(pairs["first_seen_a"], pairs["first_seen_b"]).to_numpy(),
            "kinds": (pairs["kinds_a"] | pairs["kinds_b"]).to_numpy(),
        }
    )
    return group(frame, ["prompt", "lo", "hi"], sums=["votes_lo", "votes_hi"])


def empty_votes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in VOTE_COLUMNS}).astype(
        {"votes_lo": np.int64, "votes_hi": np.int64, "first_seen": np.int64, "kinds": np.int8}
    )


def empty_hist() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in HIST_COLUMNS}).astype(
        {"score": np.float64, "count": np.int64, "first_seen": np.int64, "kinds": np.int8}
    )


def _codes(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    code = np.zeros(len(frame), np.int64)
    for key in keys:
        part, uniques = pd.factorize(frame[key], use_na_sentinel=False)
        code, _ = pd.factorize(code * len(uniques) + part)
    return code


def group(
    frame: pd.DataFrame, keys: list[str], sums: list[str], lists: str = "event_ids"
) -> pd.DataFrame:
    """Rows with equal `keys` -> one row: `sums` added, `first_seen` min, `kinds` or-ed,
    event-id lists concatenated (deduplicated, sorted)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    code = _codes(frame, keys)
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    firsts = order[starts]
    out = frame.iloc[firsts][keys].reset_index(drop=True)
    for name in sums:
        out[name] = np.add.reduceat(frame[name].to_numpy()[order], starts)
    out["first_seen"] = np.minimum.reduceat(frame["first_seen"].to_numpy()[order], starts)
    out["kinds"] = np.bitwise_or.reduceat(frame["kinds"].to_numpy()[order], starts)
    id_lists = frame[lists].to_numpy()
    merged = id_lists[firsts].copy()
    for g in np.flatnonzero(sizes > 1):  # few groups: repeated judgments of one pair
        rows = order[starts[g] : starts[g] + sizes[g]]
        merged[g] = sorted({e for i in rows for e in id_lists[i]})
    out[lists] = merged
    return out
