"""Compare-and-set promotion and rollback, the promotion lock and the PPO handoff, against a
real MLflow (SQLite; `store` in conftest.py, one per module, a model name per test).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rm_helpers import add_version, aliases

from rm_pipeline.handoff import read_latest_handoff
from rm_pipeline.promotion import promote, promotion_lock, rollback
from rm_pipeline.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    PromotionRefused,
    list_models,
    version_info,
)
from rm_pipeline.tracking import RegistryConfig, mlflow_client

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_failed_gate_version_can_never_become_champion(cfg, store):
    add_version(cfg, store, passed=False, reasons=["slice 'code' regressed"])
    with pytest.raises(PromotionRefused, match="gate_verdict='failed'") as err:
        promote(cfg, 1, expected_champion=None)
    assert err.value.code == "gate_failed"
    # Checked at promotion time: a version re-tagged after passing is refused too.
    add_version(cfg, store, passed=True)
    mlflow_client(cfg).set_model_version_tag(cfg.model_name, "2", "gate_verdict", "failed")
    with pytest.raises(PromotionRefused) as err:
        promote(cfg, 2)
    assert err.value.code == "gate_failed"
    assert CHAMPION not in aliases(cfg)
    with pytest.raises(PromotionRefused, match="no version 9"):
        promote(cfg, 9)
    with pytest.raises(ValueError, match="version"):
        promote(cfg, "latest")


def test_promote_moves_aliases_writes_handoff_and_is_idempotent(cfg, store):
    for accuracy in (0.7, 0.8):
        add_version(cfg, store, accuracy=accuracy)
    first = promote(cfg, "1", expected_champion=None, reason="bootstrap")
    assert first.action == "promote" and first.previous_champion is None
    second = promote(cfg, "2", reason="better on golden")  # default: expects the current one
    assert (second.version, second.previous_champion) == ("2", "1")
    assert aliases(cfg) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1", CHALLENGER: "2"}
    tags = version_info(cfg, 2).tags
    assert tags["promotion_reason"] == "better on golden" and tags["promoted_over"] == "1"

    record = read_latest_handoff(Path(cfg.handoff_dir))
    assert record.model_uri == f"models:/{cfg.model_name}/2" and record.previous_version == "1"
    assert (record.reward_mean, record.reward_std) == (0.25, 2.0)
    assert record.dataset_version == "v000007"
    assert len(list((Path(cfg.handoff_dir) / "history").glob("*.json"))) == 2

    again = promote(cfg, "2")
    assert again.action == "noop" and not again.changed and again.handoff_path is None
    assert aliases(cfg)[PREVIOUS_CHAMPION] == "1"  # a re-run does not shift the chain

    rows = list_models(cfg)
    assert [r.version for r in rows] == ["2", "1"]
    assert rows[0].aliases == [CHALLENGER, CHAMPION] and rows[0].golden_accuracy == 0.8
    assert rows[1].aliases == [PREVIOUS_CHAMPION] and rows[1].gate_verdict == "passed"


def test_retried_promotion_writes_the_handoff_an_earlier_attempt_failed_to_write(cfg, store):
    add_version(cfg, store)
    add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    history = Path(cfg.handoff_dir) / "history"
    shutil.move(history, history.with_name("history.kept"))
    history.write_text("a file where the history folder should be")
    with pytest.raises(OSError):  # the aliases have moved by then
        promote(cfg, "2", expected_champion="1", reason="better on golden")
    assert aliases(cfg)[CHAMPION] == "2"
    assert read_latest_handoff(Path(cfg.handoff_dir)).version == "1"

    history.unlink()
    retry = promote(cfg, "2", expected_champion="1", reason="better on golden")
    assert retry.action == "noop" and retry.handoff_path is not None
    record = read_latest_handoff(Path(cfg.handoff_dir))
    assert (record.version, record.previous_version, record.action) == ("2", "1", "promote")
    assert record.reason == "better on golden"
    assert record.created_at == version_info(cfg, 2).tags["promoted_at"]
    assert promote(cfg, "2").handoff_path is None  # written once: later retries leave it


def test_stale_expected_champion_is_refused(cfg, store):
    add_version(cfg, store)
    add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    with pytest.raises(PromotionRefused, match="expected champion none but it is 1") as err:
        promote(cfg, "2", expected_champion=None)
    assert err.value.code == "stale_champion"
    assert aliases(cfg)[CHAMPION] == "1"
    # A retry of the promotion that made "1" champion (same expectation) is a no-op, not stale.
    retry = promote(cfg, "1", expected_champion=None)
    assert retry.action == "noop" and retry.version == "1"


def test_rollback_walks_back_the_chain(cfg, store):
    for _ in range(3):
        add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    promote(cfg, "2")
    promote(cfg, "3")
    with pytest.raises(ValueError, match="reason"):
        rollback(cfg, " ")
    back = rollback(cfg, "reward hacking seen in PPO")
    assert (back.action, back.version, back.previous_champion) == ("rollback", "2", "3")
    assert aliases(cfg)[CHAMPION] == "2" and aliases(cfg)[PREVIOUS_CHAMPION] == "1"
    assert version_info(cfg, 3).tags["rollback_reason"] == "reward hacking seen in PPO"
    assert read_latest_handoff(Path(cfg.handoff_dir)).version == "2"
    assert rollback(cfg, "still bad").version == "1"
    assert PREVIOUS_CHAMPION not in aliases(cfg)
    with pytest.raises(PromotionRefused) as err:
        rollback(cfg, "nothing left")
    assert err.value.code == "no_previous_champion"


def test_retried_rollback_goes_back_one_step_and_writes_its_handoff(cfg, store):
    for _ in range(3):
        add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    promote(cfg, "2")
    promote(cfg, "3")
    latest = Path(cfg.handoff_dir) / "latest.json"
    latest.unlink()
    latest.mkdir()  # the handoff write fails after the aliases moved
    with pytest.raises(OSError):
        rollback(cfg, "v3 regressed", expected_champion="3")
    assert aliases(cfg)[CHAMPION] == "2"

    latest.rmdir()
    retry = rollback(cfg, "v3 regressed", expected_champion="3")
    assert (retry.action, retry.version, retry.previous_champion) == ("noop", "2", "3")
    assert aliases(cfg)[CHAMPION] == "2" and aliases(cfg)[PREVIOUS_CHAMPION] == "1"
    record = read_latest_handoff(Path(cfg.handoff_dir))
    assert (record.version, record.action, record.previous_version) == ("2", "rollback", "3")
    assert record.reason == "v3 regressed"
    # A second rollback that also saw 3 (concurrent, or retried again) does not go on to 1.
    assert rollback(cfg, "v3 regressed", expected_champion="3").handoff_path is None
    assert aliases(cfg)[CHAMPION] == "2"
    with pytest.raises(PromotionRefused, match="expected champion 1 but it is 2") as err:
        rollback(cfg, "wrong expectation", expected_champion="1")
    assert err.value.code == "stale_champion"


def test_promotion_waits_for_the_lock_and_refuses_on_timeout(cfg, store):
    add_version(cfg, store)
    impatient = dataclasses.replace(cfg, lock_timeout_s=0.3)
    with promotion_lock(cfg) as lock:
        assert lock.startswith("file lock")
        with pytest.raises(PromotionRefused) as err:
            promote(impatient, "1", expected_champion=None)
    assert err.value.code == "lock_timeout"
    assert promote(impatient, "1", expected_champion=None).version == "1"


RACER = """
import json, sys, time
from pathlib import Path
from rm_pipeline.promotion import promote
from rm_pipeline.registry import PromotionRefused
from rm_pipeline.tracking import RegistryConfig, mlflow_client
uri, name, version, go = sys.argv[1:5]
config = RegistryConfig(tracking_uri=uri, model_name=name)
mlflow_client(config).get_registered_model(name)  # warm up: imports and DB connection
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.01)
try:
    r = promote(config, version, expected_champion="1", reason="race " + version)
    print(json.dumps({"ok": True, "version": r.version, "previous": r.previous_champion}))
