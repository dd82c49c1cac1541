"""Quarantine export: the exact bytes of bad events, to fix and land again."""

from __future__ import annotations

import json

import pytest
from fi_helpers import event, write_jsonl

from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.quarantine import Quarantine


@pytest.fixture
def quarantined(tmp_path):
    """An ingest of a good event, a renamed field, cut JSON and an oversize (kept cut) line."""
    config = IngestConfig(home=tmp_path / "home", max_event_bytes=1_000)
    renamed = json.dumps(event("r1")).replace('"prompt"', '"promt"').encode()
    cut = json.dumps(event("c1")).encode()[:40]
    huge = json.dumps(event("h1", responses={"a": "x" * 2_000, "b": "y"})).encode()
    write_jsonl(config.incoming_dir / "a.jsonl", [event("ok"), renamed, cut, huge])
    report = ingest_feedback(config)
    assert report.quarantine_reasons == {"malformed_json": 1, "missing_field": 1,
                                         "oversize_event": 1}  # fmt: skip
    return config, renamed, cut


def test_export_writes_whole_bad_events_and_a_fixed_file_ingests(quarantined, tmp_path):
    config, renamed, cut = quarantined
    out = tmp_path / "bad.jsonl"
    counts = Quarantine(config.quarantine_dir).export(out)
    assert counts == {"path": str(out), "exported": 2, "left_out_cut": 1}
    assert out.read_bytes() == renamed + b"\n" + cut + b"\n"  # exact bytes, read order
    only = Quarantine(config.quarantine_dir).export(out, reason="missing_field")
    assert only["exported"] == 1 and out.read_bytes() == renamed + b"\n"
    # the operator fixes the renamed field and lands the file again
    fixed = out.read_bytes().replace(b'"promt"', b'"prompt"')
    (config.incoming_dir / "redrive.jsonl").write_bytes(fixed)
    again = ingest_feedback(config)
    assert (again.read, again.accepted, again.quarantined) == (1, 1, 0)


def test_a_failed_export_leaves_the_previous_file_and_no_temp(quarantined, tmp_path):
    config, _, _ = quarantined
    out = tmp_path / "bad.jsonl"
    out.write_bytes(b"previous\n")
    (batch,) = config.quarantine_dir.glob("batch-*.jsonl")
    with open(batch, "ab") as handle:
        handle.write(b"not json\n")  # a damaged record stops the export midway
    with pytest.raises(json.JSONDecodeError):
        Quarantine(config.quarantine_dir).export(out)
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "home"]


def test_unreadable_rest_of_a_file_is_not_exported(tmp_path):
    config = IngestConfig(home=tmp_path / "home")
    config.incoming_dir.mkdir(parents=True)
    (config.incoming_dir / "b.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    assert ingest_feedback(config).quarantine_reasons == {"unreadable_file": 1}
    counts = Quarantine(config.quarantine_dir).export(tmp_path / "out.jsonl")
    assert counts["exported"] == 0 and counts["left_out_unreadable"] == 1
    assert (tmp_path / "out.jsonl").read_bytes() == b""
