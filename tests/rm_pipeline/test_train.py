"""Training on a tiny random BERT: learning, export, resume, determinism, guards."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from rm_helpers import obvious_pairs, pairs_frame, split_frames, tiny_config
from transformers import AutoModelForSequenceClassification, TrainerCallback

from rm_pipeline.card import RewardCard, verify_folder
from rm_pipeline.scoring import RewardScorer
from rm_pipeline.train import train_reward_model
from rm_pipeline.trainer import NonFiniteLossError


def test_every_parameter_changes_and_loss_falls(trained_tiny, tiny_backbone_dir):
    result, recorder, _ = trained_tiny
    before = AutoModelForSequenceClassification.from_pretrained(tiny_backbone_dir)
    after = AutoModelForSequenceClassification.from_pretrained(result.export_dir)
    after_params = dict(after.named_parameters())
    unchanged = [n for n, p in before.named_parameters() if torch.equal(p, after_params[n])]
    assert unchanged == []
    losses = [m["loss"] for stage, _, m in recorder.calls if stage == "train"]
    assert len(losses) >= 4
    assert losses[0] > 0.6  # a random model is at chance: log 2
    assert losses[-1] < losses[0] / 2


def test_obvious_preference_is_learned(trained_tiny):
    result, _, pairs = trained_tiny
    metrics = result.metrics
    assert metrics["val_accuracy"] > 0.9
    assert metrics["val_loss"] < 0.3
    assert metrics["pairs_trained"] == metrics["n_train"] * 4  # 4 epochs, nothing dropped
    assert metrics["n_val"] == int((pairs["split"] == "val").sum())
    assert metrics["pairs_per_s"] > 0 and metrics["steps"] > 0


def test_metrics_callback_sees_train_eval_and_epoch(trained_tiny):
    _, recorder, _ = trained_tiny
    stages = {stage for stage, _, _ in recorder.calls}
    assert stages == {"train", "eval", "epoch"}
    evals = [m for stage, _, m in recorder.calls if stage == "eval"]
    assert len(evals) == 4 and all(0.0 <= m["accuracy"] <= 1.0 for m in evals)
    assert all("accuracy" in m for stage, _, m in recorder.calls if stage == "train")
    steps = [step for _, step, _ in recorder.calls]
    assert steps == sorted(steps)


def test_export_is_self_contained(trained_tiny, tiny_backbone_dir):
    result, _, _ = trained_tiny
    folder = result.export_dir
    assert folder == result.checkpoint_dir.parent / "model"
    names = {p.name for p in folder.iterdir()}
    assert "model.safetensors" in names and "reward_card.json" in names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    config = json.loads((folder / "config.json").read_text())
    assert len(config["id2label"]) == 1  # num_labels=1: one scalar reward
    assert config["pad_token_id"] is not None
    card = RewardCard.load(folder)
    verify_folder(folder, card)
    assert card.base_model == str(tiny_backbone_dir)
    assert card.dataset_version == "v000001"
    assert card.max_length == 64 and card.truncation_side == "left"
    assert card.input_template["chat_template"] is False
    assert card.reward_std > 0 and card.reward_std != 1.0
    assert card.train_metrics["val_accuracy"] == result.metrics["val_accuracy"]
    assert json.loads(json.dumps(result.to_dict()))["metrics"]["steps"] == result.metrics["steps"]


SCORE_IN_FRESH_PROCESS = """
import json, sys
from rm_pipeline.scoring import RewardScorer
data = json.loads(sys.stdin.read())
scorer = RewardScorer.load(data["folder"])
print(json.dumps(scorer.score_raw(data["prompts"], data["responses"]).tolist()))
"""


def test_export_reloads_in_fresh_process_with_identical_rewards(trained_tiny):
    result, _, pairs = trained_tiny
    prompts = list(pairs["prompt"][:10]) * 2
    responses = list(pairs["chosen"][:10]) + list(pairs["rejected"][:10])
    here = RewardScorer.load(result.export_dir).score_raw(prompts, responses)
    payload = json.dumps(
        {"folder": str(result.export_dir), "prompts": prompts, "responses": responses}
    )
    out = subprocess.run(
        [sys.executable, "-c", SCORE_IN_FRESH_PROCESS],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
    )
    there = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    assert np.array_equal(here, there)
    assert here[:10].mean() > here[10:].mean()


class Interrupt(Exception):
    """Stands in for a kill of the training process."""


class InterruptAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupt(f"killed at step {self.step}")


def _rewards(folder, pairs):
    scorer = RewardScorer.load(folder)
    return scorer.score_raw(list(pairs["prompt"]), list(pairs["chosen"]))


def test_resume_continues_from_checkpoint_and_matches_uninterrupted(tiny_backbone_dir, tmp_path):
    pairs = obvious_pairs(40)
    train, val = split_frames(pairs)
    config = tiny_config(tiny_backbone_dir, max_steps=6, save_steps=2, early_stopping_patience=None)
    whole = train_reward_model(config, train, val, tmp_path / "whole")
    with pytest.raises(Interrupt):
        train_reward_model(config, train, val, tmp_path / "cut", callbacks=[InterruptAt(5)])
    checkpoints = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir())
    assert "checkpoint-4" in checkpoints and not (tmp_path / "cut" / "model").exists()
    resumed = train_reward_model(config, train, val, tmp_path / "cut")
    assert resumed.metrics["resumed_from_step"] == 4
    assert resumed.metrics["steps"] == 6
    assert resumed.metrics["pairs_trained"] == 2 * 8  # only the two remaining steps
    np.testing.assert_allclose(
        _rewards(resumed.export_dir, val), _rewards(whole.export_dir, val), rtol=0, atol=1e-6
    )


def test_same_seed_same_model_on_cpu(tiny_backbone_dir, tmp_path):
    pairs = obvious_pairs(24)
    train, val = split_frames(pairs)
    config = tiny_config(tiny_backbone_dir, max_steps=3)
    first = train_reward_model(config, train, val, tmp_path / "a")
    second = train_reward_model(config, train, val, tmp_path / "b")
    other = train_reward_model(
        tiny_config(tiny_backbone_dir, max_steps=3, seed=7), train, val, tmp_path / "c"
    )
    a, b, c = (_rewards(r.export_dir, val) for r in (first, second, other))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_long_pairs_are_truncated_not_dropped(tiny_backbone_dir, tmp_path):
    filler = " ".join(f"word{i}" for i in range(300))
    rows = [
        (f"\n\nHuman: {filler} question {i}?\n\nAssistant:", " Sure, here it is.", " No.")
        for i in range(20)
    ]
    train, val = split_frames(pairs_frame(rows))
    config = tiny_config(tiny_backbone_dir, num_epochs=1, max_length=32)
    result = train_reward_model(config, train, val, tmp_path / "run")
    assert result.metrics["pairs_trained"] == len(train)
    assert result.metrics["tokens_trained"] <= 2 * 32 * len(train)
    assert result.metrics["tokens_trained"] > 2 * 30 * len(train)  # all cut to about max_length


def test_nan_guard_stops_the_run(trained_tiny, tiny_backbone_dir, tmp_path):
    _, _, pairs = trained_tiny
    train, val = split_frames(pairs)
    config = tiny_config(tiny_backbone_dir, learning_rate=1e30, max_grad_norm=1e30)
    with pytest.raises(NonFiniteLossError, match="loss became (nan|inf)"):
        train_reward_model(config, train, val, tmp_path / "run")
    assert not (tmp_path / "run" / "model").exists()


def test_bad_frames_are_refused_with_the_field_named(trained_tiny, tiny_backbone_dir, tmp_path):
    _, _, pairs = trained_tiny
    train, val = split_frames(pairs)
    config = tiny_config(tiny_backbone_dir)
    with pytest.raises(ValueError, match="train: missing column.*chosen"):
        train_reward_model(config, train.drop(columns=["chosen"]), val, tmp_path)
    bad = train.copy()
    bad.loc[bad.index[3], "weight"] = float("inf")
    with pytest.raises(ValueError, match="train: column 'weight' must be finite and > 0"):
        train_reward_model(config, bad, val, tmp_path)
    with pytest.raises(ValueError, match="train: no pairs"):
        train_reward_model(config, train.iloc[:0], val, tmp_path)


def test_warm_start_from_exported_champion(trained_tiny, tmp_path):
    champion, _, pairs = trained_tiny
    train, val = split_frames(pairs)
    config = tiny_config(
        "unused-backbone", init_from=str(champion.export_dir), learning_rate=1e-12, max_steps=1
    )
    result = train_reward_model(config, train, val, tmp_path / "warm", dataset_version="v000002")
    assert result.card.base_model == champion.card.base_model
    assert result.card.input_template == champion.card.input_template
    np.testing.assert_allclose(
        _rewards(result.export_dir, val), _rewards(champion.export_dir, val), atol=1e-4
    )


def test_empty_val_uses_train_for_normalisation(trained_tiny, tiny_backbone_dir, tmp_path):
    _, _, pairs = trained_tiny
    train, val = split_frames(pairs)
    result = train_reward_model(
        tiny_config(tiny_backbone_dir, max_steps=2), train, val.iloc[:0], tmp_path / "run"
    )
    assert result.metrics["n_val"] == 0 and "val_accuracy" not in result.metrics
    scorer = RewardScorer.load(result.export_dir)
    raw = scorer.score_raw(
        list(train["prompt"]) * 2, list(train["chosen"]) + list(train["rejected"])
    )
    assert scorer.card.reward_mean == pytest.approx(raw.mean(), abs=1e-5)


def test_rerun_of_a_finished_run_is_idempotent(tiny_backbone_dir, tmp_path):
    train, val = split_frames(obvious_pairs(24))
    config = tiny_config(tiny_backbone_dir, max_steps=2)
    first = train_reward_model(config, train, val, tmp_path / "run")
    again = train_reward_model(config, train, val, tmp_path / "run")
    assert again.metrics == first.metrics  # the stored result, no second training
    assert again.card.file_hashes == first.card.file_hashes
    assert np.array_equal(_rewards(first.export_dir, val), _rewards(again.export_dir, val))
    with pytest.raises(ValueError, match="another config or other pairs"):
        train_reward_model(
            tiny_config(tiny_backbone_dir, max_steps=3), train, val, tmp_path / "run"
        )
    fresh = train_reward_model(
        tiny_config(tiny_backbone_dir, max_steps=3), train, val, tmp_path / "run", resume=False
    )
    assert fresh.metrics["steps"] == 3 and fresh.metrics["resumed_from_step"] == 0


def test_a_run_that_failed_before_its_first_checkpoint_does_not_block_the_next(tmp_path):
    """A run refused at model load left run.json behind; before, the corrected command was
    refused as "another config" though there was nothing to resume."""
    import json

    from rm_pipeline import run_state

    run_state.prepare(tmp_path, "digest-of-the-failed-run", resume=True)
    run_state.prepare(tmp_path, "digest-of-the-corrected-run", resume=True)
    stored = json.loads((tmp_path / run_state.RUN_FILE).read_text())
    assert stored["fingerprint"] == "digest-of-the-corrected-run"
    (tmp_path / "checkpoints" / "checkpoint-2").mkdir(parents=True)  # now there is work to keep
    with pytest.raises(ValueError, match=r"rmops train --no-resume"):
        run_state.prepare(tmp_path, "digest-of-a-third-config", resume=True)
