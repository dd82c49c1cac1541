"""Fixtures for rm_pipeline tests: one tiny reward model trained once per session; a SQLite
MLflow registry with one logged tiny model per test module."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import pytest
from rm_helpers import Recorder, obvious_pairs, split_frames, tiny_config

from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client


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


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_backbone_dir):
    """(base config, logged model) shared by the module: one DB, one logged tiny model."""
    root = tmp_path_factory.mktemp("registry")
    export = Path(shutil.copytree(tiny_backbone_dir, root / "export"))
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=64)
    card.reward_mean, card.reward_std = 0.25, 2.0
    card.file_hashes = hash_folder(export)
    card.save(export)
    base = RegistryConfig(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow_client(base)
    run = client.create_run(ensure_experiment(base, client))
    return base, log_reward_model(base, run.info.run_id, export)


@pytest.fixture
def cfg(store, tmp_path) -> RegistryConfig:
    """A fresh registered-model name in the module's store, with a handoff folder."""
    base, _ = store
    name = f"rm-{uuid.uuid4().hex[:8]}"
    return dataclasses.replace(base, model_name=name, handoff_dir=str(tmp_path / "handoff"))
