"""The golden human set: prompts excluded from training, pairs the promotion gate scores."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from feedback_ingest.hh import open_text, split_hh
from feedback_ingest.render import render_prompt
from feedback_ingest.schema import prompt_hash

GOLDEN_COLUMNS = ["prompt", "chosen", "rejected", "category", "prompt_hash"]


def _category(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name.split("-golden")[0]


def _golden_row(record: dict, where: str, category: str) -> dict:
    if not isinstance(record, dict) or "chosen" not in record or "rejected" not in record:
        raise ValueError(f"{where}: golden record needs 'chosen' and 'rejected'")
    if "prompt" in record:  # pair format
        prompt = render_prompt(record["prompt"])
        chosen, rejected = str(record["chosen"]).strip(), str(record["rejected"]).strip()
    else:  # HH transcripts
        try:
            prompt, chosen, rejected = split_hh(record["chosen"], record["rejected"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "category": str(record.get("category") or category),
        "prompt_hash": prompt_hash(prompt),
    }


def load_golden(paths: Iterable[Path]):
    """Golden pairs from HH-format or pair-format JSONL files (gzipped or not)."""
    import pandas as pd

    rows = []
    for path in map(Path, paths):
        category = _category(path)
        with open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path.name}:{line_no}: malformed JSON ({exc})") from None
                rows.append(_golden_row(record, f"{path.name}:{line_no}", category))
    return pd.DataFrame(rows, columns=GOLDEN_COLUMNS)


def golden_prompt_hashes(paths: Iterable[Path]) -> set[str]:
    """The prompt hashes of the golden set (what the dataset build excludes)."""
    return set(load_golden(paths)["prompt_hash"])


def golden_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the golden files' bytes (in the given order): identifies the golden set."""
    h = hashlib.sha256()
    for path in map(Path, paths):
        data = path.read_bytes()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()
