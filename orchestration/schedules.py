"""Schedules: ingest new feedback every few minutes; check reward drift every hour."""

import dagster as dg

from orchestration.jobs import drift_job, ingest_job


def build_schedules(ingest_cron: str, drift_cron: str) -> list[dg.ScheduleDefinition]:
    return [
        dg.ScheduleDefinition(
            name="ingest_schedule",
            job=ingest_job,
            cron_schedule=ingest_cron,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
        dg.ScheduleDefinition(
            name="drift_schedule",
            job=drift_job,
            cron_schedule=drift_cron,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
    ]
