"""The golden-set promotion gate: score candidate and champion on the same human-labelled pairs
in the same run, and decide whether the candidate may be promoted.

`evaluate_candidate` works on any object with `score_raw(prompts, responses) -> array`
(`rm_pipeline.scoring.RewardScorer` is one), so the statistics are testable without a model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from validation import stats
from validation.fileio import atomic_write_text, jsonable
from validation.gate_config import GateConfig
from validation.gate_rules import decide
from validation.golden_scoring import ScoredGolden, score_golden

OVERALL = "overall"


class Scorer(Protocol):
    """Anything that turns (prompt, response) texts into raw rewards, one per item."""

    def score_raw(self, prompts: list[str], responses: list[str]) -> np.ndarray: ...


@dataclass
class GateVerdict:
    """The gate's decision, the reasons behind it, and every metric it looked at."""

    passed: bool
    reasons: list[str]
    metrics: dict[str, Any]
    golden_hash: str
    n_pairs: int
    reliability_plot: str | None = None
    verdict_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """Readable multi-line summary for logs and the CLI."""
        head = "PASSED" if self.passed else "FAILED"
        lines = [f"gate {head} on {self.n_pairs} golden pairs (golden {self.golden_hash[:12]})"]
        return "\n".join(lines + [f"  - {r}" for r in self.reasons])


def golden_frame_hash(golden: pd.DataFrame, category_column: str = "category") -> str:
    """SHA-256 of the golden pairs' content (used when the caller passes no file hash)."""
    h = hashlib.sha256()
    cols = ["prompt", "chosen", "rejected"]
    cols += [category_column] if category_column in golden.columns else []
    for row in golden[cols].itertuples(index=False):
        for value in row:
            data = str(value).encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def check_golden(golden: pd.DataFrame, category_column: str = "category") -> None:
    """Raise ValueError naming the column when the golden frame is unusable."""
    if not isinstance(golden, pd.DataFrame):
        raise ValueError(f"golden: expected a DataFrame, got {type(golden).__name__}")
    if golden.empty:
        raise ValueError("golden: no pairs")
    for column in ("prompt", "chosen", "rejected"):
        if column not in golden.columns:
            raise ValueError(f"golden: missing column {column!r}")
        values = golden[column]
        bad = int(values.isna().sum() + (~values.dropna().map(lambda v: isinstance(v, str))).sum())
        if bad:
            raise ValueError(f"golden: column {column!r} has {bad} null or non-text value(s)")
    if category_column in golden.columns:
        categories = golden[category_column]
        if categories.isna().any():
            raise ValueError(f"golden: column {category_column!r} has null categories")
        # Slices share the metrics' namespace with the whole set: a slice named "overall" would
        # replace the all-pairs metrics the gate decides on.
        clashing = int((categories.astype(str) == OVERALL).sum())
        if clashing:
            raise ValueError(
                f"golden: column {category_column!r} names {clashing} pair(s) {OVERALL!r}, "
                "which is reserved for the metrics over every pair"
            )


