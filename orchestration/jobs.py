"""Jobs: ingest, training (train -> gate -> register -> handoff), drift, downstream PPO."""

import dagster as dg

from orchestration.configs import HandoffConfig
from orchestration.resources import MlflowRegistryResource, RmopsHomeResource

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets("feedback_events", "preference_dataset"),
    description="Ingest new feedback events and build a new preference-dataset snapshot.",
)

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(
        "reward_model_candidate", "candidate_evaluation", "registered_reward_model", "ppo_handoff"
    ),
    description="Train a candidate on the newest dataset, gate it, register and promote it.",
)

drift_job = dg.define_asset_job(
    "drift_job",
    selection=dg.AssetSelection.assets("reward_drift_report"),
    description="Score recent traffic with the champion and compare with its reference.",
)


@dg.op
def score_with_champion(
    context: dg.OpExecutionContext,
    config: HandoffConfig,
    rmops_home: RmopsHomeResource,
    mlflow_registry: MlflowRegistryResource,
) -> dict:
    """Load the champion named in the handoff record (a fresh process) and score traffic."""
    from orchestration.steps.monitoring import score_with_handoff

    summary = score_with_handoff(
        config.handoff_path,
        mlflow_registry.registry_config().tracking_uri,  # without credentials
        rmops_home.ingest_config(),
        config.sample,
    )
    context.add_output_metadata({k: v for k, v in summary.items() if v is not None})
    context.log.info(
        f"downstream job scored {summary['scored']} responses with v{summary['version']}"
    )
    return summary


@dg.job(description="Stand-in for the downstream PPO job: consumes the handoff record.")
def downstream_ppo_job():
    score_with_champion()
