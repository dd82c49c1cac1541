"""The events and the paths `bench/ingest.py` measures: pairwise JSONL lines, the naive
row-by-row path (parse, validate, dedupe, aggregate per pair in Python, one DataFrame) and the
floor (JSON decoding alone + one Parquet write)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

WORDS = ("tea", "bread", "rain", "chess", "river", "star", "bird", "train", "coffee", "sleep",
         "garden", "budget", "run", "photo", "volcano", "map", "music", "paint", "cook", "swim",
         "read", "write", "code", "plan", "fix", "build", "learn")  # fmt: skip


def make_lines(n: int, start: int, seed: int) -> list[bytes]:
    """`n` pairwise events with distinct prompts and realistic text lengths."""
    rng = random.Random(seed)
    lines = []
    for i in range(start, start + n):
        words = " ".join(rng.choices(WORDS, k=25))
        good = " ".join(rng.choices(WORDS, k=45))
        event = {
            "event_id": f"bench-{i:09d}",
            "timestamp": f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "type": "pairwise",
            "prompt": f"Question {i}: {words}?",
            "responses": [
                {"id": "a", "text": f"Sure! {good}.", "policy_version": "p1"},
                {"id": "b", "text": f"No idea about {words[:40]}.", "policy_version": "p1"},
            ],
            "preference": {"winner": "a" if rng.random() < 0.9 else "b"},
            "annotator": {"id": f"h{i % 50}", "kind": "human"},
        }
        lines.append(json.dumps(event).encode())
    return lines


def write(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def naive(path: Path, out: Path) -> int:
    """Row by row: parse, validate, dedupe, aggregate per pair in Python, one DataFrame."""
    import pandas as pd

    from feedback_ingest.schema import pair_id, prompt_hash
    from feedback_ingest.validate import EventRejected, Limits, parse_raw, validate_event

    limits, seen, pairs = Limits(), set(), {}
    with open(path, "rb") as handle:
        for line in handle:
            try:
                event = validate_event(parse_raw(line.rstrip(b"\n"), limits), limits)
            except EventRejected:
                continue
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            texts, w = event["response_texts"], event["winner_idx"]
            if w < 0:
                continue
            for j, loser in enumerate(texts):
                if j == w:
                    continue
                key = (event["prompt"], *sorted((texts[w], loser)))
                votes = pairs.setdefault(key, {"votes": {}, "ids": [], "ts": event["timestamp"]})
                votes["votes"][texts[w]] = votes["votes"].get(texts[w], 0) + 1
                votes["ids"].append(event["event_id"])
    rows = []
    for (prompt, a, b), v in pairs.items():
        va, vb = v["votes"].get(a, 0), v["votes"].get(b, 0)
        if va == vb:
            continue
        chosen, rejected = (a, b) if va > vb else (b, a)
        ph = prompt_hash(prompt)
        split = "val" if int(ph[:8], 16) % 10 == 0 else "train"
        rows.append({"pair_id": pair_id(prompt, chosen, rejected), "prompt": prompt,
                     "chosen": chosen, "rejected": rejected, "n_votes": va + vb,
                     "agreement": max(va, vb) / (va + vb), "source_event_ids": v["ids"],
                     "prompt_hash": ph, "split": split})  # fmt: skip
    frame = pd.DataFrame(rows)
    for split in ("train", "val"):
        frame[frame.split == split].to_parquet(out / f"{split}.parquet")
    return len(frame)


def floor(path: Path, events_dir: Path, out: Path) -> tuple[float, float]:
    """Seconds that any path spends at least: decoding every line (msgspec, untyped, nothing
    checked) and one Parquet write of the accepted events (the path writes them twice)."""
    import msgspec
    import pyarrow.parquet as pq

    from feedback_ingest.store import read_parts

    lines = path.read_bytes().splitlines()
    started = time.perf_counter()
    for line in lines:
        msgspec.json.decode(line)
    decode = time.perf_counter() - started
    table = read_parts(sorted(events_dir.glob("part-*.parquet")))
    started = time.perf_counter()
    pq.write_table(table, out / "floor.parquet", compression="snappy")
    return decode, time.perf_counter() - started
