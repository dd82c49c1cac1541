"""Scoring batches: at most N rows and a padded-token budget, in order, never empty."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rm_pipeline.perf import SCORING_BATCH, padded_width
from rm_pipeline.scoring import batch_bounds


def _cost(lengths: np.ndarray, multiple: int) -> int:
    """Padded tokens of one batch, as `_padded_batches` pads it."""
    return len(lengths) * padded_width(max(int(lengths.max()), 1), multiple, None)


@given(
    lengths=st.lists(st.integers(0, 300), max_size=60),
    size=st.integers(1, 16),
    budget=st.integers(1, 3000),
    multiple=st.sampled_from([1, 8, 64]),
    sort=st.booleans(),
)
def test_bounds_cover_every_row_and_respect_both_limits(lengths, size, budget, multiple, sort):
    lengths = np.array(sorted(lengths) if sort else lengths, dtype=np.int64)
    bounds = batch_bounds(lengths, size, budget, multiple)
    rows_in_order = [i for begin, end in bounds for i in range(begin, end)]
    assert rows_in_order == list(range(len(lengths)))  # every row once, in order
    cap = int(np.maximum(lengths, 1).max(initial=1))
    for begin, end in bounds:
        rows = lengths[begin:end]
        assert 1 <= len(rows) <= size
        width = padded_width(max(int(rows.max()), 1), multiple, cap)
        assert len(rows) == 1 or len(rows) * width <= budget
        if end < len(lengths) and len(rows) < size:  # greedy: one more row would not fit
            wider = padded_width(max(int(lengths[begin : end + 1].max()), 1), multiple, cap)
            assert (len(rows) + 1) * wider > budget


def test_without_a_budget_batches_are_fixed_size():
    assert batch_bounds(np.array([5, 1, 9, 2, 7]), 2, None) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds(np.array([], dtype=np.int64), 4, 100) == []


def test_short_rows_share_big_batches_long_rows_get_small_ones():
    lengths = np.array([10] * 40 + [100] * 10)
    assert batch_bounds(lengths, 64, 400) == [(0, 40), (40, 44), (44, 48), (48, 50)]
    assert _cost(lengths[40:44], 1) == 400


def test_the_cuda_budget_keeps_long_inputs_to_the_memory_of_32_rows_of_1024_tokens():
    size, budget = SCORING_BATCH["cuda"]
    long_rows = batch_bounds(np.full(200, 1024), size, budget, 64)
    assert max(e - b for b, e in long_rows) == 32
    short_rows = batch_bounds(np.full(300, 256), size, budget, 64)
    assert max(e - b for b, e in short_rows) == size == 128  # the batches measured on an H100
