"""Reward drift: the champion's rewards on recent production responses against a reference
sample stored at promotion, compared with Evidently 0.7 value-drift tests.

Beside the per-column tests it reports the shift in mean reward and in the reward-length
correlation: a reward that rises together with response length is a reward-hacking signal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from validation import stats
from validation.fileio import atomic_write

if TYPE_CHECKING:
    from validation.gate import Scorer

DERIVED = {"response_length": "response", "prompt_length": "prompt"}
AUTO = "auto"


@dataclass
class DriftConfig:
    """Settings of the drift check; every default lives here."""

    method: str = AUTO
    """Evidently drift method. "auto" is Evidently's own choice by sample size: a K-S p-value
    (drift below 0.05) up to 1000 reference rows, normed Wasserstein (a distance: drift at or
    above 0.1) beyond, where a p-value flags tiny shifts. A distance of small samples of one
    distribution is large (about 1/sqrt(rows)): normed Wasserstein at 0.1 flagged 7 of 20
    unchanged 500-row samples, so never set it for small windows."""
    threshold: float | None = None
    """Method threshold (distance: drift at or above; p-value methods: drift below).
    None takes Evidently's default for the method; "auto" takes none (its unit depends on the
    method chosen)."""
    columns: tuple[str, ...] = ("reward", "response_length", "prompt_length")
    """Columns tested for drift (lengths are derived from the texts, in characters)."""
    trigger_columns: tuple[str, ...] = ("reward",)
    """Columns whose drift sets `drift_detected`; the others are reported only."""
    min_rows: int = 30
    """Fewer rows on either side skips the check (too little traffic to say anything)."""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("DriftConfig.columns: at least one column is needed")
        missing = [c for c in self.trigger_columns if c not in self.columns]
        if missing:
            raise ValueError(f"DriftConfig.trigger_columns: {missing} not in columns")
        if self.min_rows < 2:
            raise ValueError("DriftConfig.min_rows: must be at least 2")
        if self.threshold is not None and not 0 < float(self.threshold) < float("inf"):
            raise ValueError(
                f"DriftConfig.threshold: must be a positive number, got {self.threshold}"
            )
        if self.threshold is not None and self.method == AUTO:
            raise ValueError(
                "DriftConfig.threshold: name a method too (method 'auto' picks a p-value or a "
                "distance by sample size, and a threshold means something else for each)"
            )


@dataclass
class DriftResult:
    """Outcome of one drift check."""

    drift_detected: bool
    columns: dict[str, dict[str, Any]]  # name -> drifted, score, method, threshold
    mean_reward_shift: float
    reward_length_corr_ref: float
    reward_length_corr_cur: float
    reward_length_corr_shift: float
    n_reference: int
    n_current: int
    report_path: str | None = None
    skipped_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """A readable multi-line summary."""
        if self.skipped_reason:
            return f"drift check skipped: {self.skipped_reason}"
        head = "DRIFT" if self.drift_detected else "no drift"
        lines = [f"{head} ({self.n_reference} reference vs {self.n_current} current rows)"]
        for name, c in self.columns.items():
            flag = "drifted" if c["drifted"] else "stable"
            lines.append(f"  - {name}: {flag}, {c['method']} score {c['score']:.4g}")
        lines.append(f"  - mean reward shift {self.mean_reward_shift:+.4f}")
        lines.append(
            f"  - reward-length correlation {self.reward_length_corr_ref:+.3f} -> "
            f"{self.reward_length_corr_cur:+.3f}"
        )
        return "\n".join(lines)


def score_frame(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` (prompt, response) with a `reward` column from `scorer`."""
    for column in ("prompt", "response"):
        if column not in frame.columns:
            raise ValueError(f"score_frame: missing column {column!r}")
    rewards = scorer.score_raw(frame["prompt"].tolist(), frame["response"].tolist())
    rewards = np.asarray(rewards, dtype=float).reshape(-1)
    if rewards.size != len(frame):
        raise ValueError(f"scorer returned {rewards.size} rewards for {len(frame)} rows")
    return frame.assign(reward=rewards)


