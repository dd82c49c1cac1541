"""Dagster run config maps onto the library dataclasses; unset fields keep their defaults."""

from __future__ import annotations

import dataclasses

from orchestration.configs import TrainingConfig
from rm_pipeline.config import TrainConfig


def test_training_config_sets_only_what_is_given():
    default = TrainConfig()
    mapped = TrainingConfig(gradient_checkpointing=True, use_lora=True, seed=3).to_train_config()
    assert (mapped.gradient_checkpointing, mapped.use_lora, mapped.seed) == (True, True, 3)
    changed = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if getattr(mapped, f.name) != getattr(default, f.name)
    }
    assert changed == {"gradient_checkpointing", "use_lora", "seed"}


def test_every_training_knob_is_a_train_config_field():
    knobs = set(TrainingConfig.model_fields) - {"warm_start"}
    assert knobs <= {f.name for f in dataclasses.fields(TrainConfig)}
