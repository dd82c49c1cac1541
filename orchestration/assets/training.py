"""Training group: a reward-model candidate trained on the newest preference dataset."""

import dagster as dg

from orchestration.configs import TrainingConfig
from orchestration.instance import TRAINING_POOL
from orchestration.resources import MlflowRegistryResource, RmopsHomeResource

# Read only by the dagster-k8s executor / run launcher: a GPU for the training step.
K8S_GPU_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        }
    }
}


DATASET_TAG = "rmops/dataset_version"


@dg.asset(
    group_name="training",
    kinds={"pytorch", "mlflow"},
    pool=TRAINING_POOL,
    op_tags=K8S_GPU_TAGS,
    deps=["preference_dataset"],
)
def reward_model_candidate(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    rmops_home: RmopsHomeResource,
    mlflow_registry: MlflowRegistryResource,
):
    """Bradley-Terry reward model trained on the dataset snapshot, logged as an MLflow run:
    the version the run was requested for (its `rmops/dataset_version` tag), else the newest;
    never one that failed its expectations."""
    from orchestration.steps.training import train_candidate

    _preflight(context, rmops_home)
    version = _dataset_version(context, rmops_home)
    registry = mlflow_registry.registry_config()
    candidate = train_candidate(
        config.to_train_config(),
        registry,
        rmops_home.ingest_config().datasets_root,
        version,
        rmops_home.runs_dir,
        warm_start=config.warm_start,
    )
    m = candidate.metrics
    context.add_output_metadata(
        {
            "dataset_version": candidate.dataset_version,
            "mlflow_run_id": candidate.run_id,
            "mlflow_run": dg.MetadataValue.url(run_link(registry, candidate.run_id)),
            "warm_start_version": candidate.warm_start_version or "base",
            "val_accuracy": float(m.get("val_accuracy", float("nan"))),
            "pairs_trained": int(m.get("pairs_trained", 0)),
            "pairs_per_s": float(m.get("pairs_per_s", 0.0)),
            "export_dir": dg.MetadataValue.path(candidate.export_dir),
        }
    )
    return candidate


def _preflight(context: dg.AssetExecutionContext, rmops_home: RmopsHomeResource) -> None:
    """What the gate step of this run will need, checked before training (hours on real data):
    its run config and a golden set."""
    from orchestration.configs import GateRunConfig

    selection = context.run.asset_selection  # None or empty: the whole job
    if selection and dg.AssetKey("candidate_evaluation") not in selection:
        return
    ops = (context.run.run_config or {}).get("ops", {})
    gate = ops.get("candidate_evaluation", {}).get("config", {})
    try:
        GateRunConfig(**gate).to_gate_config()
    except ValueError as exc:
        raise dg.Failure(f"candidate_evaluation config: {exc}") from None
    if not rmops_home.golden_paths():
        raise dg.Failure(
            f"golden set: no *.jsonl or *.jsonl.gz file in {rmops_home.golden_folder} "
            "(RMOPS_GOLDEN_DIR): the gate could not judge the candidate"
        )


def _dataset_version(context: dg.AssetExecutionContext, rmops_home: RmopsHomeResource) -> str:
    """The dataset to train, once its expectations passed (checked now if never checked)."""
    from feedback_ingest.snapshots import latest_version
    from orchestration.checks import expectations_verdict, run_expectations

    root = rmops_home.ingest_config().datasets_root
    version = context.run.tags.get(DATASET_TAG) or latest_version(root)
    if version is None:
        raise dg.Failure("no dataset snapshot yet: run ingest_job (or `rmops ingest`) first")
    passed = expectations_verdict(context.instance, version)
    if passed is None:
        result = run_expectations(rmops_home, version)
        context.log.info(f"expectations on {version} (never checked here): {result.summary()}")
        passed = result.passed
    if not passed:
        raise dg.Failure(
            f"dataset {version} failed its expectations (preference_dataset_expectations): "
            "not trained"
        )
    return version


def run_link(registry, run_id: str) -> str:
    """Where the run is in the MLflow UI (`make ui` serves it on port 5000 by default)."""
    base = (
        registry.tracking_uri
        if registry.tracking_uri.startswith("http")
        else "http://127.0.0.1:5000"
    )
    return f"{base.rstrip('/')}/#/experiments/0/runs/{run_id}"
