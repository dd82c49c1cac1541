"""Validation group: the candidate scored against the champion on the golden set."""

import dagster as dg

from orchestration.configs import GateRunConfig
from orchestration.metadata import bullet_md, table_md
from orchestration.resources import MlflowRegistryResource, RmopsHomeResource


@dg.asset(group_name="validation", kinds={"python"})
def candidate_evaluation(
    context: dg.AssetExecutionContext,
    config: GateRunConfig,
    reward_model_candidate,
    rmops_home: RmopsHomeResource,
    mlflow_registry: MlflowRegistryResource,
):
    """Golden-set gate: accuracy with intervals vs the champion, calibration, length bias and
    reward-hacking probes, per slice; the verdict decides promotion."""
    from orchestration.steps.gating import evaluate_candidate_run

    output_dir = rmops_home.reports_dir / "gate" / reward_model_candidate.run_id
    evaluation = evaluate_candidate_run(
        reward_model_candidate,
        mlflow_registry.registry_config(),
        rmops_home.golden_paths(),
        config.to_gate_config(),
        output_dir,
    )
    s, verdict = evaluation.summary, evaluation.verdict
    rows = [(k, v) for k, v in sorted(s.items()) if "accuracy" in k or "diff" in k]
    context.add_output_metadata(
        {
            "verdict": "passed" if verdict.passed else "refused",
            "golden_accuracy": s.get("accuracy", float("nan")),
            "champion_accuracy": s.get("champion.accuracy", float("nan")),
            "champion_version": evaluation.champion_version or "none",
            "golden_pairs": verdict.n_pairs,
            "golden_hash": verdict.golden_hash[:16],
            "reasons": dg.MetadataValue.md(bullet_md(verdict.reasons)),
            "metrics": dg.MetadataValue.md(table_md(["metric", "value"], rows)),
            "reliability_plot": dg.MetadataValue.path(verdict.reliability_plot or ""),
        }
    )
    return evaluation
