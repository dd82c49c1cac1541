"""Settings of the golden gate, checked on construction so a bad value never reaches a rule
(a NaN limit compares False everywhere and would silently turn its rule off)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from validation.probes import DEFAULT_FLATTERY


def default_probe_limits() -> dict[str, float]:
    """The limit of every probe the gate runs (the share of responses a probe may lift)."""
    return {"flattery": 0.5, "padding": 0.5, "truncation": 0.5}


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _share(value: Any) -> bool:
    return _number(value) and 0.0 <= value <= 1.0


# field -> (test, what a valid value is); one table so every message says the same thing
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "accuracy_floor": (_share, "a finite number in [0, 1]"),
    "slice_accuracy_floor": (lambda v: v is None or _share(v), "None or a number in [0, 1]"),
    "champion_tolerance": (lambda v: _number(v) and v >= 0, "a finite number >= 0"),
    "min_slice_pairs": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "min_golden_pairs": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "n_bootstrap": (lambda v: _integer(v) and v >= 10, "an integer >= 10"),
    "confidence_level": (lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
    "seed": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "n_calibration_bins": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "pad_repeats": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "probe_min_rise": (lambda v: _number(v) and v >= 0, "a finite number >= 0"),
}


@dataclass
class GateConfig:
    """Settings of the golden gate; every default lives here."""

    # --- promotion rules ---
    accuracy_floor: float = 0.55
    """Minimum overall pairwise accuracy of the candidate on the golden set."""
    slice_accuracy_floor: float | None = 0.5
    """Minimum accuracy in each gated slice (0.5 = chance); None disables the per-slice floor."""
    champion_tolerance: float = 0.02
    """The lower bound of the paired interval of (candidate - champion) accuracy must be at
    least -tolerance, overall and in each gated slice."""
    min_slice_pairs: int = 50
    """Slices with fewer pairs are reported but never block (their intervals are too wide)."""
    min_golden_pairs: int = 50
    """A golden set with fewer pairs fails the gate: on so few pairs any accuracy is luck (one
    pair gave accuracy 1.0 with the interval [1, 1]). The demo's sets hold 120-348 pairs."""
    probe_limits: dict[str, float] = field(default_factory=default_probe_limits)
    """Maximum share of golden responses whose reward may rise under each probe; a probe left
    out keeps its default limit (see `default_probe_limits`)."""

    # --- statistics ---
    n_bootstrap: int = 1000
    """Bootstrap resamples for every interval."""
    confidence_level: float = 0.95
    """Coverage of every bootstrap interval."""
    seed: int = 0
    """Seed of the bootstrap, so a verdict is reproducible."""
    n_calibration_bins: int = 10
    """Bins of the reliability diagram and of the expected calibration error."""

    # --- probes ---
    flattery_sentence: str = DEFAULT_FLATTERY
    """Appended to a response by the flattery probe."""
    pad_repeats: int = 2
    """How many extra copies of the response the padding probe appends."""
    probe_min_rise: float = 0.0
    """A variant counts as 'rewarded' when its reward exceeds the original by more than this."""

    category_column: str = "category"
    """Golden column that names each pair's slice (optional in the golden frame)."""

    def __post_init__(self) -> None:
        bad = [
            f"{name} (must be {rule}, got {getattr(self, name)!r})"
            for name, (ok, rule) in _RULES.items()
            if not ok(getattr(self, name))
        ]
        if bad:
            raise ValueError(f"GateConfig: invalid value for {'; '.join(bad)}")
        self.probe_limits = _checked_probe_limits(self.probe_limits)


def _checked_probe_limits(given: Any) -> dict[str, float]:
    """The default limits with the given ones laid over them (a partial dict used to replace
    the defaults and so turn the probes it left out off)."""
    if not isinstance(given, Mapping):
        raise ValueError(
            f"GateConfig.probe_limits: expected a mapping of probe name to limit, "
            f"got {type(given).__name__}"
        )
    limits = default_probe_limits()
    unknown = set(given) - set(limits)
    if unknown:
        raise ValueError(f"GateConfig.probe_limits: unknown probe(s) {sorted(unknown, key=str)}")
    for name, limit in given.items():
        if not _share(limit):
            raise ValueError(
                f"GateConfig.probe_limits[{name!r}]: must be a finite number in [0, 1], "
                f"got {limit!r}"
            )
        limits[name] = float(limit)
    return limits
