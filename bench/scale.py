"""Scale: one first snapshot build over more than 2 GB of response text (Arrow's 32-bit limit).

Writes `--events` pairwise events whose responses are `--chars` characters each (default 1.2M x
1,000 = 2.4 GB of response text), then runs ingest + build in a fresh process and reads its
peak RSS. The same is measured first at `--baseline` events (default 100k, the same widths), so
the run prints the cost per event at scale against the small run. It checks the result: every
event became one pair, the split files keep the pair schema, and sampled pair ids and prompt
hashes equal the schema's own functions. Usage: python bench/scale.py [--events N] [--chars C]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from load import run_child

from feedback_ingest.config import IngestConfig

MAX_BUILD_EVENTS = IngestConfig.max_build_events

BUILD = """
from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
config = IngestConfig(home=sys.argv[1]CONFIG)
ingest = ingest_feedback(config)
snapshot = build_snapshot(config)
result = {"ingest": ingest.seconds, "ingest_stages": ingest.stage_seconds,
          "accepted": ingest.accepted, "snapshot": snapshot.seconds,
          "snapshot_stages": snapshot.stage_seconds, "counts": snapshot.counts,
          "path": snapshot.path, "versions": snapshot.versions}
"""


def write_events(folder: Path, pairs: range, chars: int, tag: str, per_file: int = 50_000) -> int:
    """One event per pair number in JSONL files (ids `tag-N`: a pair number used before is a
    repeated judgment of that pair); returns the bytes of response text written."""
    folder.mkdir(parents=True, exist_ok=True)
    filler = ("lorem ipsum dolor sit amet " * (chars // 27 + 2))[: chars - 12]
    for k in range(0, len(pairs), per_file):
        lines = []
        for i in pairs[k : k + per_file]:
            event = {
                "event_id": f"{tag}-{i:09d}",
                "timestamp": "2026-01-01T00:00:00+00:00",
                "type": "pairwise",
                "prompt": f"Question {i}: what is the answer?",
                "responses": [{"id": "a", "text": f"A{i:010d} {filler}"},
                              {"id": "b", "text": f"B{i:010d} {filler}"}],
                "preference": {"winner": "a"},
                "annotator": {"id": "h1", "kind": "human"},
            }  # fmt: skip
            lines.append(json.dumps(event))
        (folder / f"{tag}-{k:010d}.jsonl").write_text("\n".join(lines) + "\n")
    return 2 * len(pairs) * chars


def check(path: str, n: int) -> int:
    """Rows of the built version; asserts schema, count and sampled hashes."""
    import pyarrow.parquet as pq

    from feedback_ingest.parts import split_files
    from feedback_ingest.schema import PAIR_SCHEMA, pair_id, prompt_hash

    rows = 0
    for split in ("train", "val"):
        for file in split_files(Path(path), split):
            handle = pq.ParquetFile(file)
            assert handle.schema_arrow.equals(PAIR_SCHEMA), handle.schema_arrow
            rows += handle.metadata.num_rows
            group = handle.read_row_group(handle.num_row_groups - 1)
            for r in group.slice(max(len(group) - 3, 0)).to_pylist():
                assert r["pair_id"] == pair_id(r["prompt"], r["chosen"], r["rejected"])
                assert r["prompt_hash"] == prompt_hash(r["prompt"])
    assert rows == n, (rows, n)
    return rows


def measure(n: int, chars: int, max_build_events: int | None = None) -> dict:
    """A first build over `n` events, then (with the default `max_build_events`) an incremental
    one: +1% new pairs and 1% repeated judgments of existing pairs (their part is rewritten)."""
    extra = f", max_build_events={max_build_events}" if max_build_events else ""
    build = BUILD.replace("CONFIG", extra)
    with tempfile.TemporaryDirectory(prefix="rmops-scale-") as tmp:
        home = Path(tmp) / "home"
        incoming = home / "feedback" / "incoming"
        text_bytes = write_events(incoming, range(n), chars, "first")
        out = run_child(build, home)
        result = out["result"]
        assert result["accepted"] == n, result
        first = {**result, "rows": check(result["path"], n), "text_gb": text_bytes / 1e9,
                 "peak_gib": out["peak_mib"] / 1024}  # fmt: skip
        if max_build_events:
            return first
        step = max(n // 100, 1)
        write_events(incoming, range(n, n + step), chars, "new")
        write_events(incoming, range(0, n, 100), chars, "again")
        out = run_child(build, home)
        result = out["result"]
        assert result["counts"]["new_pairs"] == step, result["counts"]
        check(result["path"], n + step)
        first["incremental"] = {**result, "peak_gib": out["peak_mib"] / 1024}
        return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_200_000)
    parser.add_argument("--chars", type=int, default=1_000)
    parser.add_argument("--baseline", type=int, default=100_000)
    args = parser.parse_args()
    runs = {size: measure(size, args.chars) for size in (args.baseline, args.events)}
    for size, r in runs.items():
        print(f"{size:>9,} events, {r['text_gb']:.2f} GB of response text: ingest "
              f"{r['ingest']:.1f} s ({r['ingest_stages']}), snapshot {r['snapshot']:.1f} s "
              f"({r['snapshot_stages']}) into {', '.join(r['versions'])}; {r['rows']:,} pairs "
              f"checked; peak RSS {r['peak_gib']:.1f} GiB")  # fmt: skip
    if args.events > MAX_BUILD_EVENTS:  # the baseline: the whole backlog in one version
        one, big = measure(args.events, args.chars, max_build_events=args.events), runs[args.events]
        ratio = one["peak_gib"] / big["peak_gib"]
        print(f"the same {args.events:,} events in one version: snapshot {one['snapshot']:.1f} s, "
              f"peak RSS {one['peak_gib']:.1f} GiB; in versions of <= {MAX_BUILD_EVENTS:,} "
              f"(the default): snapshot {big['snapshot']:.1f} s, peak RSS "
              f"{big['peak_gib']:.1f} GiB = {ratio:.1f}x less")  # fmt: skip
    for size, r in runs.items():
        inc = r["incremental"]
        share = (inc["ingest"] + inc["snapshot"]) / (r["ingest"] + r["snapshot"])
        print(f"{size:>9,} then +1% new and 1% repeated: ingest {inc['ingest']:.1f} s, "
              f"snapshot {inc['snapshot']:.1f} s ({inc['snapshot_stages']}) = {100 * share:.1f}% "
              f"of the first build; peak RSS {inc['peak_gib']:.1f} GiB")  # fmt: skip
    small, big = runs[args.baseline], runs[args.events]
    per_small = (small["ingest"] + small["snapshot"]) / args.baseline
    per_big = (big["ingest"] + big["snapshot"]) / args.events
    print(f"per event at {args.events:,} vs {args.baseline:,}: {per_big / per_small:.2f}x "
          f"the time; peak RSS {big['peak_gib'] / small['peak_gib']:.1f}x for "
          f"{args.events / args.baseline:.0f}x the events")  # fmt: skip


if __name__ == "__main__":
    main()
