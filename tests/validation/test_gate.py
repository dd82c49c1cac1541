"""The golden gate: statistics on known cases, and each promotion rule blocking on its own."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from validation_helpers import ConstantScorer, LengthScorer, LookupScorer, make_golden

from validation.gate import GateConfig, evaluate_candidate, golden_frame_hash

FAST = GateConfig(n_bootstrap=400)


def wrong_share(golden, share, seed=0, category=None):
    """Indices of a random `share` of pairs (optionally only in one category)."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(golden))
    if category is not None:
        pool = pool[golden["category"].to_numpy() == category]
    return set(rng.choice(pool, size=round(share * len(pool)), replace=False).tolist())


def test_perfect_candidate_without_champion_passes_with_a_summary(golden, tmp_path):
    verdict = evaluate_candidate(LookupScorer(golden), None, golden, FAST, output_dir=tmp_path)
    overall = verdict.metrics["candidate"]["overall"]
    assert verdict.passed, verdict.reasons
    assert (overall["accuracy"], overall["ci_low"], overall["ci_high"]) == (1.0, 1.0, 1.0)
    assert verdict.reasons[0].startswith("passed:") and "no champion" in verdict.reasons[0]
    assert set(verdict.metrics["candidate"]) == {"overall", "helpful", "harmless"}
    assert verdict.golden_hash == golden_frame_hash(golden)
    png = tmp_path / "reliability.png"
    assert verdict.reliability_plot == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["passed"] is True and saved["golden_hash"] == verdict.golden_hash


def test_accuracy_interval_is_sane_on_a_known_accuracy(golden):
    wrong = wrong_share(golden, 0.2)
    verdict = evaluate_candidate(LookupScorer(golden, wrong), None, golden, FAST)
    m = verdict.metrics["candidate"]["overall"]
    assert m["accuracy"] == pytest.approx(0.8)
    # binomial standard error on 240 pairs is ~0.026: the 95% interval spans about +-0.05
    assert 0.74 < m["ci_low"] < 0.78 and 0.82 < m["ci_high"] < 0.86


def test_scorer_is_called_once_with_unique_texts(golden):
    doubled = golden.iloc[list(range(len(golden))) * 2]  # every pair twice
    scorer = LookupScorer(golden)
    evaluate_candidate(scorer, None, doubled, FAST)
    assert scorer.calls == 1


def test_worse_candidate_is_rejected_and_better_one_accepted(golden):
    champion = LookupScorer(golden, wrong_share(golden, 0.2, seed=1))
    worse = LookupScorer(golden, wrong_share(golden, 0.35, seed=2))
    rejected = evaluate_candidate(worse, champion, golden, FAST)
    assert not rejected.passed
    assert any("overall: accuracy vs champion" in r for r in rejected.reasons), rejected.reasons
    diff = rejected.metrics["comparison"]["overall"]
    assert diff["ci_high"] < 0 and diff["ci_low"] < diff["accuracy_diff"] < diff["ci_high"]

    better = LookupScorer(golden, wrong_share(golden, 0.05, seed=3))
    accepted = evaluate_candidate(better, champion, golden, FAST)
    assert accepted.passed, accepted.reasons
    assert accepted.metrics["comparison"]["overall"]["ci_low"] > 0


def test_identical_candidate_has_a_zero_width_paired_interval(golden):
    scorer = LookupScorer(golden, wrong_share(golden, 0.2))
    verdict = evaluate_candidate(scorer, scorer, golden, FAST)
    c = verdict.metrics["comparison"]["overall"]
    assert (c["accuracy_diff"], c["ci_low"], c["ci_high"]) == (0.0, 0.0, 0.0)
    assert verdict.passed


def test_length_hacking_candidate_is_blocked_by_probes():
    golden = make_golden(chosen_longer_share=0.75)  # longer is usually right here
    verdict = evaluate_candidate(LengthScorer(), None, golden, FAST)
    m = verdict.metrics["candidate"]["overall"]
    assert m["accuracy"] >= FAST.accuracy_floor  # accuracy alone would let it through
    assert not verdict.passed
    assert any("probe 'padding'" in r for r in verdict.reasons)
    assert any("probe 'flattery'" in r for r in verdict.reasons)
    assert m["probe_rates"]["padding"] == 1.0
    assert m["probe_rates"]["truncation"] == 0.0
    assert m["longer_preferred_share"] == 1.0 and m["reward_length_corr"] > 0.99
    assert verdict.metrics["golden"]["longer_wins_accuracy"]["overall"] == pytest.approx(0.75)


def test_regression_hidden_in_one_slice_blocks(golden):
    champion = LookupScorer(golden, wrong_share(golden, 0.2, seed=1))
    # better than chance overall, but below chance on harmless
    bad_harmless = wrong_share(golden, 0.6, seed=4, category="harmless")
    candidate = LookupScorer(golden, bad_harmless)
    verdict = evaluate_candidate(candidate, champion, golden, FAST)
    assert verdict.metrics["candidate"]["overall"]["accuracy"] >= 0.7
    assert not verdict.passed
    assert any("slice 'harmless'" in r and "slice floor" in r for r in verdict.reasons)
    assert any("slice 'harmless': accuracy vs champion" in r for r in verdict.reasons)
    assert not any("helpful" in r for r in verdict.reasons)


