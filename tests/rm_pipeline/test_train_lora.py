"""LoRA training: the score head is trained and saved, the export is merged and reloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from rm_helpers import obvious_pairs, split_frames, tiny_config
from transformers import AutoModelForSequenceClassification

from rm_pipeline.modeling import load_reward_model, load_tokenizer
from rm_pipeline.scoring import RewardScorer, score_token_ids
from rm_pipeline.train import train_reward_model


def _best_checkpoint(checkpoint_dir: Path) -> Path:
    last = max(checkpoint_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    return Path(state["best_model_checkpoint"])


def test_lora_run_exports_a_merged_model_with_identical_rewards(tiny_backbone_dir, tmp_path):
    from peft import PeftModel

    pairs = obvious_pairs(40)
    train, val = split_frames(pairs)
    config = tiny_config(
        tiny_backbone_dir, use_lora=True, lora_r=4, lora_alpha=8, learning_rate=1e-1, num_epochs=3
    )
    result = train_reward_model(config, train, val, tmp_path / "run")
    assert result.metrics["val_loss"] < 0.6  # head + adapters learned something

    names = {p.name for p in result.export_dir.iterdir()}
    assert "adapter_config.json" not in names and "model.safetensors" in names
    merged = AutoModelForSequenceClassification.from_pretrained(result.export_dir)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    base = AutoModelForSequenceClassification.from_pretrained(tiny_backbone_dir)
    assert not torch.equal(base.classifier.weight, merged.classifier.weight)  # head trained

    # On CPU in fp32, like the adapter below (on CUDA the scorer would use bf16 autocast).
    scorer = RewardScorer.load(result.export_dir, device="cpu")
    prompts, responses = list(val["prompt"]) * 2, list(val["chosen"]) + list(val["rejected"])
    exported = scorer.score_raw(prompts, responses)
    again = RewardScorer.load(result.export_dir, device="cpu").score_raw(prompts, responses)
    assert np.array_equal(exported, again)

    # The unmerged adapter checkpoint (what Trainer saved) scores the same as the merged export.
    tokenizer = load_tokenizer(str(tiny_backbone_dir))
    adapter = PeftModel.from_pretrained(
        load_reward_model(str(tiny_backbone_dir), tokenizer.pad_token_id),
        _best_checkpoint(result.checkpoint_dir),
    )
    unmerged = score_token_ids(adapter, scorer.encode(prompts, responses), tokenizer.pad_token_id)
    np.testing.assert_allclose(unmerged, exported, atol=1e-5)
