"""The fast path of event validation: typed decoding in C (msgspec) plus lean checks.

It only ever ACCEPTS. Whenever anything looks off it answers None, and the caller runs the
reference validator (`validate.validate_event`), which names the reason. So there is one
source of truth for verdicts and reasons, and the common case stays cheap (tests check that
both paths produce identical records).
"""

from __future__ import annotations

import math
import re

import msgspec
from msgspec import UNSET, UnsetType

from feedback_ingest.render import ROLE_LABELS, render_prompt
from feedback_ingest.validate import (
    ANNOTATOR_KINDS,
    EVENT_TYPES,
    Limits,
    encode_metadata,
    parse_timestamp,
)


class _Message(msgspec.Struct, gc=False):
    role: str
    content: str


class _Response(msgspec.Struct, gc=False):
    id: str
    text: str
    policy_version: str | int | None = None


class _Preference(msgspec.Struct, gc=False):
    winner: str | UnsetType = UNSET
    tie: bool | None = None
    order: list[str] | UnsetType = UNSET
    scores: dict[str, float] | UnsetType = UNSET


class _Annotator(msgspec.Struct, gc=False):
    kind: str
    id: str | None = None


class _Event(msgspec.Struct, gc=False):
    event_id: str
    timestamp: str
    type: str
    prompt: str | list[_Message]
    responses: list[_Response]
    preference: _Preference
    annotator: _Annotator
    metadata: dict | None = None


# What a check could still raise on a shape nobody foresaw (an integer no float can hold raised
# OverflowError, an ArithmeticError, before the rating check caught it).
UNFORESEEN = (TypeError, ValueError, AttributeError, KeyError, RecursionError, ArithmeticError)

# What msgspec raises on JSON it cannot decode (UnicodeDecodeError is a ValueError): the
# line, or the metadata object, goes to the Python path that names the reason.
DECODE_ERRORS = (msgspec.DecodeError, ValueError, RecursionError)

# gc=False: decoded JSON holds no reference cycles, and untracked structs spare the collector
# from rescanning every live event of a batch (it otherwise costs as much as the decoding).
_DECODER = msgspec.json.Decoder(_Event)


# A control character can only reach a decoded string through these escapes (raw control
# bytes are invalid JSON) or a raw DEL byte; lone surrogates fail msgspec's decoding. One
# search over the raw line thus stands in for BAD_CHARS on every text of the event.
_SUSPECT = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bf]|\x7f")


def _ok(text: str, max_chars: int) -> str | None:
    """The stripped text if it is short enough and not blank, else None (control characters
    were ruled out on the raw line)."""
    if len(text) > max_chars:
        return None
    return text.strip() or None


def _prompt(prompt: str | list[_Message], limits: Limits) -> str | None:
    if isinstance(prompt, str):
        return render_prompt(prompt) if _ok(prompt, limits.max_text_chars) else None
    if not prompt or len(prompt) > 256:
        return None
    for m in prompt:
        if m.role.lower() not in ROLE_LABELS or not _ok(m.content, limits.max_text_chars):
            return None
    rendered = render_prompt([{"role": m.role, "content": m.content} for m in prompt])
    return rendered if len(rendered) <= limits.max_text_chars else None


def _preference(kind: str, pref: _Preference, ids: list[str]) -> dict | None:
    out = {"winner_idx": -1, "tie": False, "order_idx": None, "scores": None}
    if kind == "pairwise":
        has_winner = pref.winner is not UNSET
        if pref.tie is True and not has_winner:
            out["tie"] = True
        elif has_winner and not pref.tie and pref.winner in ids:
            out["winner_idx"] = ids.index(pref.winner)
        else:
            return None
    elif kind == "ranking":
        if pref.order is UNSET or not all(rid in ids for rid in pref.order):
            return None
        order = [ids.index(rid) for rid in pref.order]
        if len(order) < 2 or len(set(order)) != len(order):
            return None
        out["order_idx"] = order
    else:
        scores = pref.scores
        if scores is UNSET or not scores or not all(rid in ids for rid in scores):
            return None
        if not all(math.isfinite(v) for v in scores.values()):
            return None
        out["scores"] = [float(scores[rid]) if rid in scores else None for rid in ids]
    return out


def _utf8(raw: bytes) -> bool:
    """Whether all of `raw` is UTF-8: msgspec checks only the fields it decodes, and skips
    unknown ones unread, where the reference rejects any invalid byte."""
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def fast_record(raw: bytes, limits: Limits) -> dict | None:
    """The accepted-event record of `raw`, or None: "ask the reference validator"."""
    if len(raw) > limits.max_event_bytes or _SUSPECT.search(raw) or not _utf8(raw):
        return None
    try:
        event = _DECODER.decode(raw)
    except DECODE_ERRORS:
        return None
    return decoded_record(event, limits)


def decoded_record(event: _Event, limits: Limits) -> dict | None:
    """`fast_record` of an event already decoded from a line that passed its screen (size,
    suspect escapes, UTF-8): the batched lane decodes whole batches and calls this. A check
    that raises means "unsure" here too: the reference validator judges the line."""
    try:
        return _record(event, limits)
    except UNFORESEEN:
        return None


def _record(event: _Event, limits: Limits) -> dict | None:
    kind, responses = event.type, event.responses
    if kind not in EVENT_TYPES or event.annotator.kind not in ANNOTATOR_KINDS:
        return None
    if not (1 if kind == "rating" else 2) <= len(responses) <= limits.max_responses:
        return None
    id_max, text_max = limits.max_id_chars, limits.max_text_chars
    ids = [r.id for r in responses]
    texts = [_ok(r.text, text_max) for r in responses]
    if None in texts or not all(_ok(rid, id_max) for rid in ids) or len(set(ids)) < len(ids):
        return None
    if kind != "rating" and len(set(texts)) < len(texts):
        return None
    if not _ok(event.event_id, id_max):
        return None
    annotator_id = event.annotator.id
    if annotator_id is not None and not (annotator_id := _ok(annotator_id, id_max)):
        return None
    timestamp = parse_timestamp(event.timestamp)
    prompt = _prompt(event.prompt, limits)
    pref = _preference(kind, event.preference, ids)
    if timestamp is None or prompt is None or pref is None:
        return None
    policies = [None if r.policy_version is None else str(r.policy_version)[:id_max]
                for r in responses]  # fmt: skip
    return {
        "event_id": event.event_id,
        "timestamp": timestamp,
        "type": kind,
        "prompt": prompt,
        "annotator_id": annotator_id,
        "annotator_kind": event.annotator.kind,
        "response_ids": ids,
        "response_texts": texts,
        "policy_versions": policies,
        **pref,
        "metadata": encode_metadata(event.metadata),
    }