except PromotionRefused as err:
    print(json.dumps({"ok": False, "code": err.code, "message": str(err)}))
"""


@pytest.mark.slow
def test_two_processes_racing_leave_one_champion(cfg, store, tmp_path):
    for _ in range(3):
        add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, cfg.tracking_uri, cfg.model_name, v, str(go)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("2", "3")
    ]
    for proc in racers:  # both have imported MLflow and read the registry: start together
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    outcomes = []
    for proc in racers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0]["code"] == "stale_champion" and "expected champion 1" in losers[0]["message"]
    assert winners[0]["previous"] == "1"
    assert aliases(cfg)[CHAMPION] == winners[0]["version"]
    assert aliases(cfg)[PREVIOUS_CHAMPION] == "1"


def test_lock_target_follows_the_backend(tmp_path):
    from rm_pipeline.promotion import lock_target

    sqlite = RegistryConfig(tracking_uri=f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}")
    assert lock_target(sqlite) == str(tmp_path / "db" / "mlflow.db") + ".promotion.lock"
    pg = "postgresql://mlflow@db:5432/mlflow"
    assert lock_target(RegistryConfig(tracking_uri=pg)) == pg
    server = RegistryConfig(tracking_uri="http://mlflow:5000")
    assert lock_target(server) is None  # check-after-write only
    shared = dataclasses.replace(server, lock_url=str(tmp_path / "promote.lock"))
    assert lock_target(shared) == str(tmp_path / "promote.lock")
