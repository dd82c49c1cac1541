"""Atomic writes of the files other processes and other users read: the handoff record a PPO
job polls, the reward card, a run's state."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rm_pipeline.card import CARD_FILE, RewardCard
from rm_pipeline.fileio import atomic_write_text
from rm_pipeline.handoff import HandoffRecord, write_handoff


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_handoff_and_card_get_the_mode_of_a_plain_open(tmp_path, umask, mask, expected):
    # A PPO job running as another user reads latest.json: mkstemp's 0600 locked it out.
    umask(mask)
    record = HandoffRecord(
        model_uri="models:/rm/1",
        version="1",
        created_at="2026-01-01T00:00:00+00:00",
        model_name="rm",
        reward_mean=0.0,
        reward_std=1.0,
        dataset_version="v000001",
    )
    latest = write_handoff(record, tmp_path / "handoff")
    card = RewardCard(base_model="tiny", input_template={}, max_length=8).save(tmp_path)
    history = next((tmp_path / "handoff" / "history").glob("*.json"))
    assert card.name == CARD_FILE
    assert [_mode(p) for p in (latest, history, card)] == [expected] * 3


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "nested" / "state.json"
    atomic_write_text(target, '{"old": true}')
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "\ud800 lone surrogate")
    assert target.read_text() == '{"old": true}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
