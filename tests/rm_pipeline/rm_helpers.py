"""Helpers shared by the rm_pipeline tests (fixtures live in conftest.py)."""

from __future__ import annotations

import pair_frames
import pandas as pd

from rm_pipeline.config import TrainConfig
from rm_pipeline.registry import register_candidate
from rm_pipeline.tracking import ensure_experiment, mlflow_client

TOPICS = ["tea", "rain", "chess", "bread", "rivers", "stars", "music", "birds"]


def pairs_frame(rows: list[tuple[str, str, str]], val_every: int = 5) -> pd.DataFrame:
    """Pairs in the snapshot schema; every `val_every`-th pair goes to val."""
    return pair_frames.pairs_frame(
        rows,
        split=lambda i, ph: "val" if i % val_every == 0 else "train",
        kind=lambda i: "human" if i % 2 else "ai",
    )


def obvious_pairs(n: int = 60) -> pd.DataFrame:
    """Helpful answers beat curt refusals: any working trainer separates them."""
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        prompt = f"\n\nHuman: Tell me something about {topic} ({i}).\n\nAssistant:"
        rows.append((prompt, f" Happy to help! Here is a useful fact about {topic}.", " No."))
    return pairs_frame(rows)


def split_frames(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pairs[pairs["split"] == "train"], pairs[pairs["split"] == "val"]


def tiny_config(backbone, **overrides) -> TrainConfig:
    """Settings that make the tiny random BERT learn the obvious preference in about a second."""
    settings = dict(
        backbone=str(backbone),
        learning_rate=5e-3,
        num_epochs=4,
        warmup_ratio=0.0,
        per_device_batch_size=8,
        logging_steps=2,
        progress_bar=False,
        max_length=64,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


class Recorder:
    """A MetricsCallback that keeps every call."""

    def __init__(self):
        self.calls: list[tuple[str, int, dict]] = []

    def on_metrics(self, metrics, step, stage):
        self.calls.append((stage, step, dict(metrics)))


def add_version(cfg, store, passed=True, accuracy=0.7, reasons=(), card=True, run_id=None):
    """Register the module's logged model as a new version of `cfg.model_name`."""
    base, logged = store
    client = mlflow_client(cfg)
    run_id = run_id or client.create_run(ensure_experiment(cfg, client)).info.run_id
    return register_candidate(
        cfg,
        run_id,
        logged.model_uri,
        dataset_version="v000007",
        verdict_passed=passed,
        verdict_reasons=list(reasons),
        golden_metrics={"accuracy": accuracy, "ece": 0.05},
        base_model="tiny-bert",
        card=logged.card if card else None,
    )


def aliases(cfg) -> dict[str, str]:
    """alias -> version of `cfg.model_name`, read straight from MLflow."""
    found = mlflow_client(cfg).get_registered_model(cfg.model_name).aliases
    return {alias: str(version) for alias, version in found.items()}
