"""Throughput accounting for benchmarks: tokens/s and model FLOPs utilisation (MFU) on CUDA."""

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
