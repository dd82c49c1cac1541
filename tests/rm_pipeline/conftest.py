"""Fixtures for rm_pipeline tests: one tiny reward model trained once per session."""

from __future__ import annotations

import pytest
from rm_helpers import Recorder, obvious_pairs, split_frames, tiny_config


@pytest.fixture(scope="session")
def trained_tiny(tiny_backbone_dir, tmp_path_factory):
    """(TrainResult, Recorder, pairs) of one full tiny training run, shared by many tests."""
    from rm_pipeline.train import train_reward_model

    pairs = obvious_pairs()
    train, val = split_frames(pairs)
    recorder = Recorder()
    result = train_reward_model(
        tiny_config(tiny_backbone_dir),
        train,
        val,
        tmp_path_factory.mktemp("tiny-run"),
        dataset_version="v000001",
        callbacks=[recorder],
    )
    return result, recorder, pairs
