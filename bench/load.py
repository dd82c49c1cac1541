"""Load: a feedback stream of many JSONL files through `ingest_feedback`, memory measured.

For each total size (default 100k, 300k and 1M events; 5,000 events a file) the stream is
written to a fresh home, then ingested in a fresh process whose peak RSS (the kernel's VmHWM) is
read at the end. The stream holds ~1% hostile lines and ~0.5% replayed ids, and the run checks
that nothing is lost: read == generated, accepted == distinct valid ids == rows stored.

The baseline, measured in the same run at the smallest size, is the naive reader that keeps
every parsed event in memory; its peak grows with the stream, the ingest's should not.
Usage: python bench/load.py [--sizes 100000,300000,1000000] [--per-file 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOSTILE = (b'{"event_id": 1}', b"{not json", b'{"event_id": "x\\u0000", "type": "pairwise"}')
CHILD = """
import json, sys, time
started = time.perf_counter()
{body}
peak = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
print(json.dumps({{"result": result, "seconds": time.perf_counter() - started,
                  "peak_mib": peak / 1024}}))
"""
INGEST = """
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.store import IngestState
config = IngestConfig(home=sys.argv[1])
result = ingest_feedback(config).to_dict()
with IngestState(config.state_dir) as state:
    result["stored"] = sum(n for _, _, n in state.parts())
"""
NAIVE = """
import pathlib
events = [json.loads(line) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.jsonl"))
          for line in p.read_bytes().splitlines() if line.startswith(b'{"event_id": "load')]
result = {"read": len(events)}
"""


def event_line(i: int, rng: random.Random) -> bytes:
    words = " ".join(rng.choices(("tea", "rain", "chess", "bread", "map", "code", "sky"), k=20))
    return json.dumps(
        {
            "event_id": f"load-{i:09d}",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "type": "pairwise",
            "prompt": f"Question {i}: {words}?",
            "responses": [{"id": "a", "text": f"Sure: {words}."}, {"id": "b", "text": "No."}],
            "preference": {"winner": "a"},
            "annotator": {"id": f"h{i % 50}", "kind": "human"},
        }
    ).encode()


def write_stream(folder: Path, total: int, per_file: int, seed: int = 0) -> dict[str, int]:
    """JSONL files of `per_file` lines; returns how many lines of each kind were written."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"lines": 0, "valid": 0, "replayed": 0, "hostile": 0}
    next_id = 0
    for start in range(0, total, per_file):
        lines = []
        for _ in range(min(per_file, total - start)):
            roll = rng.random()
            if roll < 0.01:
                lines.append(HOSTILE[rng.randrange(len(HOSTILE))])
                counts["hostile"] += 1
            elif roll < 0.015 and next_id:
                lines.append(event_line(rng.randrange(next_id), rng))  # a replay
                counts["replayed"] += 1
            else:
                lines.append(event_line(next_id, rng))
                next_id += 1
                counts["valid"] += 1
        tmp = folder / f".part-{start:010d}.tmp"
        tmp.write_bytes(b"\n".join(lines) + b"\n")
        tmp.rename(folder / f"part-{start:010d}.jsonl")  # producers publish files atomically
        counts["lines"] += len(lines)
    return counts


def run_child(body: str, arg: Path) -> dict:
    code = CHILD.format(body=body)
    done = subprocess.run(
        [sys.executable, "-c", code, str(arg)], capture_output=True, text=True, cwd=os.getcwd()
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(total: int, per_file: int, naive: bool) -> dict:
    """Write a stream of `total` events, ingest it in a fresh process, check nothing is lost."""
    with tempfile.TemporaryDirectory(prefix="rmops-load-") as tmp:
        home = Path(tmp) / "home"
        incoming = home / "feedback" / "incoming"
        counts = write_stream(incoming, total, per_file)
        out = run_child(INGEST, home)
        report = out["result"]
        row = {
            "events": total,
            "files": len(list(incoming.glob("*.jsonl"))),
            "events_per_s": total / out["seconds"],
            "peak_rss_mib": out["peak_mib"],
            "read": report["read"],
            "accepted": report["accepted"],
            "duplicate": report["duplicate"],
            "quarantined": report["quarantined"],
            "lost": counts["lines"] - report["read"] + counts["valid"] - report["stored"],
        }
        row["ok"] = (
            row["lost"] == 0
            and report["accepted"] == counts["valid"]
            and report["quarantined"] == counts["hostile"]
            and report["duplicate"] == counts["replayed"]
        )
        if naive:
            row["naive_peak_rss_mib"] = run_child(NAIVE, incoming)["peak_mib"]
        shutil.rmtree(home, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--per-file", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n, args.per_file, naive=n in (sizes[0], sizes[-1])) for n in sizes]
    first, last = rows[0], rows[-1]
    summary = {
        "rows": rows,
        "size_ratio": last["events"] / first["events"],
        "ingest_peak_ratio": last["peak_rss_mib"] / first["peak_rss_mib"],
        "naive_peak_ratio": last["naive_peak_rss_mib"] / first["naive_peak_rss_mib"],
        "nothing_lost": all(r["ok"] for r in rows),
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{'events':>10} {'files':>6} {'events/s':>10} {'peak RSS':>10} {'naive RSS':>10}  lost")
    for r in rows:
        naive = f"{r['naive_peak_rss_mib']:.0f} MiB" if "naive_peak_rss_mib" in r else "-"
        flag = "" if r["ok"] else " MISMATCH"
        print(
            f"{r['events']:>10,} {r['files']:>6} {r['events_per_s']:>10,.0f} "
            f"{r['peak_rss_mib']:>6.0f} MiB {naive:>10}  {r['lost']}{flag}"
        )
    print(
        f"stream {summary['size_ratio']:.0f}x larger: ingest peak RSS x"
        f"{summary['ingest_peak_ratio']:.2f}, naive in-memory reader x"
        f"{summary['naive_peak_ratio']:.2f}; nothing lost: {summary['nothing_lost']}"
    )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
