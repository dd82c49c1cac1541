"""Validation of feedback events against the event contract (DESIGN.md).

Text is untrusted: sizes are bounded, nothing is evaluated, and every problem becomes an
`EventRejected` carrying a machine-readable reason code and the offending field, never a crash.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from feedback_ingest.render import ROLE_LABELS, render_prompt

EVENT_TYPES = ("pairwise", "ranking", "rating")
ANNOTATOR_KINDS = ("human", "ai")
# C0 controls except tab/newline/CR, DEL, and lone surrogates (which cannot be stored as UTF-8).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What Python's datetime can hold in UTC: an offset can carry a valid local time past year 9999
# or before year 1, and such a value would break every reader of the dataset later.
MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class EventRejected(Exception):  # noqa: N818 - it is a verdict, not a programming error
    """An event that breaks the contract: `reason` code, offending `field`, human `detail`."""

    def __init__(self, reason: str, field: str, detail: str = "") -> None:
        super().__init__(f"{reason} at {field}: {detail}" if detail else f"{reason} at {field}")
        self.reason = reason
        self.field = field
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "field": self.field, "detail": self.detail}


@dataclass(frozen=True)
class Limits:
    """The validation bounds (taken from IngestConfig)."""

    max_event_bytes: int = 256 * 1024
    max_text_chars: int = 20_000
    max_responses: int = 16
    max_id_chars: int = 256

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        return cls(
            config.max_event_bytes, config.max_text_chars, config.max_responses, config.max_id_chars
        )


def parse_raw(raw: bytes, limits: Limits) -> dict:
    """Raw bytes of one event -> JSON object (size, UTF-8 and JSON checked)."""
    if len(raw) > limits.max_event_bytes:
        raise EventRejected("oversize_event", "$", f"{len(raw)} bytes > {limits.max_event_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventRejected("invalid_utf8", "$", f"byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EventRejected("malformed_json", "$", str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise EventRejected("not_an_object", "$", type(obj).__name__)
    return obj


def _require(obj: dict, key: str, kind: type | tuple[type, ...], field: str) -> Any:
    if key not in obj or obj[key] is None:
        raise EventRejected("missing_field", field)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise EventRejected("wrong_type", field, type(value).__name__)
    return value


def _text(value: Any, field: str, limits: Limits, max_chars: int | None = None) -> str:
    if value is None:
        raise EventRejected("missing_field", field)
    if not isinstance(value, str):
        raise EventRejected("wrong_type", field, type(value).__name__)
    if len(value) > (max_chars or limits.max_text_chars):
        raise EventRejected("oversize_text", field, f"{len(value)} chars")
    if BAD_CHARS.search(value):
        raise EventRejected("control_chars", field, "NUL, control or surrogate character")
    stripped = value.strip()
    if not stripped:
        raise EventRejected("empty_text", field)
    return stripped


def parse_timestamp(raw: str) -> int | None:
    """ISO 8601 with a zone -> microseconds since the epoch (UTC); None if not valid."""
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if ts.tzinfo is None:
        return None
    micros = (ts - _EPOCH) // _MICROSECOND
    return micros if MIN_MICROS <= micros <= MAX_MICROS else None


def encode_metadata(metadata: dict | None) -> str | None:
    """Metadata as compact JSON text (the same bytes whichever path validated the event)."""
    if not metadata:
        return None
    try:
        return msgspec.json.encode(metadata).decode()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):  # big ints, surrogates
        return json.dumps(metadata, separators=(",", ":"))


def _timestamp(obj: dict) -> int:
    raw = _require(obj, "timestamp", str, "timestamp")
    micros = parse_timestamp(raw)
    if micros is None:
        raise EventRejected("bad_timestamp", "timestamp", f"need ISO 8601 with zone: {raw[:64]}")
    return micros


def _prompt(obj: dict, limits: Limits) -> str:
    prompt = obj.get("prompt")
    if prompt is None:
        raise EventRejected("missing_field", "prompt")
    if isinstance(prompt, str):
        _text(prompt, "prompt", limits)
        return render_prompt(prompt)
    if not isinstance(prompt, list) or not prompt:
        raise EventRejected("wrong_type", "prompt", "expected text or a non-empty message list")
    if len(prompt) > 256:
        raise EventRejected("oversize_text", "prompt", f"{len(prompt)} messages")
    for i, message in enumerate(prompt):
        if not isinstance(message, dict):
            raise EventRejected("wrong_type", f"prompt[{i}]", type(message).__name__)
        role = _require(message, "role", str, f"prompt[{i}].role")
        if role.lower() not in ROLE_LABELS:
            raise EventRejected("bad_role", f"prompt[{i}].role", role[:32])
        _text(message.get("content"), f"prompt[{i}].content", limits)
    rendered = render_prompt(prompt)
    if len(rendered) > limits.max_text_chars:
        raise EventRejected("oversize_text", "prompt", f"{len(rendered)} chars rendered")
    return rendered


def _responses(obj: dict, minimum: int, limits: Limits) -> tuple[list, list, list]:
    responses = _require(obj, "responses", list, "responses")
    if len(responses) < minimum:
        raise EventRejected("too_few_responses", "responses", f"{len(responses)} < {minimum}")
    if len(responses) > limits.max_responses:
        raise EventRejected("too_many_responses", "responses", f"{len(responses)}")
    ids, texts, policies = [], [], []
    for i, response in enumerate(responses):
        if not isinstance(response, dict):
            raise EventRejected("wrong_type", f"responses[{i}]", type(response).__name__)
        rid = _require(response, "id", str, f"responses[{i}].id")
        _text(rid, f"responses[{i}].id", limits, limits.max_id_chars)
        if rid in ids:
            raise EventRejected("duplicate_response_id", f"responses[{i}].id", rid[:64])
        ids.append(rid)
        texts.append(_text(response.get("text"), f"responses[{i}].text", limits))
        policy = response.get("policy_version")
        if policy is not None and (not isinstance(policy, str | int) or isinstance(policy, bool)):
            raise EventRejected("wrong_type", f"responses[{i}].policy_version")
        policies.append(None if policy is None else str(policy)[: limits.max_id_chars])
    return ids, texts, policies


def _index(ids: list[str], rid: Any, field: str) -> int:
    if not isinstance(rid, str):
        raise EventRejected("wrong_type", field, type(rid).__name__)
    try:
        return ids.index(rid)
    except ValueError:
        raise EventRejected("unknown_response_id", field, rid[:64]) from None


def _preference(kind: str, pref: dict, ids: list[str], texts: list[str]) -> dict:
    """The preference as response indices: winner_idx / tie / order_idx / scores."""
    out: dict[str, Any] = {"winner_idx": -1, "tie": False, "order_idx": None, "scores": None}
    if kind != "rating" and len(set(texts)) < len(texts):
        raise EventRejected("identical_responses", "responses", "two responses have the same text")
    if kind == "pairwise":
        if pref.get("tie") is not None and not isinstance(pref["tie"], bool):
            raise EventRejected("wrong_type", "preference.tie", type(pref["tie"]).__name__)
        if pref.get("tie") is True and "winner" not in pref:
            out["tie"] = True
        elif "winner" in pref and not pref.get("tie"):
            out["winner_idx"] = _index(ids, pref["winner"], "preference.winner")
        else:
            raise EventRejected("bad_preference", "preference", "need winner or tie: true")
    elif kind == "ranking":
        order = _require(pref, "order", list, "preference.order")
        idx = [_index(ids, rid, f"preference.order[{i}]") for i, rid in enumerate(order)]
        if len(idx) < 2 or len(set(idx)) != len(idx):
            raise EventRejected("bad_preference", "preference.order", "need >= 2 distinct ids")
        out["order_idx"] = idx
    else:
        scores = _require(pref, "scores", dict, "preference.scores")
        if not scores:
            raise EventRejected("bad_preference", "preference.scores", "no scores")
        values: list[float | None] = [None] * len(ids)
        for rid, score in scores.items():
            i = _index(ids, rid, f"preference.scores.{str(rid)[:64]}")
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise EventRejected("wrong_type", f"preference.scores.{rid[:64]}")
            try:
                values[i] = float(score)  # an integer past the float range cannot be one
            except OverflowError:
                raise EventRejected(
                    "bad_score", f"preference.scores.{rid[:64]}", f"{str(score)[:32]}..."
                ) from None
            if not math.isfinite(values[i]):
                raise EventRejected("bad_score", f"preference.scores.{rid[:64]}", str(score))
        out["scores"] = values
    return out


def validate_event(obj: dict, limits: Limits) -> dict:
    """A parsed event -> the normalised record stored for accepted events (or EventRejected)."""
    event_id = _require(obj, "event_id", str, "event_id")
    _text(event_id, "event_id", limits, limits.max_id_chars)
    kind = _require(obj, "type", str, "type")
    if kind not in EVENT_TYPES:
        raise EventRejected("unknown_type", "type", kind[:32])
    timestamp = _timestamp(obj)
    prompt = _prompt(obj, limits)
    ids, texts, policies = _responses(obj, 1 if kind == "rating" else 2, limits)
    pref = _preference(kind, _require(obj, "preference", dict, "preference"), ids, texts)
    annotator = _require(obj, "annotator", dict, "annotator")
    annotator_kind = _require(annotator, "kind", str, "annotator.kind")
    if annotator_kind not in ANNOTATOR_KINDS:
        raise EventRejected("bad_annotator_kind", "annotator.kind", annotator_kind[:32])
    annotator_id = annotator.get("id")
    if annotator_id is not None:
        annotator_id = _text(annotator_id, "annotator.id", limits, limits.max_id_chars)
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise EventRejected("wrong_type", "metadata", type(metadata).__name__)
    return {
        "event_id": event_id,
        "timestamp": timestamp,
        "type": kind,
        "prompt": prompt,
        "annotator_id": annotator_id,
        "annotator_kind": annotator_kind,
        "response_ids": ids,
        "response_texts": texts,
        "policy_versions": policies,
        **pref,
        "metadata": encode_metadata(metadata),
    }
