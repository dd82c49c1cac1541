"""Asset checks: the blocking gates of the loop.

A failed blocking check fails its step and stops everything downstream: a dataset that fails
its expectations is never trained on, and a candidate that fails the golden gate is never
registered as challenger or promoted. (The drift check lives on `reward_drift_report`.)
"""

import dagster as dg

from orchestration.assets.feedback import preference_dataset
from orchestration.assets.validation import candidate_evaluation
from orchestration.metadata import bullet_md, table_md
from orchestration.resources import RmopsHomeResource

EXPECTATIONS_CHECK = dg.AssetCheckKey(
    dg.AssetKey("preference_dataset"), "preference_dataset_expectations"
)


def run_expectations(rmops_home: RmopsHomeResource, version: str):
    """The Great Expectations suite on dataset `version` (a `validation` result)."""
    from feedback_ingest.golden import golden_prompt_hashes
    from validation.expectations import validate_snapshot

    config = rmops_home.ingest_config()
    return validate_snapshot(
        config.datasets_root,
        version,
        golden_prompt_hashes=golden_prompt_hashes(config.golden_paths),
    )


def expectations_verdict(instance: dg.DagsterInstance, version: str) -> bool | None:
    """The newest verdict of `preference_dataset_expectations` on dataset `version` recorded in
    the instance; None when it was never checked there (built by `rmops ingest`, say)."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        EXPECTATIONS_CHECK, limit=200
    )
    for record in history:
        evaluation = record.event.asset_check_evaluation if record.event else None
        checked = evaluation.metadata.get("dataset_version") if evaluation else None
        if checked is not None and checked.value == version:
            return bool(evaluation.passed)
    return None


@dg.asset_check(asset=preference_dataset, blocking=True)
def preference_dataset_expectations(preference_dataset, rmops_home: RmopsHomeResource):
    """Great Expectations suite on the snapshot: schema, non-null text, chosen != rejected,
    unique ids, agreement and weight ranges, annotator mix, tie share, no golden leak."""
    if preference_dataset.version is None:  # nothing landed yet: nothing to train on either
        return dg.AssetCheckResult(passed=True, metadata={"skipped": "no dataset snapshot yet"})
    result = run_expectations(rmops_home, preference_dataset.version)
    rows = [(r.name, r.column or "", r.success, r.unexpected_count or 0) for r in result.results]
    return dg.AssetCheckResult(
        passed=result.passed,
        metadata={
            "dataset_version": preference_dataset.version,
            "summary": result.summary(),
            "expectations": dg.MetadataValue.md(
                table_md(["expectation", "column", "passed", "unexpected rows"], rows)
            ),
            **result.counts,
        },
    )


@dg.asset_check(asset=candidate_evaluation, blocking=True)
def candidate_gate_verdict(candidate_evaluation):
    """The golden-gate verdict: failing it stops registration and promotion."""
    verdict = candidate_evaluation.verdict
    return dg.AssetCheckResult(
        passed=bool(verdict.passed),
        metadata={
            "reasons": dg.MetadataValue.md(bullet_md(verdict.reasons)),
            "golden_accuracy": candidate_evaluation.summary.get("accuracy", float("nan")),
            "champion_version": candidate_evaluation.champion_version or "none",
        },
    )
