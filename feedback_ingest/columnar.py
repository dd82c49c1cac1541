"""Batched validation of JSONL lines: msgspec decoding, then checks on whole columns.

The common event shape (pairwise, two responses, a text or chat prompt) is validated column by
column with NumPy and Arrow (chat prompts one by one) and lands directly in an Arrow table,
with no per-event dict. Other decoded events (rankings, ratings, more responses) are judged one
by one by `fast.decoded_record`, without screening and decoding their lines a second time.
Like `fast.py` this lane only ever ACCEPTS: a line it is unsure of goes back to the caller's
per-line path (`fast.fast_record`, then the reference validator, which names the reason), so
verdicts keep one source of truth; tests check that both paths store identical records.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from contextlib import contextmanager

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedback_ingest import native
from feedback_ingest.fast import _DECODER, DECODE_ERRORS, _utf8, decoded_record
from feedback_ingest.fast import _prompt as _chat_prompt
from feedback_ingest.render import ASSISTANT, HUMAN, HUMAN_BARE, render_prompt
from feedback_ingest.store import EVENT_SCHEMA, events_table
from feedback_ingest.validate import Limits, encode_metadata, parse_timestamp

# Lone surrogates must fail like the reference (control_chars); valid pairs are rare, so any
# surrogate escape simply takes the per-line path.
# One literal-prefixed pattern (no top-level alternation) lets `re` skip ahead quickly; the
# raw DEL byte is found separately. Together they cover `fast._SUSPECT`.
_SCREEN = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bf]|u[dD][89a-fA-F])")
# Timestamps Arrow parses exactly as `datetime.fromisoformat` does (checked by the tests);
# any other spelling is parsed by Python, one by one.
_ISO = (r"^(?:19|20)\d\d-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
        r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$")  # fmt: skip
_TS_TYPE = pa.timestamp("us", tz="UTC")


@contextmanager
def _gc_paused():
    """The cyclic collector rescans every live object of a batch on each generation-2 pass;
    batches allocate many and form no cycles, so it is paused for the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _screened(lines: list[bytes], limits: Limits) -> np.ndarray:
    """Mask of lines the lane may decode: not oversized, valid UTF-8, no escape that could hide
    a control character or a lone surrogate (one regex pass over the joined batch)."""
    sizes = np.fromiter(map(len, lines), np.int64, len(lines))
    ok = sizes <= limits.max_event_bytes
    ends = np.cumsum(sizes + 1)  # each line plus its separator
    blob = b"\n".join(lines)
    hits = [m.start() for m in _SCREEN.finditer(blob)]
    at = blob.find(b"\x7f")
    while at >= 0:
        hits.append(at)
        at = blob.find(b"\x7f", at + 1)
    if hits:
        ok[np.searchsorted(ends, np.array(hits), side="right")] = False
    if not _valid_utf8(blob):  # msgspec skips unknown fields unchecked; the reference does not
        ok &= np.fromiter(map(_utf8, lines), bool, len(lines))
    return ok


def _valid_utf8(blob: bytes) -> bool:
    """Whether `blob` is valid UTF-8, checked by Arrow in place (no 1 GB str for a 1 GB batch)."""
    if blob.isascii():
        return True
    offsets = pa.py_buffer(np.array([0, len(blob)], np.int64).tobytes())
    data = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(blob)])
    try:
        data.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _decode(lines: list[bytes]) -> list:
    """Each line decoded, or None where msgspec refuses it."""
    try:
        return [_DECODER.decode(line) for line in lines]
    except DECODE_ERRORS:
        pass
    out = []
    for line in lines:
        try:
            out.append(_DECODER.decode(line))
        except DECODE_ERRORS:
            out.append(None)
    return out


def _texts(values: list[str], max_chars: int) -> tuple[list[str], np.ndarray]:
    """(stripped texts, mask of those within `max_chars` and not blank)."""
    n = len(values)
    stripped = list(map(str.strip, values))
    ok = np.fromiter(map(len, values), np.int64, n) <= max_chars
    return stripped, ok & (np.fromiter(map(len, stripped), np.int64, n) > 0)


def _annotator_ids(raw: list[str | None], id_max: int) -> tuple[list, np.ndarray]:
    """(stripped ids, mask of valid ones): an annotator id is optional but never blank."""
    stripped = [None if a is None else a.strip() or None for a in raw]
    ok = [
        a is None or (s is not None and len(a) <= id_max)
        for a, s in zip(raw, stripped, strict=True)
    ]
    return stripped, np.array(ok, dtype=bool)


