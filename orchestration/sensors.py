"""Sensors: retrain on feedback volume or reward drift, launch the downstream job on a new
champion, and alert on failed runs. Each tick stays cheap (manifests and small JSON files)."""

import dagster as dg

from orchestration.jobs import downstream_ppo_job, drift_job, ingest_job, training_job
from orchestration.resources import AlertSinksResource, RmopsHomeResource

RUNNING = dg.DefaultSensorStatus.RUNNING


@dg.sensor(job=training_job, default_status=RUNNING, minimum_interval_seconds=30)
def feedback_volume_sensor(context: dg.SensorEvaluationContext, rmops_home: RmopsHomeResource):
    """Retrain when enough new accepted pairs arrived since the dataset of the champion or of
    the last run requested (whichever is newer: one request per `retrain_min_pairs`, not one
    per snapshot while a run is queued or after a refusal), on a dataset whose expectations
    did not fail."""
    from feedback_ingest.snapshots import latest_version, pairs_added_since
    from orchestration.assets.training import DATASET_TAG
    from orchestration.checks import expectations_verdict
    from rm_pipeline.handoff import read_latest_handoff

    root = rmops_home.root / "datasets" / "preferences"
    latest = latest_version(root)
    if latest is None:
        return dg.SkipReason("no dataset snapshot yet")
    if context.cursor == latest:
        return dg.SkipReason(f"already requested training for {latest}")
    if expectations_verdict(context.instance, latest) is False:
        return dg.SkipReason(f"{latest} failed its expectations: not trained")
    record = read_latest_handoff(rmops_home.handoff_dir)
    base = max(filter(None, [record.dataset_version if record else None, context.cursor]),
               default=None)  # fmt: skip
    new_pairs = pairs_added_since(root, base)
    threshold = rmops_home.retrain_min_pairs
    if new_pairs < threshold:
        return dg.SkipReason(
            f"{new_pairs} new pairs since {base or 'the start'} (< {threshold}); waiting"
        )
    request = dg.RunRequest(
        run_key=f"dataset-{latest}",
        tags={"rmops/trigger": "feedback_volume", DATASET_TAG: latest},
    )
    return dg.SensorResult(run_requests=[request], cursor=latest)


@dg.asset_sensor(
    asset_key=dg.AssetKey("reward_drift_report"), job=training_job, default_status=RUNNING
)
def reward_drift_sensor(
    context: dg.SensorEvaluationContext,
    asset_event: dg.EventLogEntry,
    rmops_home: RmopsHomeResource,
    alert_sinks: AlertSinksResource,
):
    """Alert once per drift episode and request one retraining run for it."""
    from validation.alerts import Alert, DriftEpisodes

    metadata = asset_event.asset_materialization.metadata
    if "skipped" in metadata:  # no verdict (too little traffic, no champion): the episode stays
        return dg.SkipReason(f"drift report skipped: {metadata['skipped'].value}")
    drifted = bool(metadata["drift_detected"].value) if "drift_detected" in metadata else False
    episodes = DriftEpisodes(rmops_home.drift_state_path)
    if not episodes.observe(drifted):
        return dg.SkipReason("drifting, already alerted" if drifted else "no drift")
    fields = {
        k: metadata[k].value
        for k in ("mean_reward_shift", "method_reward", "score_reward")
        if k in metadata
    }
    fields["report"] = metadata["report"].value if "report" in metadata else "-"
    alert = Alert(
        title="Reward drift detected",
        text="The champion's reward distribution on recent traffic moved; retraining requested.",
        severity="warning",
        fields=fields,
    )
    episodes.deliver(alert, alert_sinks.sinks())
    episode = episodes.state["episodes"]
    return dg.RunRequest(run_key=f"drift-episode-{episode}", tags={"rmops/trigger": "reward_drift"})


def build_champion_change_sensor(job) -> dg.SensorDefinition:
    """A sensor that launches `job` (the downstream PPO job) once per champion change."""

    @dg.sensor(name="champion_change_sensor", job=job, default_status=RUNNING)
    def champion_change_sensor(context: dg.SensorEvaluationContext, rmops_home: RmopsHomeResource):
        from rm_pipeline.handoff import history_path, read_latest_handoff

        record = read_latest_handoff(rmops_home.handoff_dir)
        if record is None:
            return dg.SkipReason("no champion yet")
        key = f"v{record.version}-{record.created_at}"
        if context.cursor == key:
            return dg.SkipReason(f"champion v{record.version} already handed off")
        # this change's own record: latest.json may name a newer champion by the time it runs
        kept = history_path(record, rmops_home.handoff_dir)
        path = str(kept if kept.is_file() else rmops_home.handoff_dir / "latest.json")
        request = dg.RunRequest(
            run_key=f"handoff-{key}",
            run_config={"ops": {"score_with_champion": {"config": {"handoff_path": path}}}},
            tags={"rmops/champion": record.version},
        )
        return dg.SensorResult(run_requests=[request], cursor=key)

    return champion_change_sensor


@dg.sensor(default_status=RUNNING, minimum_interval_seconds=60)
def dead_run_sensor(context: dg.SensorEvaluationContext):
    """Mark failed a started run whose worker process is gone (OOM-killed, SIGKILL), and free
    its pool slots: otherwise it stays STARTED and holds the training pool for good. Only for
    the embedded run launcher (worker processes on this host), which Dagster's run monitoring
    cannot check; launchers that can (k8s) have `run_monitoring` for this."""
    from dagster._core.launcher import DefaultRunLauncher

    from rm_pipeline.processes import process_alive

    instance = context.instance
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return dg.SkipReason("run workers are not on this host: left to run_monitoring")
    started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    failed = []
    for record in started:
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(run, f"run worker process {pid} is gone (killed?)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return dg.SkipReason(f"marked failed: {', '.join(failed)}" if failed else "no dead run")


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that started the run (its RUN_START event's pid)."""
    starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    return starts[-1].dagster_event.pid if starts and starts[-1].dagster_event else None


@dg.run_failure_sensor(
    default_status=RUNNING, monitored_jobs=[ingest_job, training_job, drift_job, downstream_ppo_job]
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alert_sinks: AlertSinksResource):
    """Alert through the same sinks when a pipeline run fails (a gate refusal included)."""
    from validation.alerts import Alert

    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    causes = [  # why each step failed, not only which: the alert should say what to fix
        f"{e.step_key}: {_root_cause(e.step_failure_data.error)}"
        for e in context.get_step_failure_events()
        if e.step_failure_data and e.step_failure_data.error
    ]
    alert = Alert(
        title=f"rmops run failed: {run.job_name}",
        text="; ".join([message, *causes])[:1000],
        severity="critical",
        fields={"run_id": run.run_id, "job": run.job_name},
    )
    alert_sinks.send(alert)


def _root_cause(error) -> str:
    """The first line of the innermost error (Dagster wraps the op's own exception)."""
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name or "error"
