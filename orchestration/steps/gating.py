"""Evaluate a candidate against the champion on the golden set; register and promote it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.steps.training import CandidateRun, champion_folder

OVERALL = "overall"


@dataclass
class CandidateEvaluation:
    """The gate verdict plus the champion it was compared with (the promotion's expectation)."""

    verdict: Any  # validation.gate.GateVerdict
    champion_version: str | None
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.verdict.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "champion_version": self.champion_version,
            "summary": self.summary,
            "verdict": self.verdict.to_dict(),
        }


@dataclass
class RegistrationOutcome:
    """What registration did: the new version, and the promotion (or why there was none)."""

    version: str
    model_uri: str
    promoted: bool
    champion: str | None
    previous_champion: str | None
    detail: str
    handoff_path: str | None = None
    reference_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def golden_summary(verdict) -> dict[str, float]:
    """Flat numbers for tags, metrics and UI metadata: accuracy per slice, the comparison with
    the champion, calibration and probe rates of the candidate."""
    out: dict[str, float] = {}
    for name, m in verdict.metrics.get("candidate", {}).items():
        prefix = "" if name == OVERALL else f"{name}."
        out[f"{prefix}accuracy"] = m["accuracy"]
        if name == OVERALL:
            out.update(ci_low=m["ci_low"], ci_high=m["ci_high"], ece=m["ece"])
            out["mean_margin"] = m["mean_margin"]
            out["longer_preferred_share"] = m["longer_preferred_share"]
            out.update({f"probe.{k}": v for k, v in m["probe_rates"].items()})
    for name, m in verdict.metrics.get("champion", {}).items():
        out[f"champion.{'' if name == OVERALL else name + '.'}accuracy"] = m["accuracy"]
    for name, c in verdict.metrics.get("comparison", {}).items():
        prefix = "" if name == OVERALL else f"{name}."
        out[f"{prefix}diff_vs_champion"] = c["accuracy_diff"]
        out[f"{prefix}diff_ci_low"] = c["ci_low"]
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float)}


def evaluate_candidate_run(
    candidate: CandidateRun,
    registry,
    golden_paths: list[Path],
    gate_config,
    output_dir: Path,
) -> CandidateEvaluation:
    """Score candidate and current champion on the same golden set; log the verdict to the
    candidate's MLflow run."""
    from feedback_ingest.golden import golden_hash, load_golden
    from rm_pipeline.mlflow_model import log_evaluation
    from rm_pipeline.registry import current_champion
    from rm_pipeline.scoring import RewardScorer
    from validation.gate import evaluate_candidate

    if not golden_paths:
        raise ValueError("golden set: no golden files configured (RMOPS_GOLDEN_DIR is empty)")
    golden = load_golden(golden_paths)
    champion_version = current_champion(registry)
    champion = None
    if champion_version is not None:
        folder = champion_folder(registry, Path(output_dir).parent / "champions", champion_version)
        champion = RewardScorer.load(folder)
    verdict = evaluate_candidate(
        RewardScorer.load(Path(candidate.export_dir)),
        champion,
        golden,
        gate_config,
        output_dir=output_dir,
        golden_hash=golden_hash(golden_paths),
    )
    summary = golden_summary(verdict)
    log_evaluation(registry, candidate.run_id, dataclasses.replace(verdict, metrics=summary))
    return CandidateEvaluation(verdict, champion_version, summary)


def register_and_promote(
    candidate: CandidateRun, evaluation: CandidateEvaluation, registry
) -> RegistrationOutcome:
    """Register the candidate with its gate tags; promote it when it passed, as a
    compare-and-set against the champion it was evaluated against."""
    from rm_pipeline.promotion import promote
    from rm_pipeline.registry import PromotionRefused, current_champion, register_candidate

    verdict = evaluation.verdict
    info = register_candidate(
        registry,
        candidate.run_id,
        candidate.model_uri,
        candidate.dataset_version,
        verdict.passed,
        list(verdict.reasons),
        evaluation.summary,
        base_model=candidate.base_model,
        parent_champion=evaluation.champion_version,
        golden_hash=verdict.golden_hash,
    )
    outcome = RegistrationOutcome(
        info.version, info.model_uri, False, evaluation.champion_version, None, ""
    )
    if not verdict.passed:
        outcome.detail = "not promoted: the gate refused it: " + "; ".join(verdict.reasons)
        return outcome
    try:
        result = promote(
            registry,
            info.version,
            expected_champion=evaluation.champion_version,
            reason=f"passed the golden gate on dataset {candidate.dataset_version}",
        )
    except PromotionRefused as refused:
        outcome.champion = current_champion(registry)
        outcome.detail = f"not promoted ({refused.code}): {refused}"
        return outcome
    # Champion now either way: promoted here, or by an earlier attempt of this step that failed
    # after promoting (a retry must still store the drift reference).
    outcome.promoted = True
    outcome.champion = result.version
    outcome.previous_champion = result.previous_champion or evaluation.champion_version
    outcome.handoff_path = result.handoff_path
    outcome.detail = f"promoted v{result.version} over v{outcome.previous_champion or '-'}" + (
        "" if result.changed else " (by an earlier attempt of this step)"
    )
    return outcome
