"""The MFU arithmetic the benchmarks report on CUDA (the 6N / 2N FLOPs-per-token rule) and
the bf16 peak lookup by device name; both run here without a GPU."""

from __future__ import annotations

import pytest
import torch

from rm_pipeline import perf


def test_mfu_follows_the_flops_per_token_rule():
    n_params, tokens_per_s, peak = 22_700_000, 50_000.0, 989e12
    training = perf.model_flops_utilisation(n_params, tokens_per_s, peak, training=True)
    inference = perf.model_flops_utilisation(n_params, tokens_per_s, peak, training=False)
    assert training == pytest.approx(6 * n_params * tokens_per_s / peak)
    assert training == pytest.approx(3 * inference)  # backward pass = 2x forward
    assert 0 < training < 0.01  # a 23M-parameter model cannot fill an H100
    assert perf.model_flops_utilisation(n_params, tokens_per_s, None, training=True) is None


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("Tesla T4", None),  # unknown card: no made-up peak
    ],
)
def test_bf16_peak_by_device_name(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: name)
    assert perf.cuda_bf16_peak_flops() == (name, peak)


def test_count_parameters_counts_every_weight():
    model = torch.nn.Linear(10, 3)  # 30 weights + 3 biases
    assert perf.count_parameters(model) == 33


def test_an_indexed_cuda_device_gets_the_cuda_settings():
    """ "cuda:1" is a CUDA device: the same batches, padding and attention choice as "cuda"."""
    import contextlib

    from rm_pipeline.perf import attention_for, device_kind, pad_multiple, scoring_batch

    assert [device_kind(d) for d in ("cuda:1", "cuda", "cpu", "mps:0")] == [
        "cuda", "cuda", "cpu", "mps",
    ]  # fmt: skip
    assert scoring_batch("cuda:1") == scoring_batch("cuda") != scoring_batch("cpu")
    assert pad_multiple("cuda:0") == pad_multiple("cuda") > pad_multiple("cpu") == 1
    assert isinstance(attention_for("cpu"), contextlib.nullcontext)
    assert not isinstance(attention_for("cuda:0"), contextlib.nullcontext)