def _prepare(frame: pd.DataFrame, name: str, config: DriftConfig) -> pd.DataFrame:
    out = frame.copy()
    for column, text in DERIVED.items():
        if column not in out.columns and text in out.columns:
            out[column] = out[text].astype(str).str.len()
    needed = set(config.columns) | {"reward", "response_length"}
    missing = sorted(c for c in needed if c not in out.columns)
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    flags = sorted(c for c in needed if _holds_booleans(out[c]))
    if flags:
        raise ValueError(f"{name}: boolean values in {flags}, expected numbers")
    # float64 turns a nullable column's pd.NA into NaN, which the finiteness test sees; on a
    # Float64 column np.isfinite gave <NA> and .all() skipped it, so missing rewards passed.
    values = pd.DataFrame(
        {
            c: pd.to_numeric(out[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            for c in sorted(needed)
        },
        index=out.index,
    )
    bad = [c for c in values.columns if not np.isfinite(values[c]).all()]
    if bad:
        raise ValueError(f"{name}: non-numeric or non-finite values in {bad}")
    return values


def _holds_booleans(column: pd.Series) -> bool:
    # to_numeric keeps booleans (True is 1): a flag column is not a reward or a length.
    if pd.api.types.is_bool_dtype(column.dtype):
        return True
    return column.dtype == object and column.map(lambda v: isinstance(v, bool | np.bool_)).any()


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame, config: DriftConfig) -> tuple[Any, dict]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    cols = list(config.columns)
    definition = DataDefinition(numerical_columns=cols)
    method = None if config.method == AUTO else config.method
    metrics = [ValueDrift(column=c, method=method, threshold=config.threshold) for c in cols]
    try:
        snapshot = Report(metrics, include_tests=True).run(
            reference_data=Dataset.from_pandas(ref[cols], data_definition=definition),
            current_data=Dataset.from_pandas(cur[cols], data_definition=definition),
        )
    except (ValueError, KeyError) as exc:
        raise ValueError(f"DriftConfig.method {config.method!r}: evidently failed: {exc}") from exc
    data = snapshot.dict()
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data["tests"]}
    columns = {}
    for metric in data["metrics"]:
        cfg = metric["config"]
        columns[cfg["column"]] = {
            "drifted": status.get(metric["id"]) == "FAIL",  # the test status, not our own rule
            "score": float(metric["value"]),
            "method": cfg.get("method"),
            "threshold": cfg.get("threshold"),
        }
    return snapshot, columns


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    output_dir: Path | str | None = None,
) -> DriftResult:
    """Compare current rewards (and lengths) with the reference; write the HTML report.

    Both frames carry `reward` plus `prompt` / `response` texts (or precomputed
    `prompt_length` / `response_length`).
    """
    config = config or DriftConfig()
    ref = _prepare(reference, "reference", config)
    cur = _prepare(current, "current", config)
    corr_ref = stats.correlation(ref["reward"], ref["response_length"])
    corr_cur = stats.correlation(cur["reward"], cur["response_length"])
    result = DriftResult(
        drift_detected=False,
        columns={},
        mean_reward_shift=float(cur["reward"].mean() - ref["reward"].mean()),
        reward_length_corr_ref=corr_ref,
        reward_length_corr_cur=corr_cur,
        reward_length_corr_shift=corr_cur - corr_ref,
        n_reference=len(ref),
        n_current=len(cur),
    )
    if min(len(ref), len(cur)) < config.min_rows:
        result.skipped_reason = (
            f"{len(ref)} reference / {len(cur)} current rows; need {config.min_rows} on each side"
        )
        return result
    snapshot, result.columns = _evidently(ref, cur, config)
    result.drift_detected = any(result.columns[c]["drifted"] for c in config.trigger_columns)
    ref_std = float(ref["reward"].std())
    result.extra["mean_reward_shift_in_ref_std"] = (
        result.mean_reward_shift / ref_std if ref_std > 0 else 0.0
    )
    if output_dir is not None:
        result.report_path = str(_save_html(snapshot, Path(output_dir) / "drift_report.html"))
    return result


def _save_html(snapshot: Any, path: Path) -> Path:
    return atomic_write(path, snapshot.save_html, ".html")


def read_responses(path: Path | str) -> pd.DataFrame:
    """Read prompt/response rows (and an optional reward) from JSONL, Parquet or CSV."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"responses file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".jsonl", ".jsonl.gz", ".json")):
        frame = pd.read_json(path, lines=True)
    elif suffixes.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif suffixes.endswith(".csv"):
        frame = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: unsupported format (use .jsonl, .parquet or .csv)")
    missing = [c for c in ("prompt", "response") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return frame
