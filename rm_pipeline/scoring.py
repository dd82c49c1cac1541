"""`RewardScorer`: load an exported reward-model folder and score (prompt, response) pairs.

Inputs are rendered and truncated exactly as in training (settings from the card), scored in
batches sorted by length with dynamic padding under `torch.inference_mode` (bf16 autocast on
CUDA), and returned in the caller's order as float64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rm_pipeline.card import RewardCard, verify_folder
from rm_pipeline.rendering import encode_pairs


def _autocast(device: str, dtype: Any):
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=dtype)


_HEAD_NAMES = ("score", "classifier")  # causal LMs / encoders in transformers


@contextlib.contextmanager
def _fp32_head(model: Any, device: str, enabled: bool):
    """Recompute the score head in fp32 while the backbone runs under bf16 autocast.

    A bf16 head rounds every reward to 8 significant bits, so close chosen/rejected rewards
    tie, and a tie counts as wrong in the golden gate; the head is tiny, its fp32 rerun free.
    """
    import torch

    head = next((getattr(model, n) for n in _HEAD_NAMES if hasattr(model, n)), None)
    if not enabled or not isinstance(head, torch.nn.Module):
        yield
        return

    def rerun_in_fp32(module, inputs, output):
        with torch.autocast(device_type=device, enabled=False):
            return module.forward(*(x.float() if torch.is_floating_point(x) else x for x in inputs))

    handle = head.register_forward_hook(rerun_in_fp32)
    try:
        yield
    finally:
        handle.remove()


def score_token_ids(
    model: Any,
    sequences: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 32,
    device: str = "cpu",
    autocast_dtype: Any = None,
    sort_by_length: bool = True,
) -> np.ndarray:
    """Rewards of pre-tokenized sequences (in input order), padding each batch to its longest."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(sequences)
    order = np.argsort([len(s) for s in sequences], kind="stable") if sort_by_length else range(n)
    order = list(order)
    rewards = np.empty(n, dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        fp32_head = _fp32_head(model, device, autocast_dtype is not None)
        with torch.inference_mode(), _autocast(device, autocast_dtype), fp32_head:
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch = [sequences[i] for i in idx]
                width = max(len(s) for s in batch)
                input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, ids in enumerate(batch):
                    input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
                    mask[row, : len(ids)] = 1
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=mask.to(device)
                ).logits
                rewards[idx] = logits.squeeze(-1).float().cpu().numpy()
    finally:
        model.train(was_training)
    return rewards


class RewardScorer:
    """Scores (prompt, response) pairs with an exported reward model."""

    def __init__(self, model: Any, tokenizer: Any, card: RewardCard, device: str, batch_size: int):
        self.model = model
        self.tokenizer = tokenizer
        self.card = card
        self.device = device
        self.batch_size = batch_size
        self.autocast_dtype = None
        if device == "cuda":
            import torch

            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else None

    @classmethod
    def load(
        cls,
        folder: str | Path,
        device: str | None = None,
        verify: bool = True,
        batch_size: int = 32,
    ) -> RewardScorer:
        """Load an exported folder; with `verify`, refuse it if any file differs from the card."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"reward model folder not found: {folder}")
        card = RewardCard.load(folder)
        if verify:
            verify_folder(folder, card)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=1, use_safetensors=True, trust_remote_code=False
        )
        if model.config.pad_token_id is None:
            raise ValueError(f"model in {folder} has no pad_token_id in its config")
        model.to(device).eval()
        return cls(model, tokenizer, card, device, batch_size)

    def encode(self, prompts: Sequence, responses: Sequence[str]) -> list[list[int]]:
        """Token ids exactly as training produced them (template, max length, keep the end)."""
        return encode_pairs(
            self.tokenizer,
            list(prompts),
            list(responses),
            self.card.max_length,
            self.card.input_template,
        )

    def score_raw(
        self, prompts: Sequence, responses: Sequence[str], batch_size: int | None = None
    ) -> np.ndarray:
        """Raw rewards (float64), one per (prompt, response), in input order."""
        if len(prompts) == 0 and len(responses) == 0:
            return np.empty(0, dtype=np.float64)
        return score_token_ids(
            self.model,
            self.encode(prompts, responses),
            self.model.config.pad_token_id,
            batch_size=batch_size or self.batch_size,
            device=self.device,
            autocast_dtype=self.autocast_dtype,
        )

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Standardise raw rewards with the card's val-set mean and std."""
        return (np.asarray(raw, dtype=np.float64) - self.card.reward_mean) / self.card.reward_std

    def score(
        self, prompts: Sequence, responses: Sequence[str], batch_size: int | None = None
    ) -> np.ndarray:
        """Normalised rewards (what PPO consumes)."""
        return self.normalise(self.score_raw(prompts, responses, batch_size))

    def score_both(
        self, prompts: Sequence, responses: Sequence[str], batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(raw, normalised) rewards."""
        raw = self.score_raw(prompts, responses, batch_size)
        return raw, self.normalise(raw)
