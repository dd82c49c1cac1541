"""Drift monitoring: the champion's rewards on recent traffic vs the reference stored at
promotion; and the downstream PPO probe that proves the handoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.steps.training import champion_folder


def _atomic_parquet(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def store_drift_reference(
    registry, ingest_config, version: str, path: Path, window: int, cache_dir: Path
) -> int:
    """Score the latest `window` production responses with champion `version` and keep them
    (prompt, response, reward) as the drift reference. Returns the row count."""
    from feedback_ingest.recent import recent_responses
    from rm_pipeline.scoring import RewardScorer
    from validation.drift import score_frame

    frame = recent_responses(ingest_config, limit=window)
    if frame.empty:
        return 0
    scorer = RewardScorer.load(champion_folder(registry, cache_dir, version))
    scored = score_frame(scorer, frame[["prompt", "response"]])
    scored["champion_version"] = version
    _atomic_parquet(scored, Path(path))
    return len(scored)


def reward_drift(
    registry,
    ingest_config,
    reference_path: Path,
    window: int,
    drift_config,
    output_dir: Path,
    cache_dir: Path,
):
    """DriftResult of the champion's rewards on the latest `window` responses vs the reference.

    Returns None when there is nothing to compare yet (no champion or no reference)."""
    import pandas as pd

    from feedback_ingest.recent import recent_responses
    from rm_pipeline.registry import current_champion
    from rm_pipeline.scoring import RewardScorer
    from validation.drift import detect_drift, score_frame

    champion = current_champion(registry)
    if champion is None or not Path(reference_path).is_file():
        return None
    reference = pd.read_parquet(reference_path)
    current = recent_responses(ingest_config, limit=window)
    scorer = RewardScorer.load(champion_folder(registry, cache_dir, champion))
    if reference.get("champion_version", pd.Series([champion])).iloc[0] != champion:
        # The reference belongs to an older champion: re-score it with this one.
        reference = score_frame(scorer, reference[["prompt", "response"]])
    current = score_frame(scorer, current[["prompt", "response"]])
    return detect_drift(reference, current, drift_config, output_dir=output_dir)


def score_with_handoff(
    handoff_path: Path, tracking_uri: str, ingest_config, sample: int = 64
) -> dict[str, Any]:
    """What a downstream PPO / best-of-N job does with a handoff record: load the pinned
    champion in this process and score recent prompts; returns a summary."""
    import json

    from feedback_ingest.recent import recent_responses
    from rm_pipeline.handoff import HandoffRecord, best_of_n, load_reward_model

    record = HandoffRecord.from_dict(json.loads(Path(handoff_path).read_text()))
    scorer = load_reward_model(record.model_uri, tracking_uri=tracking_uri)
    frame = recent_responses(ingest_config, limit=sample)
    if frame.empty:
        return {"version": record.version, "scored": 0}
    rewards = scorer.score(list(frame["prompt"]), list(frame["response"]))
    prompt = frame["prompt"].iloc[0]
    candidates = list(frame.loc[frame["prompt"] == prompt, "response"])
    best, _ = best_of_n(scorer, prompt, candidates)
    return {
        "version": record.version,
        "model_uri": record.model_uri,
        "scored": len(rewards),
        "mean_reward": float(rewards.mean()),
        "best_of_n_index": best,
        "best_of_n_candidates": len(candidates),
    }