def _slices(golden: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    masks = {OVERALL: np.ones(len(golden), dtype=bool)}
    if column in golden.columns:
        categories = golden[column].astype(str).to_numpy()
        for name in sorted(set(categories)):
            masks[name] = categories == name
    return masks


def _model_metrics(s: ScoredGolden, mask: np.ndarray, config: GateConfig) -> dict[str, Any]:
    margins = s.margins[mask]
    acc, low, high = stats.bootstrap_mean_ci(
        stats.pair_correct(margins), config.n_bootstrap, config.seed, config.confidence_level
    )
    rel = stats.reliability(margins, config.n_calibration_bins)
    rewards = np.concatenate([s.r_chosen[mask], s.r_rejected[mask]])
    probe_rates, probe_counts = s.probe_rates(mask)
    lengths = np.concatenate([s.len_chosen[mask], s.len_rejected[mask]])
    return {
        "n_pairs": int(mask.sum()),
        "accuracy": acc,
        "ci_low": low,
        "ci_high": high,
        "mean_margin": float(margins.mean()),
        "ece": rel.ece,
        "reliability": {
            "confidence": rel.bin_confidence,
            "accuracy": rel.bin_accuracy,
            "count": rel.bin_count,
        },
        "reward_length_corr": stats.correlation(rewards, lengths),
        "longer_preferred_share": stats.longer_preferred_share(
            margins, s.len_chosen[mask], s.len_rejected[mask]
        ),
        "probe_rates": probe_rates,
        "probe_counts": probe_counts,
        "non_finite_rewards": int((~np.isfinite(rewards)).sum()),
    }


def _comparison(
    cand: ScoredGolden, champ: ScoredGolden, mask: np.ndarray, config: GateConfig
) -> dict[str, float]:
    diff, low, high = stats.paired_bootstrap_diff(
        stats.pair_correct(cand.margins[mask]),
        stats.pair_correct(champ.margins[mask]),
        config.n_bootstrap,
        config.seed,
        config.confidence_level,
    )
    return {"accuracy_diff": diff, "ci_low": low, "ci_high": high}


def _golden_metrics(golden: pd.DataFrame, masks: dict[str, np.ndarray]) -> dict[str, Any]:
    lc = golden["chosen"].str.len().to_numpy()
    lr = golden["rejected"].str.len().to_numpy()
    return {
        "n_pairs": len(golden),
        "slices": {name: int(m.sum()) for name, m in masks.items() if name != OVERALL},
        "longer_wins_accuracy": {
            name: stats.longer_wins_share(lc[m], lr[m]) for name, m in masks.items()
        },
    }


def evaluate_candidate(
    candidate: Scorer,
    champion: Scorer | None,
    golden: pd.DataFrame,
    config: GateConfig | None = None,
    output_dir: Path | str | None = None,
    golden_hash: str | None = None,
) -> GateVerdict:
    """Score candidate (and champion) on `golden` and decide on promotion.

    `golden` has columns prompt, chosen, rejected and optionally `config.category_column`.
    With `output_dir`, writes `reliability.png` and `verdict.json` there (atomically).
    """
    config = config or GateConfig()
    check_golden(golden, config.category_column)
    golden = golden.reset_index(drop=True)
    masks = _slices(golden, config.category_column)
    scored = {"candidate": score_golden(candidate, golden, config)}
    if champion is not None:
        scored["champion"] = score_golden(champion, golden, config)
    metrics: dict[str, Any] = {"golden": _golden_metrics(golden, masks)}
    for role, s in scored.items():
        metrics[role] = {name: _model_metrics(s, m, config) for name, m in masks.items()}
    if champion is not None:
        metrics["comparison"] = {
            name: _comparison(scored["candidate"], scored["champion"], m, config)
            for name, m in masks.items()
        }
    passed, reasons = decide(metrics, config)
    verdict = GateVerdict(
        passed=passed,
        reasons=reasons,
        metrics=metrics,
        golden_hash=golden_hash or golden_frame_hash(golden, config.category_column),
        n_pairs=len(golden),
    )
    if output_dir is not None:
        _write_outputs(verdict, Path(output_dir))
    return verdict


def _write_outputs(verdict: GateVerdict, output_dir: Path) -> None:
    from validation.plots import save_reliability_plot

    output_dir.mkdir(parents=True, exist_ok=True)
    curves = {
        role: verdict.metrics[role][OVERALL]["reliability"]
        for role in ("candidate", "champion")
        if role in verdict.metrics
    }
    verdict.reliability_plot = str(save_reliability_plot(curves, output_dir / "reliability.png"))
    verdict.verdict_path = str(output_dir / "verdict.json")
    atomic_write_text(Path(verdict.verdict_path), json.dumps(jsonable(verdict.to_dict()), indent=2))
