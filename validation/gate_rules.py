"""The promotion rules of the golden gate, turned into a verdict with readable reasons."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validation.gate_config import GateConfig

OVERALL = "overall"
_CORE = ("accuracy", "ci_low", "ci_high", "mean_margin", "ece")


def _fmt(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else str(x)


def _gated_slices(model: dict[str, Any], config: GateConfig) -> list[str]:
    return [
        name
        for name, m in model.items()
        if name != OVERALL and m["n_pairs"] >= config.min_slice_pairs
    ]


def _finiteness(metrics: dict[str, Any], role: str) -> list[str]:
    """Non-finite rewards or metrics of one model (candidate or champion), per slice."""
    problems = []
    for name, m in metrics.get(role, {}).items():
        if m["non_finite_rewards"]:
            problems.append(f"{role} gave {m['non_finite_rewards']} non-finite rewards ({name})")
        bad = [k for k in _CORE if not math.isfinite(m[k])]
        if bad:
            problems.append(f"{role} {name}: non-finite {', '.join(bad)}")
    if role == "champion":
        for name, c in metrics.get("comparison", {}).items():
            if not all(math.isfinite(c[k]) for k in ("accuracy_diff", "ci_low", "ci_high")):
                problems.append(f"comparison {name}: non-finite accuracy difference")
    return problems


def _size_rule(metrics: dict[str, Any], config: GateConfig) -> list[str]:
    n = metrics["golden"]["n_pairs"]
    if n >= config.min_golden_pairs:
        return []
    return [f"golden set has {n} pair(s), fewer than min_golden_pairs {config.min_golden_pairs}"]


def _accuracy_rules(cand: dict[str, Any], config: GateConfig) -> list[str]:
    failures = []
    overall = cand[OVERALL]
    if not overall["accuracy"] >= config.accuracy_floor:
        failures.append(
            f"accuracy {_fmt(overall['accuracy'])} [{_fmt(overall['ci_low'])}, "
            f"{_fmt(overall['ci_high'])}] is below the floor {config.accuracy_floor}"
        )
    if config.slice_accuracy_floor is not None:
        for name in _gated_slices(cand, config):
            m = cand[name]
            if not m["accuracy"] >= config.slice_accuracy_floor:
                failures.append(
                    f"slice {name!r} ({m['n_pairs']} pairs): accuracy {_fmt(m['accuracy'])} is "
                    f"below the slice floor {config.slice_accuracy_floor}"
                )
    return failures


def _champion_rules(metrics: dict[str, Any], config: GateConfig) -> list[str]:
    failures = []
    for name in [OVERALL, *_gated_slices(metrics["candidate"], config)]:
        c = metrics["comparison"][name]
        if not c["ci_low"] >= -config.champion_tolerance:
            where = "overall" if name == OVERALL else f"slice {name!r}"
            failures.append(
                f"{where}: accuracy vs champion {c['accuracy_diff']:+.3f} "
                f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]; the lower bound is below "
                f"-{config.champion_tolerance}"
            )
    return failures


def _probe_rules(cand: dict[str, Any], config: GateConfig) -> list[str]:
    failures = []
    overall = cand[OVERALL]
    for name, limit in config.probe_limits.items():
        rate, n = overall["probe_rates"].get(name), overall["probe_counts"].get(name, 0)
        if n and rate > limit:  # n == 0: the edit changed no response, nothing to judge
            failures.append(
                f"probe {name!r}: reward rose for {rate:.1%} of {n} golden "
                f"responses (limit {limit:.0%})"
            )
    return failures


def _summary(metrics: dict[str, Any], config: GateConfig, compared: bool) -> str:
    o = metrics["candidate"][OVERALL]
    parts = [
        f"accuracy {_fmt(o['accuracy'])} [{_fmt(o['ci_low'])}, {_fmt(o['ci_high'])}] "
        f">= floor {config.accuracy_floor}"
    ]
    if compared:
        c = metrics["comparison"][OVERALL]
        parts.append(
            f"vs champion {c['accuracy_diff']:+.3f} [{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]"
        )
    elif "comparison" in metrics:
        parts.append("champion not compared (non-finite): floor and probe limits decide")
    else:
        parts.append("no champion: floor and probe limits decide")
    parts.append("probes " + ", ".join(f"{k} {_fmt(v)}" for k, v in o["probe_rates"].items()))
    return "passed: " + "; ".join(parts)


def decide(metrics: dict[str, Any], config: GateConfig) -> tuple[bool, list[str]]:
    """(passed, reasons): every failing rule, or one summary line when all pass; a warning
    follows either when the champion's rewards were unusable and it was not compared."""
    size = _size_rule(metrics, config)
    failures = _finiteness(metrics, "candidate")
    if failures:  # the remaining rules compare numbers that are not there
        return False, size + failures
    warnings = []
    compared = "comparison" in metrics
    broken_champion = _finiteness(metrics, "champion") if compared else []
    if broken_champion:
        # A broken champion must not keep every candidate out (it could never be replaced):
        # the candidate is judged on its own, by the floors and probes.
        compared = False
        warnings.append(
            "champion comparison skipped, the champion's rewards are unusable ("
            + "; ".join(broken_champion)
            + "): the floors and probe limits decide"
        )
    failures = size + _accuracy_rules(metrics["candidate"], config)
    if compared:
        failures += _champion_rules(metrics, config)
    failures += _probe_rules(metrics["candidate"], config)
    if failures:
        return False, failures + warnings
    return True, [_summary(metrics, config, compared), *warnings]
