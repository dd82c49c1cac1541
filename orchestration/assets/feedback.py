"""Feedback group: new events from the source, then a new preference-dataset snapshot."""

import dagster as dg

from orchestration.metadata import table_md
from orchestration.resources import FeedbackSourceResource, RmopsHomeResource

QUARANTINE_CHECK = "quarantine_share_check"


@dg.asset(
    group_name="feedback",
    kinds={"python"},
    check_specs=[
        dg.AssetCheckSpec(
            QUARANTINE_CHECK,
            asset="feedback_events",
            description="Warns when a run quarantines more than `max_quarantine_share` of the "
            "events it read: an upstream schema change or a broken producer.",
        )
    ],
)
def feedback_events(
    context: dg.AssetExecutionContext,
    rmops_home: RmopsHomeResource,
    feedback_source: FeedbackSourceResource,
) -> dg.MaterializeResult:
    """Ingest new feedback events: validate, de-duplicate, quarantine bad ones with a reason."""
    from feedback_ingest.ingest import ingest_feedback

    config = rmops_home.ingest_config()
    report = ingest_feedback(config, feedback_source.source(config))
    context.log.info(
        f"read {report.read}: {report.accepted} accepted, {report.duplicate} duplicate, "
        f"{report.quarantined} quarantined"
    )
    return dg.MaterializeResult(
        metadata={
            "read": report.read,
            "accepted": report.accepted,
            "duplicate": report.duplicate,
            "quarantined": report.quarantined,
            "quarantine_reasons": dg.MetadataValue.md(
                table_md(["reason", "events"], sorted(report.quarantine_reasons.items()))
            ),
            "accepted_by_type": dict(report.by_type),
            "quarantine_dir": dg.MetadataValue.path(str(config.quarantine_dir)),
            "stage_seconds": dict(report.stage_seconds),  # where the run's time went
            "validation_lanes": dict(report.lanes),  # accepted by the native and batched
            # lanes, and records judged line by line (the slow path: table rows, rejects)
            # files of the landing folder read again (replaced under their name), read on
            # after a rename, left waiting for a last line's newline, or not read at all
            "reread_files": ", ".join(report.reread_files) or "none",
            "renamed_files": dict(report.renamed_files),
            "waiting_bytes": dict(report.waiting_bytes),
            "ignored_files": ", ".join(report.ignored_files) or "none",
        },
        check_results=[_quarantine_share(report, rmops_home.max_quarantine_share)],
    )


def _quarantine_share(report, limit: float) -> dg.AssetCheckResult:
    """The validation suite's quarantine-share expectation on this run's counts. Not blocking:
    the accepted events are good; the operator needs to see the rest."""
    from validation.expectations import DataExpectationsConfig, share_outcomes

    counts = {"events": report.read, "quarantined": report.quarantined}
    outcomes = share_outcomes(counts, DataExpectationsConfig(max_quarantine_share=limit))
    top = sorted(report.quarantine_reasons.items(), key=lambda item: -item[1])[:3]
    return dg.AssetCheckResult(
        passed=all(o.success for o in outcomes),  # a run that read nothing passes
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantine_share": outcomes[0].details["observed_value"] if outcomes else 0.0,
            "limit": limit,
            "read": report.read,
            "quarantined": report.quarantined,
            "top_reasons": ", ".join(f"{name} {n}" for name, n in top) or "none",
        },
    )


@dg.asset(group_name="feedback", deps=[feedback_events], kinds={"parquet"})
def preference_dataset(context: dg.AssetExecutionContext, rmops_home: RmopsHomeResource):
    """A new versioned snapshot of preference pairs (parent + pairs from new events)."""
    from feedback_ingest.build import build_snapshot

    report = build_snapshot(rmops_home.ingest_config())
    counts = report.counts
    # what this run added: nothing when no version was made (counts are then the latest one's)
    added = counts if report.created else {}
    context.add_output_metadata(
        {
            "dataset_version": report.version or "none",
            # a backlog past max_build_events makes several versions in one run
            "versions_created": ", ".join(report.versions) or "none",
            "created": report.created,
            "parent": report.parent or "none",
            "pairs_train": counts.get("train", 0),
            "pairs_val": counts.get("val", 0),
            "new_pairs": added.get("new_pairs", 0),
            "golden_excluded": added.get("golden_excluded", 0),
            "ties": added.get("ties", 0),
            "path": dg.MetadataValue.path(report.path or ""),
            "stage_seconds": dict(report.stage_seconds),
        }
    )
    return report
