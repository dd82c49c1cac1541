"""`RewardScorer`: load an exported reward-model folder and score (prompt, response) pairs.

Inputs are rendered and truncated exactly as in training (settings from the card), scored in
batches sorted by length with dynamic padding under `torch.inference_mode` (bf16 autocast on
CUDA), and returned in the caller's order as float64.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rm_pipeline.card import RewardCard, verify_folder
from rm_pipeline.perf import (
    attention_for,
    device_kind,
    pad_multiple,
    padded_width,
    scoring_batch,
)
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


def batch_bounds(
    lengths: np.ndarray, size: int, max_tokens: int | None, multiple: int = 1
) -> list[tuple[int, int]]:
    """(start, stop) ranges over rows of `lengths` (in scoring order): at most `size` rows, and
    at most `max_tokens` padded tokens (rows x the batch's padded width), but never empty. The
    token budget lets short sequences share big batches while long ones stay within memory."""
    n = len(lengths)
    if max_tokens is None:
        return [(b, min(b + size, n)) for b in range(0, n, size)]
    longest = np.maximum(lengths, 1)
    cap = int(longest.max(initial=1))
    # Each row's padded width, through `padded_width` itself: one call per possible length.
    widths = np.array([padded_width(w, multiple, cap) for w in range(cap + 1)])[longest]
    rows = np.arange(1, size + 1)
    bounds, begin = [], 0
    while begin < n:
        window = np.maximum.accumulate(widths[begin : begin + size])
        fits = int(np.count_nonzero(window * rows[: len(window)] <= max_tokens))
        bounds.append((begin, begin + max(fits, 1)))  # the padded cost only grows: a prefix
        begin = bounds[-1][1]
    return bounds


def _padded_batches(
    sequences: Sequence[Sequence[int]],
    lengths: np.ndarray,
    order: np.ndarray,
    bounds: list[tuple[int, int]],
    pad: int,
    multiple: int,
):
    """Yield (input ids, attention mask) int64 arrays for `order`'s rows, one per range of
    `bounds`, each padded to its longest row rounded up to `multiple`, but never past the
    longest row of all (a width every row was truncated to fit). Built with numpy from one flat
    copy of the ids: per-row tensor writes cost more than the model itself on a GPU."""
    flat = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64)
    flat = np.append(flat, pad)  # a safe target for the gather below when a row is empty
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    cap = int(lengths.max(initial=1))
    for begin, stop in bounds:
        idx = order[begin:stop]
        columns = np.arange(padded_width(max(int(lengths[idx].max()), 1), multiple, cap))
        mask = columns < lengths[idx, None]
        ids = np.where(mask, flat[np.where(mask, starts[idx, None] + columns, len(flat) - 1)], pad)
        yield ids, mask.astype(np.int64)


def score_token_ids(
    model: Any,
    sequences: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 32,
    device: str | None = None,
    autocast_dtype: Any = None,
    sort_by_length: bool = True,
    max_batch_tokens: int | None = None,
) -> np.ndarray:
    """Rewards of pre-tokenized sequences (in input order), padding each batch to its longest.

    A batch holds at most `batch_size` sequences and, when set, `max_batch_tokens` padded
    tokens. `device` defaults to the model's. Rewards stay on the device until the last batch,
    so the host prepares the next batch while the GPU runs this one (one synchronisation)."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be >= 1 or None, got {max_batch_tokens}")
    if device is None:
        device = next(model.parameters()).device.type
    n = len(sequences)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=n)
    order = np.argsort(lengths, kind="stable") if sort_by_length else np.arange(n)
    outputs, was_training = [], model.training
    model.eval()
    try:
        fp32_head = _fp32_head(model, device, autocast_dtype is not None)
        attention = attention_for(device)
        with torch.inference_mode(), _autocast(device, autocast_dtype), fp32_head, attention:
            multiple = pad_multiple(device)
            bounds = batch_bounds(lengths[order], batch_size, max_batch_tokens, multiple)
            batches = _padded_batches(sequences, lengths, order, bounds, pad_token_id, multiple)
            for ids, mask in batches:
                input_ids, attention_mask = (_to_device(torch, a, device) for a in (ids, mask))
                logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
                outputs.append(logits.squeeze(-1).float())
    finally:
        model.train(was_training)
    rewards = np.empty(n, dtype=np.float64)
    if n:
        rewards[order] = torch.cat(outputs).cpu().numpy()
    return rewards


def _to_device(torch: Any, array: np.ndarray, device: str):
    tensor = torch.from_numpy(array)
    if device_kind(device) == "cuda":  # pinned host memory: the copy runs beside the last batch
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class RewardScorer:
    """Scores (prompt, response) pairs with an exported reward model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        card: RewardCard,
        device: str,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.card = card
        self.device = device
        default_size, default_tokens = scoring_batch(device)
        self.batch_size = batch_size or default_size
        self.max_batch_tokens = max_batch_tokens or default_tokens
        self.autocast_dtype = None
        if device_kind(device) == "cuda":
            import torch

            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else None

    @classmethod
    def load(
        cls,
        folder: str | Path,
        device: str | None = None,
        verify: bool = True,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
    ) -> RewardScorer:
        """Load an exported folder; with `verify`, refuse it if any file differs from the card.

        A batch holds at most `batch_size` sequences and `max_batch_tokens` padded tokens
        (defaults by device: `rm_pipeline.perf.scoring_batch`)."""
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
        return cls(model, tokenizer, card, device, batch_size, max_batch_tokens)

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
            max_batch_tokens=self.max_batch_tokens,
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
