"""Stage timings: reports say where a run's time went, and the clock counts only its stage."""

from __future__ import annotations

import time

from fi_helpers import event, write_jsonl

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.stages import StageClock


def test_each_counts_producing_items_not_the_loop_body():
    def slow_source():
        for i in range(2):
            time.sleep(0.02)
            yield i

    clock = StageClock()
    seen = []
    for item in clock.each(slow_source(), "read"):
        with clock.stage("work"):
            time.sleep(0.3)
        seen.append(item)
    assert seen == [0, 1]
    assert 0.04 <= clock.seconds["read"] < 0.3 <= clock.seconds["work"] / 2


def test_reports_name_each_stage_within_the_run_time(tmp_path):
    config = IngestConfig(home=tmp_path, batch_size=2)
    write_jsonl(config.incoming_dir / "a.jsonl", [event(f"e{i}") for i in range(5)])
    report = ingest_feedback(config)
    assert set(report.stage_seconds) == {"read", "validate", "commit"} and report.batches == 3
    assert 0 < sum(report.stage_seconds.values()) <= report.seconds
    snapshot = build_snapshot(config)
    assert set(snapshot.stage_seconds) == {"read", "votes", "decide", "write"}
    assert 0 < sum(snapshot.stage_seconds.values()) <= snapshot.seconds
    assert build_snapshot(config).stage_seconds == {}  # nothing new: no stages ran
