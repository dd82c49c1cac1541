"""The traffic simulator: seeded, all event types, noise and malformed events, real drift."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.simulate import recent_responses, simulate_events, write_simulated


def test_seeded_and_varied():
    events = simulate_events(3000, seed=3)
    assert events == simulate_events(3000, seed=3)
    assert events != simulate_events(3000, seed=4)
    kinds = Counter(e.get("type") for e in events)
    assert kinds["pairwise"] > 1500 and kinds["ranking"] > 400 and kinds["rating"] > 400
    ties = sum(1 for e in events if e.get("preference", {}).get("tie"))
    assert 20 < ties < 300
    ids = Counter(e["event_id"] for e in events)
    assert 20 < sum(n - 1 for n in ids.values()) < 120  # repeated deliveries
    assert any(isinstance(e.get("prompt"), list) for e in events)


def test_latent_preference_is_followed_with_noise():
    """Polite, specific answers beat rude ones ~90% of the time (10% annotator noise)."""
    wins = contests = 0
    for e in simulate_events(6000, seed=1):
        pref, responses = e.get("preference"), e.get("responses") or []
        if e.get("type") != "pairwise" or "winner" not in (pref or {}) or len(responses) != 2:
            continue
        good = [r["id"] for r in responses if r["text"].startswith("Sure!")]
        rude = [r for r in responses if r["text"].startswith(("That is", "Why would"))]
        if good and rude:
            contests += 1
            wins += pref["winner"] == good[0]
    assert contests > 100 and 0.8 < wins / contests < 0.97


def test_drift_makes_policy_answers_longer(tmp_path):
    def mean_len(events):
        responses = [e["responses"] for e in events if isinstance(e.get("responses"), list)]
        lengths = [len(r["text"]) for rs in responses for r in rs if isinstance(r.get("text"), str)]
        return sum(lengths) / len(lengths)

    assert mean_len(simulate_events(500, drift=True)) > 2 * mean_len(simulate_events(500))


def test_written_traffic_has_a_small_malformed_share_and_recent_responses(tmp_path):
    config = IngestConfig(home=tmp_path)
    path = write_simulated(config, 2000, seed=7)
    assert path.parent == config.incoming_dir
    report = ingest_feedback(config)
    assert 0.01 < report.quarantined / report.read < 0.05
    assert {"malformed_json", "invalid_utf8"} <= set(report.quarantine_reasons)
    recent = recent_responses(config, limit=50)
    assert list(recent.columns) == ["prompt", "response", "timestamp", "event_id"]
    assert len(recent) == 50 and recent.timestamp.is_monotonic_decreasing
    newest = recent.timestamp.iloc[0].to_pydatetime()
    assert newest >= datetime(2026, 1, 8, tzinfo=UTC) + timedelta(seconds=1990)  # seed 7's last
