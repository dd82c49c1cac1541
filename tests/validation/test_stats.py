"""The gate's statistics on hand-computed cases."""

from __future__ import annotations

import numpy as np

from validation import stats


def test_longer_preferred_share_counts_ties_half():
    len_chosen = np.array([10.0, 20.0, 30.0, 40.0, 5.0])
    len_rejected = np.array([20.0, 10.0, 40.0, 30.0, 5.0])  # the last pair is of equal length
    # a constant scorer prefers neither response: it used to read as 'prefers the shorter' (0.0)
    assert stats.longer_preferred_share(np.zeros(5), len_chosen, len_rejected) == 0.5
    # the longer response scores higher in pair 1, lower in pairs 0 and 3, the same in pair 2
    margins = np.array([1.0, 1.0, 0.0, -1.0, 9.0])
    assert stats.longer_preferred_share(margins, len_chosen, len_rejected) == 1.5 / 4
