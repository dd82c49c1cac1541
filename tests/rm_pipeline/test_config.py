"""TrainConfig: defaults and field-named validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rm_pipeline.config import TrainConfig, default_backbone, resolve_precision


def test_defaults_point_at_the_bundled_backbone():
    config = TrainConfig()
    assert Path(config.backbone) == Path(default_backbone())
    assert (Path(config.backbone) / "config.json").is_file()
    assert config.device == "auto" and config.precision == "auto"
    assert 1e-5 <= config.learning_rate < 1e-4  # TRL's 1e-4 leaves MiniLM at chance
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_length", 0, "max_length must be a positive integer"),
        ("per_device_batch_size", -1, "per_device_batch_size must be a positive integer"),
        ("learning_rate", 0.0, "learning_rate must be > 0"),
        ("warmup_ratio", 1.5, "warmup_ratio must be in"),
        ("device", "tpu", "device must be one of"),
        ("precision", "int4", "precision must be one of"),
        ("early_stopping_patience", 0, "early_stopping_patience"),
        ("init_from", "/no/such/folder", "init_from: folder not found"),
        ("center_rewards_coefficient", -1.0, "center_rewards_coefficient"),
        ("max_steps", -3, "max_steps must be a positive integer or -1"),
        ("max_steps", 0, "max_steps must be a positive integer or -1"),
    ],
)
def test_bad_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="unknown field.*learning_rat"):
        TrainConfig.from_dict({"learning_rat": 1e-5})


def test_auto_precision_is_fp32_on_cpu():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