def test_small_slices_are_reported_but_do_not_block(golden):
    config = GateConfig(n_bootstrap=400, min_slice_pairs=500)
    bad_harmless = wrong_share(golden, 0.6, seed=4, category="harmless")
    verdict = evaluate_candidate(LookupScorer(golden, bad_harmless), None, golden, config)
    assert verdict.metrics["candidate"]["harmless"]["accuracy"] < 0.5
    assert verdict.passed, verdict.reasons


def test_below_floor_and_non_finite_rewards_fail_with_reasons(golden):
    constant = evaluate_candidate(ConstantScorer(0.0), None, golden, FAST)
    assert constant.metrics["candidate"]["overall"]["accuracy"] == 0.5
    assert any("below the floor 0.55" in r for r in constant.reasons)
    broken = evaluate_candidate(ConstantScorer(math.nan), None, golden, FAST)
    assert not broken.passed
    assert any("non-finite" in r for r in broken.reasons)


def test_bad_golden_and_config_name_the_problem(golden):
    with pytest.raises(ValueError, match="missing column 'chosen'"):
        evaluate_candidate(ConstantScorer(), None, golden.drop(columns="chosen"), FAST)
    with pytest.raises(ValueError, match="accuracy_floor"):
        GateConfig(accuracy_floor=1.5)
    with pytest.raises(ValueError, match="unknown probe"):
        GateConfig(probe_limits={"shouting": 0.1})


def test_a_category_named_overall_is_refused(golden):
    # it used to replace the all-pairs metrics: a model wrong on the other half passed
    golden.loc[golden["category"] == "harmless", "category"] = "overall"
    bad = LookupScorer(golden, wrong=set(range(120)))
    with pytest.raises(ValueError, match="column 'category' names 120 pair\\(s\\) 'overall'"):
        evaluate_candidate(bad, None, golden, FAST)


def test_a_partial_probe_limits_keeps_the_other_probes_on():
    # {"truncation": 0.3} used to replace the defaults: flattery and padding went unchecked
    config = GateConfig(n_bootstrap=400, probe_limits={"truncation": 0.3})
    assert config.probe_limits == {"flattery": 0.5, "padding": 0.5, "truncation": 0.3}
    golden = make_golden(chosen_longer_share=0.75)
    verdict = evaluate_candidate(LengthScorer(), None, golden, config)
    assert not verdict.passed
    assert any("probe 'padding'" in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probe_limits": {"padding": math.nan}}, r"probe_limits\['padding'\]: must be"),
        ({"probe_limits": {"flattery": 1.5}}, r"probe_limits\['flattery'\]: must be"),
        ({"probe_limits": ["padding"]}, "probe_limits: expected a mapping"),
        ({"probe_min_rise": math.nan}, "invalid value for probe_min_rise"),
        ({"probe_min_rise": -0.1}, "invalid value for probe_min_rise"),
        ({"slice_accuracy_floor": 1.5}, "invalid value for slice_accuracy_floor"),
        ({"slice_accuracy_floor": math.nan}, "invalid value for slice_accuracy_floor"),
        ({"n_calibration_bins": 0}, "invalid value for n_calibration_bins"),
        ({"seed": -1}, r"invalid value for seed \(must be an integer >= 0, got -1\)"),
        ({"champion_tolerance": math.inf}, "invalid value for champion_tolerance"),
        ({"n_bootstrap": 100.5}, "invalid value for n_bootstrap"),
    ],
)
def test_config_values_that_would_switch_a_rule_off_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GateConfig(**kwargs)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf, on purpose
def test_a_champion_with_non_finite_rewards_is_not_compared(golden):
    # a NaN champion used to fail every candidate, so it could never be replaced
    verdict = evaluate_candidate(LookupScorer(golden), ConstantScorer(math.nan), golden, FAST)
    assert verdict.passed, verdict.reasons
    assert "champion not compared" in verdict.reasons[0]
    assert verdict.reasons[1].startswith("champion comparison skipped")
    assert "champion gave 480 non-finite rewards (overall)" in verdict.reasons[1]
    # the floors still decide: a bad candidate fails, with the warning beside its reasons
    bad = evaluate_candidate(ConstantScorer(0.0), ConstantScorer(math.inf), golden, FAST)
    assert not bad.passed
    assert any("below the floor" in r for r in bad.reasons)
    assert any(r.startswith("champion comparison skipped") for r in bad.reasons)
    assert not any("accuracy vs champion" in r for r in bad.reasons)


def test_a_golden_set_below_min_golden_pairs_fails(golden):
    one = golden.iloc[:1]  # one pair used to pass with accuracy 1.0 [1.0, 1.0]
    verdict = evaluate_candidate(LookupScorer(one), None, one, FAST)
    assert not verdict.passed
    assert verdict.reasons == ["golden set has 1 pair(s), fewer than min_golden_pairs 50"]
    assert verdict.metrics["candidate"]["overall"]["accuracy"] == 1.0  # still reported
    small = GateConfig(n_bootstrap=400, min_golden_pairs=1)
    assert evaluate_candidate(LookupScorer(one), None, one, small).passed
    with pytest.raises(ValueError, match="invalid value for min_golden_pairs"):
        GateConfig(min_golden_pairs=0)
