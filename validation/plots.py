"""The reliability plot of the golden gate (PNG, headless matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from validation.fileio import atomic_write


def save_reliability_plot(curves: dict[str, dict[str, Any]], path: Path) -> Path:
    """Plot predicted P(preferred) against observed frequency for each model; atomic write."""
    # A bare Figure renders through Agg without touching pyplot's global backend state.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(curve["confidence"], curve["accuracy"], marker="o", label=name)
    ax.set_xlabel("predicted P(preferred) = sigmoid(r_a - r_b)")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("Golden-set reliability")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), ".png")
