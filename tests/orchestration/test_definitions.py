"""The code location loads: `dagster definitions validate`, every job resolves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.definitions import build_definitions

REPO = Path(__file__).resolve().parents[2]


def test_definitions_validate_cli(tmp_path):
    env = {**os.environ, "RMOPS_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Validation successful" in out.stderr + out.stdout


def test_every_job_and_sensor_resolves(loop_resources):
    defs = build_definitions(loop_resources)
    for name in ("ingest_job", "training_job", "drift_job", "downstream_ppo_job"):
        assert defs.resolve_job_def(name).name == name
    sensors = {s.name for s in defs.sensors}
    assert sensors == {
        "feedback_volume_sensor",
        "reward_drift_sensor",
        "champion_change_sensor",
        "run_failure_alert_sensor",
        "dead_run_sensor",
    }
    assets = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert assets == {
        "feedback_events", "preference_dataset", "reward_model_candidate",
        "candidate_evaluation", "registered_reward_model", "ppo_handoff", "reward_drift_report",
    }  # fmt: skip


def test_quarantine_share_comes_from_the_environment_and_bad_values_are_named(
    tmp_path, monkeypatch
):
    from orchestration.definitions import build_resources

    assert build_resources(tmp_path)["rmops_home"].max_quarantine_share == 0.25
    monkeypatch.setenv("RMOPS_MAX_QUARANTINE_SHARE", "0.1")
    assert build_resources(tmp_path)["rmops_home"].max_quarantine_share == 0.1
    for bad in ("lots", "1.5", "nan", "-0.1"):
        monkeypatch.setenv("RMOPS_MAX_QUARANTINE_SHARE", bad)
        with pytest.raises(ValueError, match=r"RMOPS_MAX_QUARANTINE_SHARE: expected a number"):
            build_resources(tmp_path)
