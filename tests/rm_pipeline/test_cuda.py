"""The CUDA paths (skipped where no GPU is visible: CI has none; run on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rm_pipeline.perf import attention_for
from rm_pipeline.scoring import RewardScorer, score_token_ids

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_training_picks_cuda_and_bf16(trained_tiny):
    result = trained_tiny[0]
    assert result.metrics["device"] == "cuda"
    assert result.metrics["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert result.metrics["val_accuracy"] > 0.9


def test_cuda_rewards_match_cpu_rewards(trained_tiny):
    pairs = trained_tiny[2]
    prompts = list(pairs["prompt"]) * 2
    responses = list(pairs["chosen"]) + list(pairs["rejected"])
    gpu = RewardScorer.load(trained_tiny[0].export_dir)
    cpu = RewardScorer.load(trained_tiny[0].export_dir, device="cpu")
    assert gpu.device == "cuda" and gpu.autocast_dtype is not None
    on_gpu, on_cpu = gpu.score_raw(prompts, responses), cpu.score_raw(prompts, responses)
    assert np.corrcoef(on_gpu, on_cpu)[0, 1] > 0.999  # bf16 backbone: close, not equal
    n = len(pairs)
    assert np.mean(on_gpu[:n] > on_gpu[n:]) > 0.9 and np.mean(on_cpu[:n] > on_cpu[n:]) > 0.9


def test_score_token_ids_runs_on_the_models_device(trained_tiny):
    scorer = RewardScorer.load(trained_tiny[0].export_dir)
    pairs = trained_tiny[2]
    ids = scorer.encode(list(pairs["prompt"]), list(pairs["chosen"]))
    pad = scorer.model.config.pad_token_id
    rewards = score_token_ids(scorer.model, ids, pad, batch_size=7)  # no device given
    one_by_one = score_token_ids(scorer.model, ids, pad, batch_size=1)
    np.testing.assert_allclose(rewards, one_by_one, atol=1e-4)  # padding to 64 changes nothing


def test_cudnn_attention_is_off_only_inside_the_context():
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with attention_for("cuda"):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
