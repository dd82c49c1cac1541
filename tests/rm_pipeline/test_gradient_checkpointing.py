"""Gradient checkpointing: activations really are recomputed, the model comes out the same, and
a run can resume with it toggled (the way out of an out-of-memory error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rm_helpers import obvious_pairs, split_frames, tiny_config
from transformers import TrainerCallback

from rm_pipeline.scoring import RewardScorer
from rm_pipeline.train import train_reward_model


class LayerCalls(TrainerCallback):
    """Counts forward calls, with gradients on, of a module inside the backbone's first
    transformer layer: the training forward, plus the recomputation in the backward pass when
    checkpointing (the layer's own hooks stay outside the checkpoint in transformers 5)."""

    def __init__(self):
        self.calls = 0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        layer = next(m for m in model.modules() if type(m).__name__ == "BertLayer")
        next(layer.children()).register_forward_hook(self._count)

    def _count(self, module, inputs, output):
        self.calls += torch.is_grad_enabled()


def _rewards(result, val) -> np.ndarray:
    scorer = RewardScorer.load(result.export_dir, device="cpu")
    return scorer.score_raw(list(val["prompt"]), list(val["chosen"]))


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_checkpointing_recomputes_and_trains_the_same_model(tiny_backbone_dir, tmp_path, lora):
    train, val = split_frames(obvious_pairs(24))
    extra = dict(use_lora=True, lora_r=4, lora_alpha=8) if lora else {}
    runs = {}
    for on in (False, True):
        counter = LayerCalls()
        config = tiny_config(tiny_backbone_dir, max_steps=3, gradient_checkpointing=on, **extra)
        result = train_reward_model(config, train, val, tmp_path / str(on), callbacks=[counter])
        runs[on] = (result, counter.calls)
    (plain, plain_calls), (saved, saved_calls) = runs[False], runs[True]
    assert plain_calls == 3 and saved_calls == 6  # one forward per step, then one more each
    assert saved.metrics["train_loss"] == pytest.approx(plain.metrics["train_loss"], abs=1e-6)
    np.testing.assert_allclose(_rewards(saved, val), _rewards(plain, val), atol=1e-5)


def test_a_finished_run_is_not_retrained_when_only_checkpointing_changes(
    tiny_backbone_dir, tmp_path
):
    train, val = split_frames(obvious_pairs(24))
    first = train_reward_model(tiny_config(tiny_backbone_dir, max_steps=2), train, val, tmp_path)
    again = train_reward_model(
        tiny_config(tiny_backbone_dir, max_steps=2, gradient_checkpointing=True),
        train,
        val,
        tmp_path,
    )
    assert again.metrics == first.metrics  # the stored result: same model, less memory
