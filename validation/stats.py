"""Small, pure-numpy statistics for the golden gate: accuracy with bootstrap intervals,
a paired bootstrap of the accuracy difference, calibration error and length bias."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def pair_correct(margins: np.ndarray) -> np.ndarray:
    """Per-pair correctness: 1 when chosen scores higher, 0.5 on an exact tie, else 0.

    Ties count half so a constant scorer lands exactly at chance instead of 0.
    """
    margins = np.asarray(margins, dtype=float)
    return np.where(margins > 0, 1.0, np.where(margins == 0, 0.5, 0.0))


def _bootstrap_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_bootstrap, n))


def bootstrap_mean_ci(
    values: np.ndarray, n_bootstrap: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): the percentile bootstrap interval of the mean of `values`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    means = values[_bootstrap_indices(values.size, n_bootstrap, seed)].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(values.mean()), float(low), float(high)


def paired_bootstrap_diff(
    a: np.ndarray, b: np.ndarray, n_bootstrap: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean(a - b), low, high), resampling the same pairs for both models.

    Resampling pairs jointly keeps the correlation between the two models' errors, which makes
    the interval far narrower (and honest) compared with two independent intervals.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap: shapes differ ({a.shape} vs {b.shape})")
    return bootstrap_mean_ci(a - b, n_bootstrap, seed, level)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


@dataclass
class Reliability:
    """Reliability-diagram bins and the expected calibration error."""

    ece: float
    bin_confidence: list[float]  # mean predicted probability per non-empty bin
    bin_accuracy: list[float]  # observed frequency per non-empty bin
    bin_count: list[int]


def reliability(margins: np.ndarray, n_bins: int = 10) -> Reliability:
    """Calibration of P(chosen > rejected) = sigmoid(r_c - r_r).

    Every golden label says "chosen wins", so each pair is counted in both orders,
    (p, 1) and (1 - p, 0); otherwise a scorer could look calibrated by being overconfident.
    """
    p = sigmoid(np.asarray(margins, dtype=float))
    if p.size == 0 or not np.isfinite(p).all():
        return Reliability(math.nan, [], [], [])
    probs = np.concatenate([p, 1.0 - p])
    labels = np.concatenate([np.ones_like(p), np.zeros_like(p)])
    bins = np.clip((probs * n_bins).astype(int), 0, n_bins - 1)
    ece, conf, acc, count = 0.0, [], [], []
    for b in range(n_bins):
        mask = bins == b
        if not mask.any():
            continue
        c, a, k = float(probs[mask].mean()), float(labels[mask].mean()), int(mask.sum())
        ece += k / probs.size * abs(c - a)
        conf.append(c)
        acc.append(a)
        count.append(k)
    return Reliability(float(ece), conf, acc, count)


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear relation to report)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def longer_wins_share(len_chosen: np.ndarray, len_rejected: np.ndarray) -> float:
    """Share of pairs (with unequal lengths) where the chosen response is the longer one."""
    lc = np.asarray(len_chosen, dtype=float)
    lr = np.asarray(len_rejected, dtype=float)
    differ = lc != lr
    if not differ.any():
        return math.nan
    return float((lc[differ] > lr[differ]).mean())


def longer_preferred_share(
    margins: np.ndarray, len_chosen: np.ndarray, len_rejected: np.ndarray
) -> float:
    """Share of pairs (with unequal lengths) where the scorer rewards the longer response more;
    a tie counts half, as in `pair_correct`, so a constant scorer shows no length preference
    (0.5) instead of a full preference for the shorter response (0.0)."""
    m = np.asarray(margins, dtype=float)
    lc = np.asarray(len_chosen, dtype=float)
    lr = np.asarray(len_rejected, dtype=float)
    differ = lc != lr
    if not differ.any():
        return math.nan
    # the margin as seen from the longer response: positive when the longer one scores higher
    longer_margin = np.where(lc[differ] > lr[differ], m[differ], -m[differ])
    return float(pair_correct(longer_margin).mean())
