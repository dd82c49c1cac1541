"""feedback_events in a real Dagster instance: its quarantine-share check warns, never blocks."""

from __future__ import annotations

import json

import dagster as dg

from orchestration.assets.feedback import QUARANTINE_CHECK, feedback_events
from orchestration.resources import FeedbackSourceResource, RmopsHomeResource


def _event(i: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"e{i}",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "type": "pairwise",
            "prompt": f"Question {i}?",
            "responses": [{"id": "a", "text": "Yes."}, {"id": "b", "text": "No."}],
            "preference": {"winner": "a"},
            "annotator": {"id": "h1", "kind": "human"},
        }
    ).encode()


def _ingest(home, instance, lines: list[bytes], name: str):
    incoming = home / "feedback" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / name).write_bytes(b"\n".join(lines) + b"\n")
    resources = {
        "rmops_home": RmopsHomeResource(home=str(home), max_quarantine_share=0.2),
        "feedback_source": FeedbackSourceResource(),
    }
    result = dg.materialize([feedback_events], resources=resources, instance=instance)
    assert result.success  # a warning never fails the run
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == QUARANTINE_CHECK
    return check


def test_quarantine_share_check_warns_on_a_broken_producer(rmops_home):
    with dg.instance_for_test() as instance:
        good = [_event(i) for i in range(8)]
        clean = _ingest(rmops_home, instance, [*good, b"{cut"], "a.jsonl")  # 1 of 9 bad
        assert clean.passed and clean.metadata["quarantine_share"].value == round(1 / 9, 4)
        renamed = [_event(i).replace(b'"prompt"', b'"promt"') for i in range(10, 13)]
        broken = _ingest(rmops_home, instance, [_event(20), *renamed, b"{cut"], "b.jsonl")
        assert not broken.passed and broken.severity == dg.AssetCheckSeverity.WARN
        meta = {k: v.value for k, v in broken.metadata.items()}
        assert meta["quarantine_share"] == 0.8 and meta["quarantined"] == 4
        assert meta["top_reasons"] == "missing_field 3, malformed_json 1"


def test_an_ingest_before_any_feedback_succeeds(tmp_path):
    """Nothing landed yet: the scheduled ingest passes (before: the blocking expectations check
    failed it, and the failure sensor alerted every ten minutes)."""
    from orchestration.assets.feedback import preference_dataset
    from orchestration.checks import preference_dataset_expectations

    resources = {
        "rmops_home": RmopsHomeResource(home=str(tmp_path)),
        "feedback_source": FeedbackSourceResource(),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [feedback_events, preference_dataset, preference_dataset_expectations],
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    assert result.success
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name.startswith("pref"))
    assert check.passed and check.metadata["skipped"].value == "no dataset snapshot yet"


def test_a_run_that_made_no_version_reports_nothing_added(tmp_path):
    """Before, a run with no new events showed the last build's new_pairs beside created False."""
    from orchestration.assets.feedback import preference_dataset

    incoming = tmp_path / "feedback" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "a.jsonl").write_bytes(b"\n".join(_event(i) for i in range(5)) + b"\n")
    resources = {"rmops_home": RmopsHomeResource(home=str(tmp_path)),
                 "feedback_source": FeedbackSourceResource()}  # fmt: skip
    added = []
    with dg.instance_for_test() as instance:
        for _ in range(2):
            result = dg.materialize([feedback_events, preference_dataset], resources=resources,
                                    instance=instance)  # fmt: skip
            (event,) = result.asset_materializations_for_node("preference_dataset")
            metadata = event.metadata
            added.append((metadata["created"].value, metadata["new_pairs"].value))
    assert added == [(True, 5), (False, 0)]
