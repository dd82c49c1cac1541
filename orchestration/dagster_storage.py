"""The embedded instance's SQLite storage, with pool slots claimed atomically.

Dagster 1.13's SQL event log claims a pool slot in two statements: it selects a free slot
`FOR UPDATE SKIP LOCKED`, then updates that slot by id. SQLite has no row locks and ignores
`FOR UPDATE`, so two processes can select the same free slot and both "claim" it: two training
steps then run at once in a pool of one (seen here as a flaky two-process test). The storage
below claims with one conditional UPDATE instead, which SQLite's single writer makes atomic.
Postgres at scale keeps the stock storage: its row locks make the two statements safe.
"""

from __future__ import annotations

import sqlalchemy as db
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._utils.concurrency import ConcurrencySlotStatus


class PoolSafeSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log whose pool-slot claim cannot hand one slot to two steps."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PoolSafeSqliteEventLogStorage:
        # The parent's names its own class: configured directly, this one would be lost.
        return cls(inst_data=inst_data, **config_value)

    def _claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str
    ) -> ConcurrencySlotStatus:
        slots = ConcurrencySlotsTable.c
        free = (
            db.select(slots.id)
            .where(
                slots.concurrency_key == concurrency_key,
                slots.step_key.is_(None),
                slots.deleted.is_(False),
            )
            .limit(1)
            .scalar_subquery()
        )
        # The slot must still be free when the write happens, not only when it was looked up.
        claim = (
            ConcurrencySlotsTable.update()
            .where(slots.id == free, slots.step_key.is_(None))
            .values(run_id=run_id, step_key=step_key)
        )
        with self.index_connection() as conn:
            claimed = conn.execute(claim).rowcount
        return ConcurrencySlotStatus.CLAIMED if claimed else ConcurrencySlotStatus.BLOCKED


class RmopsSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (same folders, same tables) with the pool-safe event log."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data=inst_data)
        # Same folder as the stock event log it replaces (its index is already initialised).
        self._event_log_storage = PoolSafeSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> RmopsSqliteStorage:
        # The parent's names DagsterSqliteStorage; its from_local (mkdir, then cls) does not.
        return cls.from_local(inst_data=inst_data, **config_value)
