"""Each sensor with `build_sensor_context` against a real temporary instance."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from orchestration.definitions import build_definitions
from orchestration.resources import RmopsHomeResource
from rm_pipeline.handoff import HandoffRecord, write_handoff


@pytest.fixture
def defs(loop_resources):
    return build_definitions(loop_resources)


def _snapshot(home):
    config = IngestConfig(home=home)
    ingest_feedback(config)
    return build_snapshot(config)


def _tick(defs, name, instance, resources, cursor=None):
    sensor = defs.resolve_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor, sensor(context), context


def test_volume_sensor_skips_below_threshold_then_requests_once(defs, loop_home, loop_resources):
    snapshot = _snapshot(loop_home)
    strict = dict(loop_resources)
    strict["rmops_home"] = RmopsHomeResource(home=str(loop_home), retrain_min_pairs=10**6)
    with dg.instance_for_test() as instance:
        _, result, _ = _tick(build_definitions(strict), "feedback_volume_sensor", instance, strict)
        assert isinstance(result, dg.SkipReason)
        assert "new pairs since the start" in result.skip_message

        _, result, _ = _tick(defs, "feedback_volume_sensor", instance, loop_resources)
        assert isinstance(result, dg.SensorResult)
        assert [r.run_key for r in result.run_requests] == [f"dataset-{snapshot.version}"]
        assert result.cursor == snapshot.version

        # Same dataset again: nothing new to train on.
        _, again, _ = _tick(
            defs, "feedback_volume_sensor", instance, loop_resources, cursor=snapshot.version
        )
        assert isinstance(again, dg.SkipReason)


def test_volume_sensor_counts_from_the_champions_dataset(defs, loop_home, loop_resources):
    snapshot = _snapshot(loop_home)
    record = HandoffRecord("models:/reward-model/1", "reward-model", "1", 0.0, 1.0,
                           snapshot.version, "2026-01-01T00:00:00+00:00")  # fmt: skip
    write_handoff(record, loop_home / "handoff")
    with dg.instance_for_test() as instance:
        _, result, _ = _tick(defs, "feedback_volume_sensor", instance, loop_resources)
    assert isinstance(result, dg.SkipReason)
    assert f"0 new pairs since {snapshot.version}" in result.skip_message


def _drift_event(instance, drifted: bool):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "reward_drift_report",
            metadata={"drift_detected": drifted, "score_reward": 0.4 if drifted else 0.01},
        )
    )


def test_drift_sensor_alerts_once_per_episode(defs, loop_home, loop_resources):
    alerts = loop_home / "alerts" / "alerts.jsonl"
    requests = []
    with dg.instance_for_test() as instance:
        sensor = defs.resolve_sensor_def("reward_drift_sensor")
        cursor = None
        for drifted in (False, True, True, False, True):
            _drift_event(instance, drifted)
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=loop_resources
            )
            data = sensor.evaluate_tick(ctx)
            cursor = data.cursor
            requests += [r.run_key for r in data.run_requests]
    lines = alerts.read_text().splitlines() if alerts.exists() else []
    assert requests == ["drift-episode-1", "drift-episode-2"]
    assert len(lines) == 2
    assert json.loads(lines[0])["title"] == "Reward drift detected"


def test_champion_change_sensor_requests_downstream_job_once(defs, loop_home, loop_resources):
    with dg.instance_for_test() as instance:
        _, result, _ = _tick(defs, "champion_change_sensor", instance, loop_resources)
        assert isinstance(result, dg.SkipReason)
        record = HandoffRecord("models:/reward-model/3", "reward-model", "3", 0.1, 1.2,
                               "v000002", "2026-01-02T00:00:00+00:00")  # fmt: skip
        write_handoff(record, loop_home / "handoff")
        _, result, _ = _tick(defs, "champion_change_sensor", instance, loop_resources)
        (request,) = result.run_requests
        assert request.job_name in (None, "downstream_ppo_job")
        assert request.run_key == "handoff-v3-2026-01-02T00:00:00+00:00"
        path = request.run_config["ops"]["score_with_champion"]["config"]["handoff_path"]
        assert path.endswith("-promote-v3.json")  # this change's record, not latest.json
        _, again, _ = _tick(defs, "champion_change_sensor", instance, loop_resources, result.cursor)
        assert isinstance(again, dg.SkipReason)
    record4 = HandoffRecord("models:/reward-model/4", "reward-model", "4", 0.1, 1.2,
                            "v000003", "2026-01-03T00:00:00+00:00")  # fmt: skip
    write_handoff(record4, loop_home / "handoff")  # promoted before v3's job ran
    assert json.loads(Path(path).read_text())["version"] == "3"


def test_failure_sensor_alerts_through_the_sinks(defs, loop_home, loop_resources):
    @dg.op
    def boom():
        raise RuntimeError("planted failure")

    @dg.job
    def failing_job():
        boom()

    with dg.instance_for_test() as instance:
        failing_job.execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_runs()[0]
        failure = next(
            e for e in instance.all_logs(run.run_id) if e.dagster_event and
            e.dagster_event.event_type_value == "PIPELINE_FAILURE"
        )  # fmt: skip
        sensor = defs.resolve_sensor_def("run_failure_alert_sensor")
        ctx = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.dagster_event,
            resources=loop_resources,
        )
        sensor(ctx.for_run_failure())
    lines = (loop_home / "alerts" / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert "failing_job" in json.loads(lines[0])["title"]
    assert "boom: RuntimeError: planted failure" in json.loads(lines[0])["text"]  # the cause


def _more_events(home, n: int, seed: int):
    from datetime import UTC, datetime

    from feedback_ingest.simulate import write_simulated

    write_simulated(
        IngestConfig(home=home), n, seed=seed, start=datetime(2026, 6, seed, tzinfo=UTC)
    )
    return _snapshot(home)


def _failed_expectations(instance, version: str):
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("preference_dataset"),
            check_name="preference_dataset_expectations",
            passed=False,
            metadata={"dataset_version": version},
        )
    )


def test_volume_sensor_counts_from_the_last_request_not_once_per_snapshot(
    defs, loop_home, loop_resources
):
    """No champion yet and a run already requested: a snapshot with a few new pairs must not
    queue another run (before: one request per snapshot until a champion existed)."""
    first = _snapshot(loop_home)
    second = _more_events(loop_home, 20, seed=2)
    assert second.version != first.version
    with dg.instance_for_test() as instance:
        _, result, _ = _tick(
            defs, "feedback_volume_sensor", instance, loop_resources, first.version
        )
    assert isinstance(result, dg.SkipReason)
    assert f"new pairs since {first.version} (< 100)" in result.skip_message


def test_volume_sensor_never_requests_a_dataset_that_failed_its_expectations(
    defs, loop_home, loop_resources
):
    snapshot = _snapshot(loop_home)
    with dg.instance_for_test() as instance:
        _failed_expectations(instance, snapshot.version)
        _, result, _ = _tick(defs, "feedback_volume_sensor", instance, loop_resources)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == f"{snapshot.version} failed its expectations: not trained"


def test_a_skipped_drift_report_keeps_the_episode(defs, loop_home, loop_resources):
    """drift, skipped (too little traffic), drift: one episode, one alert (before: two)."""
    requests = []
    with dg.instance_for_test() as instance:
        sensor = defs.resolve_sensor_def("reward_drift_sensor")
        cursor = None
        for metadata in ({"drift_detected": True}, {"drift_detected": False, "skipped": "few"},
                         {"drift_detected": True}):  # fmt: skip
            instance.report_runless_asset_event(
                dg.AssetMaterialization("reward_drift_report", metadata=metadata)
            )
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=loop_resources
            )
            data = sensor.evaluate_tick(ctx)
            cursor = data.cursor
            requests += [r.run_key for r in data.run_requests]
    assert requests == ["drift-episode-1"]


def test_a_run_whose_worker_died_is_failed_and_frees_the_training_pool(defs, loop_resources):
    """A run worker killed (OOM, SIGKILL) leaves its run STARTED and its pool slot claimed
    for good; the sensor fails it and frees the slot. A live worker's run is left alone."""
    import os
    import subprocess
    import sys

    from dagster._core.events import DagsterEvent

    from orchestration.instance import TRAINING_POOL

    @dg.op
    def noop():
        pass

    @dg.job
    def some_job():
        noop()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(TRAINING_POOL, 1)
        runs = {}
        for name, pid in (("dead", gone.pid), ("live", os.getpid())):
            run = instance.create_run_for_job(job_def=some_job)
            start = DagsterEvent(dg.DagsterEventType.RUN_START.value, "some_job", pid=pid)
            instance.report_dagster_event(start, run_id=run.run_id)
            runs[name] = run.run_id
        assert storage.claim_concurrency_slot(TRAINING_POOL, runs["dead"], "train").is_claimed
        _, result, _ = _tick(defs, "dead_run_sensor", instance, loop_resources)
        assert result.skip_message == f"marked failed: {runs['dead']}"
        status = {name: instance.get_run_by_id(i).status for name, i in runs.items()}
        assert status == {"dead": dg.DagsterRunStatus.FAILURE, "live": dg.DagsterRunStatus.STARTED}
        assert storage.get_concurrency_info(TRAINING_POOL).claimed_slots == []
        _, again, _ = _tick(defs, "dead_run_sensor", instance, loop_resources)
        assert again.skip_message == "no dead run"
