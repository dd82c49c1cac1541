"""HH-RLHF transcripts -> contract events, so real human data replays as production feedback.

An HH pair is two full transcripts (`chosen`, `rejected`) that differ only in the last
`\\n\\nAssistant:` turn; the shared part up to and including that marker is the prompt.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedback_ingest.render import ASSISTANT


def split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(prompt, chosen response, rejected response); ValueError when there is no shared prompt."""
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        raise ValueError("chosen and rejected must be text")
    common = 0
    limit = min(len(chosen), len(rejected))
    while common < limit and chosen[common] == rejected[common]:
        common += 1
    # The prompt ends with the last Assistant marker that both transcripts share completely.
    cut = chosen.rfind(ASSISTANT, 0, common)
    if cut < 0:
        raise ValueError("no shared '\\n\\nAssistant:' turn before the transcripts differ")
    end = cut + len(ASSISTANT)
    return chosen[:end], chosen[end:].strip(), rejected[end:].strip()


def open_text(path: Path):
    """Open a `.jsonl` or `.jsonl.gz` file for text reading."""
    path = Path(path)
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path)


def _record(line: str, path: Path, line_no: int) -> dict:
    """One HH line as its JSON object; ValueError naming the file and line otherwise (the file
    is refused whole, before anything lands)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path.name} line {line_no + 1}: not JSON ({str(exc)[:80]})") from None
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise ValueError(f"{path.name} line {line_no + 1}: a JSON {kind}, not an object")
    for key in ("chosen", "rejected"):  # not an HH file at all: refused, not quarantined
        if not isinstance(record.get(key), str):
            problem = "missing" if key not in record else "not text"
            raise ValueError(f"{path.name} line {line_no + 1}: {key!r} {problem} (not HH-RLHF)")
    return record


def hh_events(
    path: Path,
    start: datetime | None = None,
    annotator_id: str = "hh-rlhf",
    limit: int | None = None,
) -> Iterator[dict]:
    """Contract events (pairwise, human) from an HH file; ids are stable across replays.

    Lines that cannot be split still become events (with identical or empty responses) so that
    validation quarantines them with a reason instead of the adapter dropping them silently.
    """
    path = Path(path)
    start = start or datetime(2024, 1, 1, tzinfo=UTC)
    with open_text(path) as handle:
        for line_no, line in enumerate(handle):
            if limit is not None and line_no >= limit:
                return
            digest = hashlib.sha256(line.encode("utf-8", "surrogatepass")).hexdigest()[:24]
            record = _record(line, path, line_no)
            try:
                prompt, chosen, rejected = split_hh(record["chosen"], record["rejected"])
            except ValueError:
                prompt, chosen, rejected = record["chosen"], "", ""
            # Alternate the winner's position so that position never predicts preference.
            ids = ("a", "b") if int(digest[:2], 16) % 2 else ("b", "a")
            yield {
                "event_id": f"hh-{digest}",
                "timestamp": (start + timedelta(seconds=line_no)).isoformat(),
                "type": "pairwise",
                "prompt": prompt,
                "responses": sorted(
                    [{"id": ids[0], "text": chosen}, {"id": ids[1], "text": rejected}],
                    key=lambda r: r["id"],
                ),
                "preference": {"winner": ids[0]},
                "annotator": {"id": annotator_id, "kind": "human"},
                "metadata": {"source": path.name, "line": line_no},
            }
