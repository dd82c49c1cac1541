"""Dagster run config classes that map onto the libraries' config dataclasses.

A field left at None takes the library's default, so every default lives in one place
(`TrainConfig`, `GateConfig`, `DriftConfig`); these classes only say what the UI may change.
"""

import dagster as dg


def _set(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


class TrainingConfig(dg.Config):
    """Knobs of `reward_model_candidate` (None: TrainConfig's default)."""

    backbone: str | None = None
    max_length: int | None = None
    learning_rate: float | None = None
    num_epochs: float | None = None
    max_steps: int | None = None
    per_device_batch_size: int | None = None
    use_lora: bool | None = None
    gradient_checkpointing: bool | None = None  # less memory for big backbones, same model
    seed: int | None = None
    warm_start: bool = True  # start from the current champion's weights when there is one
    progress_bar: bool | None = None

    def to_train_config(self):
        from rm_pipeline.config import TrainConfig

        return TrainConfig(**_set(self.model_dump(exclude={"warm_start"})))


class GateRunConfig(dg.Config):
    """Knobs of `candidate_evaluation` (None: GateConfig's default)."""

    accuracy_floor: float | None = None
    champion_tolerance: float | None = None
    min_slice_pairs: int | None = None
    n_bootstrap: int | None = None

    def to_gate_config(self):
        from validation.gate import GateConfig

        return GateConfig(**_set(self.model_dump()))


class DriftRunConfig(dg.Config):
    """Knobs of `reward_drift_report` (None: DriftConfig's default)."""

    method: str | None = None
    threshold: float | None = None

    def to_drift_config(self):
        from validation.drift import DriftConfig

        return DriftConfig(**_set(self.model_dump()))


class HandoffConfig(dg.Config):
    """Which handoff record the downstream job consumes."""

    handoff_path: str
    sample: int = 64
