"""Throughput: tokens/s and model FLOPs utilisation (MFU) for benchmarks, and the CUDA settings
that keep training and scoring from waiting on the host."""

from __future__ import annotations

from typing import Any

# Dense bf16 tensor-core peaks (FLOP/s, no sparsity), by substring of the device name.
BF16_PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card peaks at ~756e12
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
}


def cuda_bf16_peak_flops() -> tuple[str, float | None]:
    """(device name, bf16 peak FLOP/s or None when the card is unknown)."""
    import torch

    name = torch.cuda.get_device_name()
    if "PCIe" in name and "H100" in name:
        return name, 756e12
    for key, peak in BF16_PEAK_FLOPS.items():
        if key in name:
            return name, peak
    return name, None


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def model_flops_utilisation(
    n_params: int, tokens_per_s: float, peak_flops: float | None, training: bool
) -> float | None:
    """MFU from the 6N (training: forward + backward) or 2N (inference) FLOPs-per-token rule.

    Attention FLOPs are left out, as in the PaLM definition's parameter term; at the sequence
    lengths used here (<= 512) they add only a few percent for these models.
    """
    if not peak_flops:
        return None
    per_token = (6 if training else 2) * n_params
    return per_token * tokens_per_s / peak_flops


# On CUDA, batches are padded to a multiple of this: with dynamic padding every new width costs
# kernel plans and autotuning once, and few widths reuse them (H100: 121 -> 226 pairs/s training
# MiniLM at batch 8, against a multiple of 8).
CUDA_PAD_MULTIPLE = 64


def device_kind(device: object) -> str:
    """The kind of a torch device named as a string or `torch.device`: "cuda:1" -> "cuda"."""
    return str(device).split(":", 1)[0]


def pad_multiple(device: str) -> int:
    """What batch widths are rounded up to on `device` (1: no rounding)."""
    return CUDA_PAD_MULTIPLE if device_kind(device) == "cuda" else 1


def padded_width(longest: int, multiple: int, cap: int | None) -> int:
    """`longest` rounded up to `multiple`, but not past `cap` (a width every sequence was
    truncated to fit: past it a model may have no position embeddings); never below `longest`."""
    rounded = -(-longest // multiple) * multiple
    return max(longest, min(rounded, cap or rounded))


def attention_for(device: str):
    """Context in which `scaled_dot_product_attention` skips the cuDNN backend on CUDA.

    cuDNN attention builds an execution plan for every new input shape, tens of milliseconds
    each: with dynamic padding that cost more than the model (H100: 121 -> 237 pairs/s training
    MiniLM when it is skipped; flash and memory-efficient attention have no such per-shape cost).
    Elsewhere a no-op."""
    import contextlib

    if device_kind(device) != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kept = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    return sdpa_kernel(kept)


# Scoring batches by device: (most sequences, most padded tokens) per forward pass. A GPU wants
# big batches (H100, MiniLM at 256 tokens: 9,507 responses/s at 128 rows against 4,004 at 32);
# the token budget keeps long inputs within the memory that 32 rows of 1024 tokens took before,
# and leaves those measured batches unchanged (128 x 256). On a CPU neither the batch size (8 to
# 128 rows) nor a budget (512 to 4096 tokens) changed throughput beyond the noise: 32, no budget.
SCORING_BATCH: dict[str, tuple[int, int | None]] = {"cuda": (128, 128 * 256), "cpu": (32, None)}


def scoring_batch(device: str) -> tuple[int, int | None]:
    """(batch size, token budget or None) that `RewardScorer` uses on `device` by default."""
    return SCORING_BATCH.get(device_kind(device), SCORING_BATCH["cpu"])
