"""Registry group: the registered model version (challenger / champion) and the PPO handoff."""

import dagster as dg

from orchestration.resources import MlflowRegistryResource, RmopsHomeResource


@dg.asset(
    group_name="registry", kinds={"mlflow"}, retry_policy=dg.RetryPolicy(max_retries=3, delay=10)
)
def registered_reward_model(
    context: dg.AssetExecutionContext,
    reward_model_candidate,
    candidate_evaluation,
    rmops_home: RmopsHomeResource,
    mlflow_registry: MlflowRegistryResource,
):
    """The candidate as a registered model version with its gate tags; promoted to `champion`
    (compare-and-set against the champion it was evaluated against) when the gate passed."""
    from orchestration.steps.gating import register_and_promote
    from orchestration.steps.monitoring import store_drift_reference

    registry = mlflow_registry.registry_config()
    outcome = register_and_promote(reward_model_candidate, candidate_evaluation, registry)
    if outcome.promoted:
        outcome.reference_rows = store_drift_reference(
            registry,
            rmops_home.ingest_config(),
            outcome.champion,
            rmops_home.drift_reference_path,
            rmops_home.drift_window,
            rmops_home.runs_dir / "champions",
        )
    context.log.info(outcome.detail)
    context.add_output_metadata(
        {
            "model_version": outcome.version,
            "model_uri": outcome.model_uri,
            "promoted": outcome.promoted,
            "champion": outcome.champion or "none",
            "previous_champion": outcome.previous_champion or "none",
            "detail": outcome.detail,
            "drift_reference_rows": outcome.reference_rows,
        }
    )
    return outcome


@dg.asset(group_name="registry", kinds={"json"})
def ppo_handoff(
    context: dg.AssetExecutionContext, registered_reward_model, rmops_home: RmopsHomeResource
):
    """The handoff record a downstream PPO job loads the champion from (written at promotion)."""
    from rm_pipeline.handoff import read_latest_handoff

    record = read_latest_handoff(rmops_home.handoff_dir)
    if record is None:
        context.add_output_metadata({"champion": "none"})
        return None
    context.add_output_metadata(
        {
            "champion": record.version,
            "model_uri": record.model_uri,
            "alias_uri": record.alias_uri,
            "dataset_version": record.dataset_version or "none",
            "reward_mean": float(record.reward_mean or 0.0),
            "reward_std": float(record.reward_std or 1.0),
            "changed_this_run": registered_reward_model.promoted,
            "path": dg.MetadataValue.path(str(rmops_home.handoff_dir / "latest.json")),
        }
    )
    return record.to_dict()
