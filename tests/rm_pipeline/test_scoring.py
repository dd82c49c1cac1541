"""RewardScorer: verified loading, order-independent batched scoring, normalisation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rm_pipeline.card import RewardCard
from rm_pipeline.perf import scoring_batch
from rm_pipeline.scoring import RewardScorer, score_token_ids


@pytest.fixture(scope="module")
def scorer(trained_tiny):
    return RewardScorer.load(trained_tiny[0].export_dir)


@pytest.fixture(scope="module")
def texts(trained_tiny):
    pairs = trained_tiny[2]
    prompts = list(pairs["prompt"][:12]) * 2
    return prompts, list(pairs["chosen"][:12]) + list(pairs["rejected"][:12])


def test_scores_do_not_depend_on_order_or_batch_size(scorer, texts):
    prompts, responses = texts
    base = scorer.score_raw(prompts, responses)
    assert base.dtype == np.float64 and base.shape == (24,)
    order = np.random.default_rng(0).permutation(24)
    shuffled = scorer.score_raw([prompts[i] for i in order], [responses[i] for i in order], 5)
    np.testing.assert_allclose(shuffled, base[order], atol=1e-5)
    one_by_one = scorer.score_raw(prompts, responses, batch_size=1)
    np.testing.assert_allclose(one_by_one, base, atol=1e-5)


def test_sorted_batches_match_unsorted_ones(scorer, texts):
    ids = scorer.encode(*texts)
    pad = scorer.model.config.pad_token_id
    sorted_ = score_token_ids(scorer.model, ids, pad, batch_size=7)
    unsorted = score_token_ids(scorer.model, ids, pad, batch_size=7, sort_by_length=False)
    unpadded = score_token_ids(scorer.model, ids, pad, batch_size=1)
    np.testing.assert_allclose(sorted_, unsorted, atol=1e-5)
    np.testing.assert_allclose(sorted_, unpadded, atol=1e-5)
    assert len({len(x) for x in ids}) > 1  # unsorted batches of 7 do pad
    with pytest.raises(ValueError, match="batch_size"):
        score_token_ids(scorer.model, ids, pad, batch_size=0)


def test_a_token_budget_changes_the_batches_not_the_rewards(scorer, texts):
    ids = scorer.encode(*texts)
    pad = scorer.model.config.pad_token_id
    plain = score_token_ids(scorer.model, ids, pad, batch_size=24)
    budget = max(len(x) for x in ids) * 3  # three of the longest rows per batch at most
    np.testing.assert_allclose(
        score_token_ids(scorer.model, ids, pad, batch_size=24, max_batch_tokens=budget),
        plain,
        atol=1e-5,
    )
    for bad in (0, -5):
        with pytest.raises(ValueError, match="max_batch_tokens"):
            score_token_ids(scorer.model, ids, pad, max_batch_tokens=bad)


def test_scorer_batching_defaults_by_device_and_explicit_settings(trained_tiny):
    folder = trained_tiny[0].export_dir
    default = RewardScorer.load(folder, device="cpu")
    assert (default.batch_size, default.max_batch_tokens) == scoring_batch("cpu")
    chosen = RewardScorer.load(folder, device="cpu", batch_size=4, max_batch_tokens=100)
    assert (chosen.batch_size, chosen.max_batch_tokens) == (4, 100)


def test_normalised_scores_use_the_card_statistics(scorer, texts):
    raw, normalised = scorer.score_both(*texts)
    card = scorer.card
    np.testing.assert_allclose(normalised, (raw - card.reward_mean) / card.reward_std)
    np.testing.assert_allclose(scorer.score(*texts), normalised)
    assert raw[:12].mean() > raw[12:].mean()  # the trained preference shows


def test_chat_message_prompts_score_like_rendered_text(scorer):
    messages = [{"role": "user", "content": "Tell me something about tea (0)."}]
    text = "\n\nHuman: Tell me something about tea (0).\n\nAssistant:"
    a = scorer.score_raw([messages], [" Happy to help!"])
    b = scorer.score_raw([text], [" Happy to help!"])
    assert a[0] == b[0]


def test_empty_input_and_mismatched_lengths(scorer):
    assert scorer.score_raw([], []).shape == (0,)
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        scorer.score_raw(["a", "b"], ["x"])


def test_tampered_or_incomplete_folders_are_refused(trained_tiny, tmp_path):
    folder = shutil.copytree(trained_tiny[0].export_dir, tmp_path / "model")
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors' does not match its hash"):
        RewardScorer.load(folder)
    RewardScorer.load(folder, verify=False)  # an explicit opt-out still loads
    weights.write_bytes(original)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="tokenizer.json' is missing"):
        RewardScorer.load(folder)
    (folder / "reward_card.json").unlink()
    with pytest.raises(FileNotFoundError, match="reward card not found"):
        RewardScorer.load(folder)
    with pytest.raises(FileNotFoundError, match="not found"):
        RewardScorer.load(tmp_path / "nowhere")


def test_card_without_hashes_is_refused(trained_tiny, tmp_path):
    folder = shutil.copytree(trained_tiny[0].export_dir, tmp_path / "model")
    card = RewardCard.load(folder)
    card.file_hashes = {}
    card.save(folder)
    with pytest.raises(ValueError, match="lists no file hashes"):
        RewardScorer.load(folder)


def test_bf16_autocast_keeps_rewards_off_the_bf16_grid(scorer, texts):
    """Under bf16 autocast (CUDA's default; forced here on CPU) the head still runs in fp32, so
    rewards are not rounded to 8 significant bits, where close pairs would tie."""
    import torch

    ids = scorer.encode(*texts)
    pad = scorer.model.config.pad_token_id
    fp32 = score_token_ids(scorer.model, ids, pad)
    bf16 = score_token_ids(scorer.model, ids, pad, autocast_dtype=torch.bfloat16)
    on_grid = torch.tensor(bf16).to(torch.bfloat16).double().numpy() == bf16
    assert on_grid.mean() < 0.5, "rewards look rounded to bf16"
    spread = float(np.ptp(fp32)) or 1.0
    np.testing.assert_allclose(bf16, fp32, atol=0.05 * spread)  # bf16 backbone, same model
    assert scorer.model.classifier._forward_hooks == {}  # the hook is gone afterwards


def test_gpu_batches_round_widths_up_but_never_past_the_longest_row():
    from rm_pipeline.scoring import _padded_batches

    sequences = [[1, 2, 3], [4], [5, 6, 7, 8, 9], []]
    lengths = np.array([len(s) for s in sequences])
    order = np.argsort(lengths, kind="stable")  # [], [4] | [1, 2, 3], [5..9]
    batches = list(_padded_batches(sequences, lengths, order, [(0, 2), (2, 4)], pad=0, multiple=4))
    (ids_a, mask_a), (ids_b, mask_b) = batches
    assert ids_a.tolist() == [[0, 0, 0, 0], [4, 0, 0, 0]] and mask_a.sum(1).tolist() == [0, 1]
    assert ids_b.tolist() == [[1, 2, 3, 0, 0], [5, 6, 7, 8, 9]]  # 8 capped at 5
    assert mask_b.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
