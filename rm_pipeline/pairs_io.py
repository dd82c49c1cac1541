"""Reading preference pairs from JSONL: explicit (prompt, chosen, rejected) or HH transcripts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

ASSISTANT = "\n\nAssistant:"


def split_hh_pair(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two HH transcripts into (prompt, chosen reply, rejected reply).

    The prompt is the shared text up to and including the last `\\n\\nAssistant:` both share.
    """
    common = 0
    limit = min(len(chosen), len(rejected))
    while common < limit and chosen[common] == rejected[common]:
        common += 1
    cut = chosen.rfind(ASSISTANT, 0, common)  # the marker lies wholly inside the shared text
    if cut < 0:
        raise ValueError("HH pair: no shared '\\n\\nAssistant:' turn to split the prompt at")
    end = cut + len(ASSISTANT)
    return chosen[:end], chosen[end:], rejected[end:]


def read_pairs_jsonl(path: str | Path) -> pd.DataFrame:
    """Pairs from JSONL (optionally .gz): `{prompt, chosen, rejected, ...}` or HH `{chosen,
    rejected}` transcripts; extra keys (weight, margin, annotator_kind, ...) are kept."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
            for key in ("chosen", "rejected"):
                if not isinstance(record.get(key), str):
                    raise ValueError(f"{path}:{line_no}: field '{key}' must be a string")
            if "prompt" not in record:
                record["prompt"], record["chosen"], record["rejected"] = split_hh_pair(
                    record["chosen"], record["rejected"]
                )
            records.append(record)
    if not records:
        raise ValueError(f"{path}: no pairs")
    return pd.DataFrame.from_records(records)
