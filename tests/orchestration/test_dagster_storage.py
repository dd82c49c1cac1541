"""The embedded instance's storage: one free pool slot goes to one claimer, however the claims
interleave (orchestration/dagster_storage.py)."""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
from dagster._utils.concurrency import ConcurrencySlotStatus

from orchestration.dagster_storage import PoolSafeSqliteEventLogStorage
from orchestration.instance import _EARLIER_YAML, TRAINING_POOL, ensure_dagster_home


def test_the_embedded_instance_uses_the_pool_safe_storage(tmp_path):
    home = ensure_dagster_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.event_log_storage, PoolSafeSqliteEventLogStorage)
        assert (home / "storage" / "history" / "runs" / "index.db").exists()
    finally:
        instance.dispose()


def test_an_earlier_rmops_config_is_upgraded_and_a_hand_edited_one_kept(tmp_path, caplog):
    config = tmp_path / "dagster" / "dagster.yaml"
    config.parent.mkdir()
    base_dir = (config.parent / "storage").as_posix()
    config.write_text(_EARLIER_YAML.format(base_dir=base_dir))
    ensure_dagster_home(tmp_path)
    assert "RmopsSqliteStorage" in config.read_text()

    edited = _EARLIER_YAML.format(base_dir=base_dir) + "# my note\n"
    config.write_text(edited)
    with caplog.at_level(logging.WARNING, logger="orchestration.instance"):
        ensure_dagster_home(tmp_path)
    assert config.read_text() == edited
    assert "stock SQLite storage" in caplog.text  # kept, but the racy storage is named


def test_the_event_log_configured_alone_stays_pool_safe(tmp_path):
    storage = PoolSafeSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path)})
    assert type(storage) is PoolSafeSqliteEventLogStorage


def test_two_claims_that_saw_the_same_free_slot_cannot_both_win(tmp_path):
    home = str(ensure_dagster_home(tmp_path))
    instances = [dg.DagsterInstance.from_config(home) for _ in range(3)]
    storage = instances[0].event_log_storage
    try:
        assert storage.initialize_concurrency_limit_to_default(TRAINING_POOL)
        assert storage.get_concurrency_info(TRAINING_POOL).slot_count == 1
        # Hold SQLite's write lock so that both claimers look the free slot up before either
        # can write: the interleaving that lets a select-then-update claim win twice.
        lock = sqlite3.connect(storage.path_for_shard("index"), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(2) as pool:
            claims = [
                pool.submit(
                    inst.event_log_storage._claim_concurrency_slot, TRAINING_POOL, f"run-{n}", "t"
                )
                for n, inst in enumerate(instances[1:])
            ]
            time.sleep(1.0)
            lock.execute("COMMIT")
            lock.close()
            statuses = [claim.result(timeout=60) for claim in claims]
        assert sorted(s.value for s in statuses) == sorted(
            [ConcurrencySlotStatus.CLAIMED.value, ConcurrencySlotStatus.BLOCKED.value]
        )
        claimed = storage.get_concurrency_info(TRAINING_POOL).claimed_slots
        winner = statuses.index(ConcurrencySlotStatus.CLAIMED)
        assert [(s.run_id, s.step_key) for s in claimed] == [(f"run-{winner}", "t")]
    finally:
        for inst in instances:
            inst.dispose()


def test_dagsters_public_claim_goes_through_the_atomic_one(tmp_path, monkeypatch):
    # Were a Dagster upgrade to rename the private step, the override would be dead code.
    calls = []
    atomic = PoolSafeSqliteEventLogStorage._claim_concurrency_slot

    def spy(self, concurrency_key, run_id, step_key):
        calls.append((concurrency_key, run_id, step_key))
        return atomic(self, concurrency_key, run_id, step_key)

    monkeypatch.setattr(PoolSafeSqliteEventLogStorage, "_claim_concurrency_slot", spy)
    instance = dg.DagsterInstance.from_config(str(ensure_dagster_home(tmp_path)))
    storage = instance.event_log_storage
    try:
        storage.initialize_concurrency_limit_to_default(TRAINING_POOL)
        first = storage.claim_concurrency_slot(TRAINING_POOL, "run-a", "train")
        second = storage.claim_concurrency_slot(TRAINING_POOL, "run-b", "train")
        assert first.is_claimed and not second.is_claimed
        assert calls and calls[0] == (TRAINING_POOL, "run-a", "train")
        storage.free_concurrency_slot_for_step("run-a", "train")
        assert storage.claim_concurrency_slot(TRAINING_POOL, "run-b", "train").is_claimed
    finally:
        instance.dispose()