def _timestamps(raw: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(epoch microseconds, mask of valid ones), Arrow for the usual spelling."""
    arr = pa.array(raw, pa.string())
    usual = pc.match_substring_regex(arr, _ISO).to_numpy(zero_copy_only=False)
    micros = np.zeros(len(raw), np.int64)
    ok = usual.copy()
    try:
        micros[usual] = pc.cast(arr.filter(usual), _TS_TYPE).cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid:  # e.g. 30 February: let Python judge each one
        ok[:] = False
        usual[:] = False
    for i in np.flatnonzero(~usual):
        value = parse_timestamp(raw[i])
        if value is not None:
            micros[i], ok[i] = value, True
    return micros, ok


def _preference(events: list, id0: np.ndarray, id1: np.ndarray) -> tuple[np.ndarray, ...]:
    """(winner_idx, tie, mask of valid pairwise preferences), as `fast._preference` decides."""
    prefs = [e.preference for e in events]
    winner = np.array([p.winner for p in prefs], dtype=object)
    unset = np.fromiter((w is msgspec.UNSET for w in winner), bool, len(prefs))
    tie_true = np.fromiter((p.tie is True for p in prefs), bool, len(prefs))
    is0, is1 = winner == id0, winner == id1
    wins = ~unset & ~tie_true & (is0 | is1)
    ties = tie_true & unset
    winner_idx = np.where(wins, np.where(is0, 0, 1), -1).astype(np.int32)
    return winner_idx, ties, wins | ties


def _pairs_array(first: list, second: list, value_type: pa.DataType) -> pa.ListArray:
    flat = np.empty(2 * len(first), dtype=object)
    flat[0::2], flat[1::2] = first, second
    offsets = pa.array(np.arange(0, len(flat) + 1, 2, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(flat, value_type))


def _policies(responses: list, id_max: int) -> list:
    return [None if r.policy_version is None else str(r.policy_version)[:id_max] for r in responses]


def _prompt_checks(prompts: list, limits: Limits) -> tuple[list, np.ndarray, dict]:
    """(stripped text prompts, mask of valid prompts, rendered chat prompts by position, None
    where invalid): chat prompts (message lists) are checked and rendered one by one, as
    `fast` does."""
    chat = {i: _chat_prompt(p, limits) for i, p in enumerate(prompts) if p.__class__ is not str}
    texts = [p if i not in chat else "" for i, p in enumerate(prompts)] if chat else prompts
    stripped, ok = _texts(texts, limits.max_text_chars)
    for i, rendered in chat.items():
        ok[i] = rendered is not None
    return stripped, ok, chat


def _lane_table(events: list, limits: Limits) -> tuple[pa.Table, np.ndarray]:
    """(table of the events that pass every check, mask of those events)."""
    id_max = limits.max_id_chars
    r0 = [e.responses[0] for e in events]
    r1 = [e.responses[1] for e in events]
    id0, id1 = [r.id for r in r0], [r.id for r in r1]
    event_ids = [e.event_id for e in events]
    prompts = [e.prompt for e in events]
    stripped, ok_prompt, chat = _prompt_checks(prompts, limits)
    _, ok = _texts(event_ids, id_max)
    for ids in (id0, id1):
        ok &= _texts(ids, id_max)[1]
    t0, ok0 = _texts([r.text for r in r0], limits.max_text_chars)
    t1, ok1 = _texts([r.text for r in r1], limits.max_text_chars)
    ok &= ok0 & ok1 & ok_prompt
    id0_arr, id1_arr = np.array(id0, dtype=object), np.array(id1, dtype=object)
    ok &= (id0_arr != id1_arr) & (np.array(t0, dtype=object) != np.array(t1, dtype=object))
    kinds = np.array([e.annotator.kind for e in events], dtype=object)
    ok &= (kinds == "human") | (kinds == "ai")
    ann_stripped, ok_ann = _annotator_ids([e.annotator.id for e in events], id_max)
    ok &= ok_ann
    micros, ok_ts = _timestamps([e.timestamp for e in events])
    winner_idx, ties, ok_pref = _preference(events, id0_arr, id1_arr)
    ok &= ok_ts & ok_pref
    keep = np.flatnonzero(ok)
    pick = keep.tolist()

    def take(values: list) -> list:  # most batches keep every event: no copy then
        return values if len(pick) == len(values) else [values[i] for i in pick]

    prompts, stripped, metadata = take(prompts), take(stripped), take([e.metadata for e in events])
    rendered = [
        chat[i] if i in chat
        else render_prompt(p) if s.startswith(HUMAN_BARE) else f"{HUMAN} {s}{ASSISTANT}"
        for i, p, s in zip(pick, prompts, stripped, strict=True)
    ]  # fmt: skip
    columns = {
        "event_id": pa.array(take(event_ids), pa.string()),
        "timestamp": pa.array(micros[keep], pa.int64()).cast(_TS_TYPE),
        "type": pa.array(["pairwise"] * len(pick), pa.string()),
        "prompt": pa.array(rendered, pa.string()),
        "annotator_id": pa.array(take(ann_stripped), pa.string()),
        "annotator_kind": pa.array(kinds[keep], pa.string()),
        "response_ids": _pairs_array(id0_arr[keep], id1_arr[keep], pa.string()),
        "response_texts": _pairs_array(take(t0), take(t1), pa.string()),
        "policy_versions": _pairs_array(
            _policies(take(r0), id_max), _policies(take(r1), id_max), pa.string()
        ),
        "winner_idx": pa.array(winner_idx[keep], pa.int32()),
        "tie": pa.array(ties[keep], pa.bool_()),
        "order_idx": pa.nulls(len(pick), pa.list_(pa.int32())),
        "scores": pa.nulls(len(pick), pa.list_(pa.float64())),
        "metadata": pa.array(
            [None if m is None else encode_metadata(m) for m in metadata], pa.string()
        ),
    }
    table = pa.Table.from_arrays([columns[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)
    return table, ok


def validate_lines(
    lines: list[bytes], limits: Limits, lanes: Counter | None = None
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Validate raw JSONL lines in one batch: the native lane first, this one for the lines it
    leaves. `lanes`, if given, counts the events each lane accepted ("native", "batched").

    Returns (accepted events in EVENT_SCHEMA, their positions in `lines` in ascending order,
    positions of the lines left to the per-line path: other shapes, and everything suspicious
    or invalid).
    """
    lanes = Counter() if lanes is None else lanes
    scanned = native.scan_lines(lines, limits)
    if scanned is None:
        table, positions, rest = _python_lane(lines, limits)
        lanes["batched"] += len(table)
        return table, positions, rest
    table, taken = scanned
    lanes["native"] += len(table)
    if taken.all():
        return table, np.arange(len(lines), dtype=np.int64), np.array([], dtype=np.int64)
    left = np.flatnonzero(~taken)
    more, more_pos, rest = _python_lane([lines[i] for i in left], limits)
    lanes["batched"] += len(more)
    positions = np.concatenate([np.flatnonzero(taken), left[more_pos]])
    if len(more):
        order = np.argsort(positions, kind="stable")
        table, positions = pa.concat_tables([table, more]).take(pa.array(order)), positions[order]
    return table, positions, left[rest]


def _python_lane(lines: list[bytes], limits: Limits) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """`validate_lines` without the native lane: msgspec decoding, checks on whole columns."""
    with _gc_paused():
        screened = _screened(lines, limits)
        candidates = np.flatnonzero(screened)
        decoded = _decode(lines if screened.all() else [lines[i] for i in candidates])
        lane, other = [], []
        for i, e in zip(candidates.tolist(), decoded, strict=True):
            if e is not None:
                common = e.type == "pairwise" and len(e.responses) == 2
                (lane if common else other).append((i, e))
        table, ok = _lane_table([e for _, e in lane], limits)
        records = [(i, r) for i, e in other if (r := decoded_record(e, limits)) is not None]
    accepted = np.array([i for i, _ in lane], dtype=np.int64)[ok]
    if records:  # rankings, ratings, more responses: judged one by one, decoded once
        table = pa.concat_tables([table, events_table([r for _, r in records])])
        accepted = np.concatenate([accepted, np.array([i for i, _ in records], np.int64)])
        order = np.argsort(accepted, kind="stable")
        table, accepted = table.take(pa.array(order)), accepted[order]
    rest = np.ones(len(lines), bool)
    rest[accepted] = False
    return table, accepted, np.flatnonzero(rest)
