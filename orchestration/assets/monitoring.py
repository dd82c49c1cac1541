"""Monitoring group: the champion's reward distribution on recent traffic vs its reference."""

import dagster as dg

from orchestration.configs import DriftRunConfig
from orchestration.metadata import table_md
from orchestration.resources import MlflowRegistryResource, RmopsHomeResource

DRIFT_CHECK = "reward_drift_check"


@dg.asset(
    group_name="monitoring",
    kinds={"evidently"},
    deps=["feedback_events"],
    check_specs=[dg.AssetCheckSpec(DRIFT_CHECK, asset="reward_drift_report")],
)
def reward_drift_report(
    context: dg.AssetExecutionContext,
    config: DriftRunConfig,
    rmops_home: RmopsHomeResource,
    mlflow_registry: MlflowRegistryResource,
) -> dg.MaterializeResult:
    """Evidently value drift of reward (and lengths) on recent traffic; HTML report on disk."""
    from orchestration.steps.monitoring import reward_drift

    result = reward_drift(
        mlflow_registry.registry_config(),
        rmops_home.ingest_config(),
        rmops_home.drift_reference_path,
        rmops_home.drift_window,
        config.to_drift_config(),
        rmops_home.reports_dir / "drift",
        rmops_home.runs_dir / "champions",
    )
    if result is None or result.skipped_reason:
        why = "no champion or reference yet" if result is None else result.skipped_reason
        return dg.MaterializeResult(
            metadata={"drift_detected": False, "skipped": why},
            check_results=[dg.AssetCheckResult(passed=True, metadata={"skipped": why})],
        )
    rows = [(n, c["method"], c["score"], c["drifted"]) for n, c in result.columns.items()]
    metadata = {
        "drift_detected": result.drift_detected,
        "columns": dg.MetadataValue.md(table_md(["column", "method", "score", "drifted"], rows)),
        "mean_reward_shift": result.mean_reward_shift,
        "reward_length_corr_shift": result.reward_length_corr_shift,
        "n_reference": result.n_reference,
        "n_current": result.n_current,
        "report": dg.MetadataValue.path(result.report_path or ""),
    }
    metadata.update({f"score_{n}": float(c["score"]) for n, c in result.columns.items()})
    metadata.update({f"method_{n}": str(c["method"]) for n, c in result.columns.items()})
    check = dg.AssetCheckResult(
        passed=not result.drift_detected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"summary": result.summary()},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
