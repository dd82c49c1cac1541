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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest_paths import floor, make_lines, naive, write

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback


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
    print(f"  validation lanes: {report.lanes} (per_event: lines judged one by one)")
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


def _full_runs(path: Path, home: Path, repeats: int, n: int) -> dict:
    """In this process: ingest + snapshot of `path` into `repeats` new homes, then +1% events
    into the last one. Seconds, CPU seconds and stages of each."""
    runs = []
    for rep in range(repeats):
        config = IngestConfig(home=home / f"run{rep}")
        config.incoming_dir.mkdir(parents=True)
        (config.incoming_dir / "a-full.jsonl").symlink_to(path)  # the same file, not a copy
        started, cpu, peak = time.perf_counter(), time.process_time(), _peak_mb()
        report, snapshot = ingest_feedback(config), build_snapshot(config)
        runs.append({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                     "ingest": report.stage_seconds, "snapshot": snapshot.stage_seconds,
                     "accepted": report.accepted, "pairs": snapshot.counts["total"],
                     "new_peak_mb": _peak_mb() - peak})  # fmt: skip
    return {"runs": runs, "incremental": _incremental(config, n)}


def _incremental(config: IngestConfig, n: int) -> dict:
    write(config.incoming_dir / "b-delta.jsonl", make_lines(n // 100, n, seed=2))
    started, cpu = time.perf_counter(), time.process_time()
    report, snapshot = ingest_feedback(config), build_snapshot(config)
    assert snapshot.counts["new_events"] == n // 100 and report.accepted == n // 100
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def _peak_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _first_touch() -> dict:
    """Seconds per MiB to touch memory this process never had, then the same memory again:
    the price of a new memory peak (high in a VM whose host hands pages out lazily)."""
    import numpy as np

    size = 256 << 20
    started = time.perf_counter()
    block = np.ones(size, np.uint8)
    fresh = time.perf_counter() - started
    started = time.perf_counter()
    block[:] = 2
    again = time.perf_counter() - started
    return {"fresh_ms_per_mb": 1000 * fresh / 256, "again_ms_per_mb": 1000 * again / 256}


def _naive_runs(path: Path, out: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        pairs = naive(path, out)
        runs.append({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                     "pairs": pairs})  # fmt: skip
    return {"runs": runs}


def _in_fresh_process(*args: str) -> dict:
    """A worker run of this script in a new interpreter (imports done before the clock)."""
    cmd = [sys.executable, __file__, "--worker", *args]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)


def _worker(args: list[str]) -> None:
    kind, path, folder, repeats, n = args
    Path(folder).mkdir(parents=True, exist_ok=True)
    if kind == "rmops":
        result = _full_runs(Path(path), Path(folder), int(repeats), int(n))
    elif kind == "probe":
        result = _first_touch()
    else:
        result = _naive_runs(Path(path), Path(folder), int(repeats))
    print(json.dumps(result))


def pairwise(n: int, repeats: int) -> None:
    """Each path in a fresh process: its first run (cold: imports done, but memory first
    touched, as in a new Dagster step) and `repeats` more (warm), then +1% events."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write(path, make_lines(n, 0, seed=1))
        ours = _in_fresh_process("rmops", str(path), f"{tmp}/ours", str(1 + repeats), str(n))
        cold_incr = _in_fresh_process("rmops", str(path), f"{tmp}/again", "1", str(n))
        base = _in_fresh_process("naive", str(path), f"{tmp}/naive", str(1 + repeats), str(n))
        touch = _in_fresh_process("probe", "-", f"{tmp}/probe", "0", "0")
        config = IngestConfig(home=Path(tmp) / "ours" / f"run{repeats}")
        t_decode, t_write = floor(path, config.events_dir, Path(tmp))
    runs, naive_runs = ours["runs"], base["runs"]
    assert {r["pairs"] for r in runs} == {r["pairs"] for r in naive_runs}, (runs, naive_runs)
    assert {r["accepted"] for r in runs} == {n}
    cold, warm = runs[0], _median(runs[1:])
    naive_cold, naive_warm = naive_runs[0], _median(naive_runs[1:])
    print(f"events: {n} pairwise (JSONL -> validated, deduplicated -> snapshot); each path in a "
          f"fresh process, imports done before the clock")  # fmt: skip
    for name, run, other in (("first run", cold, naive_cold), ("warm, median", warm, naive_warm)):
        ratio = other["seconds"] / run["seconds"]
        print(f"rmops {name}: {_rate(run, n)}; naive {_rate(other, n)} -> {ratio:.1f}x")
        print(f"  ingest stages (s): {stages(run['ingest'])}")
        print(f"  snapshot stages (s): {stages(run['snapshot'])}")
    print(f"  every run (s): rmops {_seconds(runs)}; naive {_seconds(naive_runs)}")
    print(f"  new memory peak in the first run: {cold['new_peak_mb']:.0f} MiB; touching memory "
          f"first costs {touch['fresh_ms_per_mb']:.2f} ms/MiB here, again "
          f"{touch['again_ms_per_mb']:.2f} ms/MiB")  # fmt: skip
    t_floor, tenth = t_decode + t_write, naive_warm["seconds"] / 10
    print(f"floor: JSON decoding alone {t_decode:.2f} s + one Parquet write of the events "
          f"{t_write:.2f} s = {t_floor:.2f} s = {n / t_floor:,.0f} events/s; 10x the naive "
          f"path needs <= {tenth:.2f} s, 100k events/s <= {n / 1e5:.2f} s")  # fmt: skip
    for name, incr, full in (("fresh process", cold_incr["incremental"], cold),
                             ("warm", ours["incremental"], warm)):  # fmt: skip
        share = 100 * incr["seconds"] / full["seconds"]
        print(f"incremental (+1% events, ingest + snapshot), {name}: {incr['seconds']:.3f} s "
              f"= {share:.1f}% of the full run")  # fmt: skip


def _median(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def _rate(run: dict, n: int) -> str:
    return f"{run['seconds']:.2f} s = {n / run['seconds']:,.0f} events/s ({run['cpu']:.2f} CPU-s)"


def _seconds(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--mixed", type=int, default=50_000, help="simulated events (0: skip)")
    parser.add_argument("--flood", type=int, default=20_000, help="bad events (0: skip)")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs after the first")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker)
    pairwise(args.events, args.repeats)
    if args.mixed:
        mixed(args.mixed)
    if args.flood:
        flood(args.flood)


if __name__ == "__main__":
    main()
