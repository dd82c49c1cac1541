"""Benchmark: pairwise JSONL events -> dataset snapshot, against a naive row-by-row path.

Prints measured events/s of the real path (ingest_feedback + build_snapshot) and of a naive
implementation (json.loads + per-event validation, per-pair Python aggregation, one DataFrame)
measured in the same run, their ratio, and the cost of an incremental snapshot after +1% new
events relative to the full one. It then measures simulated production traffic (`rmops
simulate`: all three event types, chat prompts, repeated judgments of the same pairs, some
malformed events), where most events take the per-event path and votes aggregate, and a flood
of bad events against writing two quarantine files per event. Usage:
python bench/ingest.py [--events N] [--mixed N] [--flood N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback

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


def stages(seconds: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in seconds.items())


CPU = {}


def timed(fn, *args):
    """Wall seconds (returned) and CPU seconds of this process (kept in CPU by name)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    CPU[fn.__name__] = time.process_time() - cpu
    return time.perf_counter() - started, result


def mixed(n: int) -> None:
    """Simulated traffic: a first ingest + snapshot, then one after +1% events."""
    from datetime import UTC, datetime

    from feedback_ingest.simulate import write_simulated

    with tempfile.TemporaryDirectory() as tmp:
        config = IngestConfig(home=Path(tmp) / "home")
        write_simulated(config, n, seed=1)

        def full():
            return ingest_feedback(config), build_snapshot(config)

        t_full, (report, snapshot) = timed(full)
        write_simulated(config, n // 100, seed=2, start=datetime(2026, 6, 1, tzinfo=UTC))
        t_incr, (_, incr) = timed(full)
        assert incr.counts["new_events"] > 0, incr.counts
    print(f"simulated traffic: {n} events {report.by_type}, {report.quarantined} quarantined, "
          f"{report.duplicate} duplicates -> {snapshot.counts['total']} pairs")  # fmt: skip
    print(f"  {t_full:.2f} s = {n / t_full:,.0f} events/s (ingest {report.seconds:.2f} s, "
          f"snapshot {snapshot.seconds:.2f} s: {stages(snapshot.stage_seconds)})")  # fmt: skip
    share = 100 * t_incr / t_full
    print(f"  incremental (+1% events): {t_incr:.2f} s = {share:.1f}% of the full run")


def flood(n: int) -> None:
    """A flood of bad events (an upstream schema change): ingest, where each batch's rejected
    events share one quarantine file, against row-by-row validation writing two files per
    event (raw bytes + reason, the previous layout), in the same run."""
    from feedback_ingest.store import atomic_write_bytes
    from feedback_ingest.validate import EventRejected, Limits, parse_raw, validate_event

    good = make_lines(n, 0, seed=3)
    lines = [line.replace(b'"prompt"', b'"promt"') if i % 2 else line[: len(line) // 2]
             for i, line in enumerate(good)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = IngestConfig(home=Path(tmp) / "home")
        write(config.incoming_dir / "flood.jsonl", lines)
        t_ingest, report = timed(ingest_feedback, config)
        assert report.quarantined == n, report
        folder = Path(tmp) / "per-event"
        folder.mkdir()

        def per_event_files():
            limits = Limits()
            for line in lines:
                try:
                    validate_event(parse_raw(line, limits), limits)
                except EventRejected as rejected:
                    digest = hashlib.sha256(line).hexdigest()[:32]
                    atomic_write_bytes(folder / f"{digest}.raw", line)
                    reason = json.dumps(rejected.to_dict()).encode()
                    atomic_write_bytes(folder / f"{digest}.json", reason)

        t_files, _ = timed(per_event_files)
    print(f"flood of bad events: {n} quarantined ({report.quarantine_reasons}) in {t_ingest:.2f} s "
          f"= {n / t_ingest:,.0f} events/s; row by row with two files per event: {t_files:.2f} s "
          f"= {n / t_files:,.0f} events/s -> {t_files / t_ingest:.1f}x")  # fmt: skip


def pairwise(n: int) -> None:
    """Pairwise events against the naive path, the floor and an incremental run."""
    with tempfile.TemporaryDirectory() as tmp:
        config = IngestConfig(home=Path(tmp) / "home")
        write(config.incoming_dir / "a-full.jsonl", make_lines(n, 0, seed=1))

        def full():
            return ingest_feedback(config), build_snapshot(config)

        t_full, (report, snapshot) = timed(full)
        assert report.accepted == n, report
        write(config.incoming_dir / "b-delta.jsonl", make_lines(n // 100, n, seed=2))
        cpu_full = CPU["full"]
        t_incr, (_, incr) = timed(full)
        cpu_incr = CPU["full"]
        assert incr.version == "v000002" and incr.counts["new_events"] == n // 100
        out = Path(tmp) / "naive"
        out.mkdir()
        t_naive, naive_pairs = timed(naive, config.incoming_dir / "a-full.jsonl", out)
        assert naive_pairs == snapshot.counts["total"], (naive_pairs, snapshot.counts)
        t_decode, t_write = floor(config.incoming_dir / "a-full.jsonl", config.events_dir, out)
    fast_rate, naive_rate = n / t_full, n / t_naive
    print(f"events: {n} pairwise (JSONL -> validated, deduplicated -> snapshot)")
    print(f"rmops path: {t_full:.2f} s = {fast_rate:,.0f} events/s "
          f"(ingest {report.seconds:.2f} s, snapshot {snapshot.seconds:.2f} s)")  # fmt: skip
    print(f"  ingest stages (s): {stages(report.stage_seconds)}")
    print(f"  snapshot stages (s): {stages(snapshot.stage_seconds)}")
    print(f"naive row-by-row: {t_naive:.2f} s = {naive_rate:,.0f} events/s")
    print(f"speed-up: {fast_rate / naive_rate:.1f}x (wall); CPU seconds: rmops {cpu_full:.2f}, "
          f"naive {CPU['naive']:.2f} -> {CPU['naive'] / cpu_full:.1f}x")  # fmt: skip
    t_floor = t_decode + t_write
    print(f"floor: JSON decoding alone {t_decode:.2f} s + one Parquet write of the events "
          f"{t_write:.2f} s = {t_floor:.2f} s = {n / t_floor:,.0f} events/s; 10x the naive path "
          f"needs <= {t_naive / 10:.2f} s, 100k events/s needs <= {n / 100_000:.2f} s")  # fmt: skip
    share, cpu_share = 100 * t_incr / t_full, 100 * cpu_incr / cpu_full
    print(f"incremental (+1% events, ingest + snapshot): {t_incr:.2f} s = "
          f"{share:.1f}% of the full run (CPU {cpu_share:.1f}%)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--mixed", type=int, default=50_000, help="simulated events (0: skip)")
    parser.add_argument("--flood", type=int, default=20_000, help="bad events (0: skip)")
    args = parser.parse_args()
    pairwise(args.events)
    if args.mixed:
        mixed(args.mixed)
    if args.flood:
        flood(args.flood)


if __name__ == "__main__":
    main()
