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


def _finiteness(metrics: dict[str, Any]) -> list[str]:
    problems = []
    for role in ("candidate", "champion"):
        for name, m in metrics.get(role, {}).items():
            if m["non_finite_rewards"]:
                problems.append(
                    f"{role} gave {m['non_finite_rewards']} non-finite rewards ({name})"
                )
            bad = [k for k in _CORE if not math.isfinite(m[k])]
            if bad:
                problems.append(f"{role} {name}: non-finite {', '.join(bad)}")
    for name, c in metrics.get("comparison", {}).items():
        if not all(math.isfinite(c[k]) for k in ("accuracy_diff", "ci_low", "ci_high")):
            problems.append(f"comparison {name}: non-finite accuracy difference")
    return problems


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


def _summary(metrics: dict[str, Any], config: GateConfig) -> str:
    o = metrics["candidate"][OVERALL]
    parts = [
        f"accuracy {_fmt(o['accuracy'])} [{_fmt(o['ci_low'])}, {_fmt(o['ci_high'])}] "
        f">= floor {config.accuracy_floor}"
    ]
    if "comparison" in metrics:
        c = metrics["comparison"][OVERALL]
        parts.append(
            f"vs champion {c['accuracy_diff']:+.3f} [{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]"
        )
    else:
        parts.append("no champion: floor and probe limits decide")
    parts.append("probes " + ", ".join(f"{k} {_fmt(v)}" for k, v in o["probe_rates"].items()))
    return "passed: " + "; ".join(parts)


def decide(metrics: dict[str, Any], config: GateConfig) -> tuple[bool, list[str]]:
    """(passed, reasons): every failing rule, or one summary line when all pass."""
    failures = _finiteness(metrics)
    if failures:  # the remaining rules compare numbers that are not there
        return False, failures
    failures += _accuracy_rules(metrics["candidate"], config)
    if "comparison" in metrics:
        failures += _champion_rules(metrics, config)
    failures += _probe_rules(metrics["candidate"], config)
    if failures:
        return False, failures
    return True, [_summary(metrics, config)]
