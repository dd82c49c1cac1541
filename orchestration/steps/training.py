"""Train a candidate on a dataset snapshot, tracked as one MLflow run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedback_ingest.snapshots import load_snapshot, read_manifest


@dataclass
class CandidateRun:
    """A trained, exported and logged (not yet registered) reward model."""

    run_id: str
    model_uri: str  # runs:/RUN/reward_model: what registration registers
    export_dir: str
    dataset_version: str
    base_model: str
    warm_start_version: str | None  # champion version the training started from, if any
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def champion_folder(registry, dst_root: Path, version: str) -> Path:
    """The exported folder of registered `version`, downloaded once under `dst_root`."""
    from rm_pipeline.handoff import resolve_model_folder

    dst = Path(dst_root) / f"{registry.model_name}-v{version}"
    if dst.is_dir():  # already downloaded: a local folder resolves without MLflow
        return resolve_model_folder(dst)
    uri = f"models:/{registry.model_name}/{version}"
    return resolve_model_folder(uri, registry.tracking_uri, registry.registry_uri, dst)


def _work_dir(runs_dir: Path, dataset_version: str, start: str, config: Any) -> Path:
    # Same data + same start + same config = the same training: a retried (killed) run lands in
    # the same folder and resumes from its last checkpoint instead of starting over.
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()
    return Path(runs_dir) / f"{dataset_version}-from-{start}-{digest[:10]}"


def train_candidate(
    train_config,
    registry,
    datasets_root: Path,
    dataset_version: str,
    runs_dir: Path,
    warm_start: bool = True,
) -> CandidateRun:
    """Train on snapshot `dataset_version` (warm-starting from the champion when there is one),
    log params/metrics/model to MLflow and return the logged candidate."""
    from rm_pipeline.mlflow_model import log_reward_model
    from rm_pipeline.registry import current_champion
    from rm_pipeline.tracking import log_training_result, start_training_run
    from rm_pipeline.train import train_reward_model

    train, val = load_snapshot(datasets_root, dataset_version)
    counts = read_manifest(datasets_root, dataset_version).get("counts", {})
    champion = current_champion(registry) if warm_start else None
    if champion is not None:
        folder = champion_folder(registry, Path(runs_dir) / "champions", champion)
        train_config = dataclasses.replace(train_config, init_from=str(folder))
    work = _work_dir(
        runs_dir, dataset_version, f"v{champion}" if champion else "base", train_config
    )
    tags = {"warm_start_version": champion or ""}
    run_name = f"train-{dataset_version}"
    with start_training_run(registry, train_config, dataset_version, counts, run_name, tags) as run:
        result = train_reward_model(
            train_config, train, val, work, dataset_version, callbacks=[run.metrics_callback()]
        )
        log_training_result(registry, run.run_id, result)
        logged = log_reward_model(registry, run.run_id, result.export_dir)
    return CandidateRun(
        run_id=run.run_id,
        model_uri=logged.model_uri,
        export_dir=str(result.export_dir),
        dataset_version=dataset_version,
        base_model=result.card.base_model,
        warm_start_version=champion,
        metrics=dict(result.metrics),
    )
