"""Drift detection with real Evidently: quiet on the same distribution, loud on a shift."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from validation.drift import DriftConfig, detect_drift, read_responses, score_frame

WORDS = [
    "the",
    "a",
    "tea",
    "rain",
    "chess",
    "bread",
    "river",
    "star",
    "music",
    "bird",
    "train",
    "map",
]


class WordyScorer:
    """Deterministic: reward grows with length and with the word 'great' (a flattery cue)."""

    def score_raw(self, prompts, responses):
        return np.array([0.01 * len(r) + 0.5 * r.count("great") for r in responses])


def traffic(n: int, seed: int, drift: bool = False) -> pd.DataFrame:
    """Production-like prompt/response rows; `drift` makes answers longer and flattering."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        n_words = rng.integers(8, 40) + (30 if drift else 0)
        response = " ".join(rng.choice(WORDS, size=n_words))
        if drift and rng.random() < 0.7:
            response += " What a great question, you are great!"
        rows.append({"prompt": f"Human: question {i} about {WORDS[i % 12]}?", "response": response})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return score_frame(WordyScorer(), traffic(600, seed=0))


def test_same_distribution_raises_no_drift(reference, tmp_path):
    current = score_frame(WordyScorer(), traffic(400, seed=1))
    result = detect_drift(reference, current, output_dir=tmp_path)
    assert not result.drift_detected, result.summary()
    assert set(result.columns) == {"reward", "response_length", "prompt_length"}
    assert not any(c["drifted"] for c in result.columns.values())
    reward = result.columns["reward"]  # 600 reference rows: Evidently's choice is K-S
    assert reward["method"] == "K-S p_value" and reward["score"] > reward["threshold"] == 0.05
    assert abs(result.mean_reward_shift) < 0.05
    html = tmp_path / "drift_report.html"
    assert result.report_path == str(html) and html.stat().st_size > 10_000
    json.dumps(result.to_dict())  # serialisable as it is


def test_shifted_traffic_is_detected(reference, tmp_path):
    current = score_frame(WordyScorer(), traffic(400, seed=2, drift=True))
    result = detect_drift(reference, current, output_dir=tmp_path)
    assert result.drift_detected
    reward = result.columns["reward"]
    assert reward == {**reward, "drifted": True, "method": "K-S p_value", "threshold": 0.05}
    assert reward["score"] < 1e-6 and result.columns["response_length"]["drifted"]
    assert not result.columns["prompt_length"]["drifted"]
    assert result.mean_reward_shift > 0.3
    assert result.reward_length_corr_ref > 0.9  # this scorer's reward tracks length
    assert "DRIFT" in result.summary()
    assert (tmp_path / "drift_report.html").exists()


def test_method_and_threshold_are_configurable(reference):
    current = score_frame(WordyScorer(), traffic(400, seed=1))
    loose = detect_drift(reference, current, DriftConfig(method="psi", threshold=5.0))
    assert loose.columns["reward"]["method"] == "psi" and not loose.drift_detected
    strict = detect_drift(reference, current, DriftConfig(method="wasserstein", threshold=1e-4))
    assert strict.drift_detected and strict.report_path is None
    assert strict.columns["reward"] == {**strict.columns["reward"], "method": "wasserstein"}
    with pytest.raises(ValueError, match="DriftConfig.threshold: name a method too"):
        DriftConfig(threshold=0.2)


def test_unchanged_traffic_in_small_windows_rarely_alarms():
    """Twenty pairs of 300-row samples of one distribution (a quiet hour's drift window): the
    default flags about 1 in 20 at most (a 0.05 p-value), where a normed Wasserstein distance
    at 0.1 flagged nearly half of them (small samples are far apart by chance)."""
    rng = np.random.default_rng(0)

    def sample():
        return pd.DataFrame({"reward": rng.normal(0, 1, 300), "response_length": 100})

    config = DriftConfig(columns=("reward",))
    alarms = sum(detect_drift(sample(), sample(), config).drift_detected for _ in range(20))
    assert alarms <= 2, alarms


def test_too_little_traffic_skips_and_bad_input_names_the_column(reference):
    tiny = score_frame(WordyScorer(), traffic(5, seed=3))
    result = detect_drift(reference, tiny)
    assert not result.drift_detected and "need 30" in result.skipped_reason
    with pytest.raises(ValueError, match=r"current: missing column\(s\) \['reward'\]"):
        detect_drift(reference, traffic(50, seed=3))
    with pytest.raises(ValueError, match="trigger_columns"):
        DriftConfig(columns=("reward",), trigger_columns=("response_length",))


def test_missing_or_boolean_values_name_the_column(reference):
    current = score_frame(WordyScorer(), traffic(400, seed=1))
    current["reward"] = current["reward"].astype("Float64")
    current.loc[:199, "reward"] = pd.NA  # half the rewards missing passed as 'no drift'
    with pytest.raises(
        ValueError, match=r"current: non-numeric or non-finite values in \['reward'\]"
    ):
        detect_drift(reference, current)
    flags = score_frame(WordyScorer(), traffic(400, seed=1))
    flags["reward"] = flags["reward"] > 0.3
    with pytest.raises(ValueError, match=r"current: boolean values in \['reward'\]"):
        detect_drift(reference, flags)
    flags["reward"] = flags["reward"].astype(object)
    with pytest.raises(ValueError, match=r"current: boolean values in \['reward'\]"):
        detect_drift(reference, flags)


def test_read_responses_formats(tmp_path):
    frame = traffic(3, seed=4)
    frame.to_json(tmp_path / "r.jsonl", orient="records", lines=True)
    assert read_responses(tmp_path / "r.jsonl").equals(frame)
    frame[["prompt"]].to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="missing column"):
        read_responses(tmp_path / "bad.csv")


def simulator_traffic(n_events: int, seed: int, drift: bool) -> pd.DataFrame:
    """prompt/response rows from the ingest simulator's events (invalid events skipped)."""
    from feedback_ingest.render import render_prompt
    from feedback_ingest.simulate import simulate_events

    rows = []
    for event in simulate_events(n_events, seed=seed, drift=drift):
        responses = event.get("responses")
        if not isinstance(responses, list):
            continue
        prompt = render_prompt(event["prompt"])
        rows += [{"prompt": prompt, "response": r["text"]} for r in responses if r["text"].strip()]
    return pd.DataFrame(rows)


def test_simulator_drift_traffic_alerts_and_normal_traffic_does_not(tmp_path):
    from validation.alerts import DriftEpisodes, JsonlSink, notify_drift

    scorer, state = WordyScorer(), tmp_path / "episodes.json"
    sinks = [JsonlSink(tmp_path / "alerts.jsonl")]
    reference = score_frame(scorer, simulator_traffic(800, seed=0, drift=False))
    normal = detect_drift(reference, score_frame(scorer, simulator_traffic(800, 1, False)))
    drifted = detect_drift(
        reference, score_frame(scorer, simulator_traffic(800, 2, True)), output_dir=tmp_path
    )
    assert not normal.drift_detected, normal.summary()
    assert drifted.drift_detected and drifted.mean_reward_shift > 0, drifted.summary()
    assert Path(drifted.report_path).is_file()
    assert notify_drift(normal, DriftEpisodes(state), sinks) == []
    assert len(notify_drift(drifted, DriftEpisodes(state), sinks)) == 1
