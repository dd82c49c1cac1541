"""Export: a self-contained reward-model folder (merged weights, tokenizer, reward card)."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.rendering import TRUNCATION_SIDE, InputTemplate


def reward_stats(rewards: np.ndarray) -> tuple[float, float]:
    """Mean and std for normalisation; a degenerate spread falls back to std 1."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.size == 0:
        return 0.0, 1.0
    mean, std = float(rewards.mean()), float(rewards.std())
    if not np.isfinite(std) or std < 1e-8:
        std = 1.0
    return mean, std


def _replace_dir(tmp: Path, target: Path) -> None:
    # A rename is atomic; a folder cannot be renamed over a non-empty one, so move the old aside.
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_reward_model(
    model: Any,
    tokenizer: Any,
    folder: Path,
    *,
    template: InputTemplate,
    max_length: int,
    base_model: str,
    stats: tuple[float, float],
    dataset_version: str | None = None,
    train_metrics: dict[str, Any] | None = None,
) -> RewardCard:
    """Write `model` (already merged), `tokenizer` and the card to `folder`, atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        model.config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        card = RewardCard(
            base_model=base_model,
            input_template=template.to_dict(),
            max_length=max_length,
            truncation_side=TRUNCATION_SIDE,
            reward_mean=stats[0],
            reward_std=stats[1],
            dataset_version=dataset_version,
            train_metrics=dict(train_metrics or {}),
            created_at=datetime.now(UTC).isoformat(),
        )
        card.file_hashes = hash_folder(tmp)
        card.save(tmp)
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return card
