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
        started, cpu, peak = time.perf_counter(), time.process_time(), _peak_mb()
        pairs = naive(path, out)
        runs.append({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                     "pairs": pairs, "new_peak_mb": _peak_mb() - peak})  # fmt: skip
    return {"runs": runs}


BACKED_MIB = 1024


def _back_memory() -> None:
    """Touch BACKED_MIB of memory and free it, so that the run after it gets pages the host
    already backs: this VM backs a page only when it is first touched (see `_first_touch`),
    so a first run otherwise pays for every new page twice, once here and once in the guest."""
    import numpy as np

    block = np.ones(BACKED_MIB << 20, np.uint8)
    del block


def _in_fresh_process(*args: str) -> dict:
    """A worker run of this script in a new interpreter (imports done before the clock)."""
    cmd = [sys.executable, __file__, "--worker", *args]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)


def _worker(args: list[str]) -> None:
    kind, path, folder, repeats, n = args
    Path(folder).mkdir(parents=True, exist_ok=True)
    if kind.endswith("-backed"):
        kind = kind.removesuffix("-backed")
        _back_memory()
    if kind == "rmops":
        result = _full_runs(Path(path), Path(folder), int(repeats), int(n))
    elif kind == "probe":
        result = _first_touch()
    else:
        result = _naive_runs(Path(path), Path(folder), int(repeats))
    print(json.dumps(result))


def pairwise(n: int, repeats: int, fresh: int) -> None:
    """Each path in `fresh` new processes: a first run in each (cold: imports done, but memory
    first touched, as in a new Dagster step), the same after memory the host already backs,
    `repeats` more runs (warm) in the first process, then +1% events."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write(path, make_lines(n, 0, seed=1))

        def processes(kind: str, more: int) -> list[dict]:
            return [_in_fresh_process(kind, str(path), f"{tmp}/{kind}{k}",
                                      str(1 + (more if k == 0 else 0)), str(n))
                    for k in range(fresh)]  # fmt: skip

        ours, base = processes("rmops", repeats), processes("naive", repeats)
        ours_backed, base_backed = processes("rmops-backed", 0), processes("naive-backed", 0)
        touch = _in_fresh_process("probe", "-", f"{tmp}/probe", "0", "0")
        config = IngestConfig(home=Path(tmp) / "rmops0" / f"run{repeats}")
        t_decode, t_write = floor(path, config.events_dir, Path(tmp))
    runs = [r for p in ours + ours_backed for r in p["runs"]]
    naive_runs = [r for p in base + base_backed for r in p["runs"]]
    assert {r["pairs"] for r in runs} == {r["pairs"] for r in naive_runs}, (runs, naive_runs)
    assert {r["accepted"] for r in runs} == {n}
    print(f"events: {n} pairwise (JSONL -> validated, deduplicated -> snapshot); each path in "
          f"{fresh} fresh processes, imports done before the clock")  # fmt: skip
    firsts = [[p["runs"][0] for p in group] for group in (ours, base, ours_backed, base_backed)]
    warm, naive_warm = _median(ours[0]["runs"][1:]), _median(base[0]["runs"][1:])
    rows = (("first run, median", firsts[0], firsts[1]),
            (f"first run after {BACKED_MIB} MiB touched and freed (pages the host backs), "
             f"median", firsts[2], firsts[3]),
            ("warm, median", ours[0]["runs"][1:], base[0]["runs"][1:]))  # fmt: skip
    for name, samples, others in rows:
        run, other = _median(samples), _median(others)
        print(f"rmops {name}: {_rate(run, n)}; naive {_rate(other, n)} -> "
              f"{other['seconds'] / run['seconds']:.1f}x")  # fmt: skip
        print(f"  every run (s): rmops {_seconds(samples)}; naive {_seconds(others)}")
        print(f"  rmops ingest stages (s): {stages(run['ingest'])}; "
              f"snapshot stages (s): {stages(run['snapshot'])}")  # fmt: skip
    print(f"  new memory peak in a first run: rmops {_median(firsts[0])['new_peak_mb']:.0f} MiB, "
          f"naive {_median(firsts[1])['new_peak_mb']:.0f} MiB; touching memory first costs "
          f"{touch['fresh_ms_per_mb']:.2f} ms/MiB here, again "
          f"{touch['again_ms_per_mb']:.2f} ms/MiB")  # fmt: skip
    t_floor, tenth = t_decode + t_write, naive_warm["seconds"] / 10
    print(f"floor: JSON decoding alone {t_decode:.2f} s + one Parquet write of the events "
          f"{t_write:.2f} s = {t_floor:.2f} s = {n / t_floor:,.0f} events/s; 10x the naive "
          f"path needs <= {tenth:.2f} s, 100k events/s <= {n / 1e5:.2f} s")  # fmt: skip
    for name, incr, full in (("fresh process", ours[1]["incremental"], ours[1]["runs"][0]),
                             ("warm", ours[0]["incremental"], warm)):  # fmt: skip
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
    parser.add_argument("--fresh", type=int, default=3, help="new processes per path (>= 2)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker)
    if args.fresh < 2:
        parser.error(
            "--fresh: at least 2 (one process measures the incremental run after a "
            "first run, another after warm runs)"
        )
    pairwise(args.events, args.repeats, args.fresh)
    if args.mixed:
        mixed(args.mixed)
    if args.flood:
        flood(args.flood)


if __name__ == "__main__":
    main()
