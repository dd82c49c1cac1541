"""The preference-pair record: the contract between ingest, training and validation.

A dataset snapshot's `train.parquet` / `val.parquet` hold exactly `PAIR_COLUMNS` with the
types of `PAIR_SCHEMA`. `rm_pipeline` and `validation` may import this module.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

SCHEMA_VERSION = 1

PAIR_SCHEMA = pa.schema(
    [
        pa.field("pair_id", pa.string(), nullable=False),  # stable hash of prompt, chosen, rejected
        pa.field("prompt", pa.string(), nullable=False),  # rendered text (chat turns rendered)
        pa.field("chosen", pa.string(), nullable=False),
        pa.field("rejected", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),  # > 0; training loss weight
        pa.field("n_votes", pa.int64(), nullable=False),  # judgments aggregated into this pair
        pa.field("agreement", pa.float64(), nullable=False),  # share of votes for the majority
        pa.field("annotator_kind", pa.string(), nullable=False),  # human | ai | mixed
        pa.field("source_event_ids", pa.list_(pa.string()), nullable=False),
        pa.field("first_seen", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("prompt_hash", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # train | val
    ]
)
PAIR_COLUMNS: tuple[str, ...] = tuple(PAIR_SCHEMA.names)
SPLITS = ("train", "val")


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))  # length-prefixed: ("ab","c") != ("a","bc")
        h.update(data)
    return h.hexdigest()


def prompt_hash(prompt: str) -> str:
    """Hash of a rendered prompt; drives the train/val split and the golden exclusion."""
    return _digest(prompt.strip())[:32]


def pair_id(prompt: str, chosen: str, rejected: str) -> str:
    """Stable id of an ordered (prompt, chosen, rejected) triple."""
    return _digest(prompt.strip(), chosen, rejected)[:32]
