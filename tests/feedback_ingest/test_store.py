"""The ingest state: what another process opening it may and may not remove."""

from __future__ import annotations

import json
import threading

from fi_helpers import event

from feedback_ingest.store import IngestState, events_table
from feedback_ingest.validate import Limits, parse_raw, validate_event


def _table(*ids: str):
    limits = Limits()
    raws = [json.dumps(event(i)).encode() for i in ids]
    return events_table([validate_event(parse_raw(raw, limits), limits) for raw in raws])


def test_opening_the_state_never_removes_a_live_writers_part(tmp_path, monkeypatch):
    """A writer that has written its part but not yet committed it: another opener (a snapshot
    build, the drift job) must wait for it, not remove the part as an orphan."""
    written, release = threading.Event(), threading.Event()
    write_part = IngestState._write_part

    def slow_write(self, table):
        write_part(self, table)
        written.set()
        assert release.wait(30)

    monkeypatch.setattr(IngestState, "_write_part", slow_write)

    def commit():
        with IngestState(tmp_path) as state:  # a connection of its own, as another process's
            state.commit_table(_table("e1"), "src", 1)

    with IngestState(tmp_path) as state:
        writer = threading.Thread(target=commit)
        writer.start()
        assert written.wait(30)
        opened = threading.Event()

        def open_state():
            IngestState(tmp_path).close()
            opened.set()

        opener = threading.Thread(target=open_state)
        opener.start()
        assert not opened.wait(1.0)  # it waits for the writer's transaction
        assert [p.name for p in (tmp_path / "events").glob("part-*")] == ["part-000000001.parquet"]
        release.set()
        writer.join(30)
        opener.join(30)
        assert opened.is_set()
        (part,) = state.parts()
        assert part[1].exists() and part[2] == 1


def test_a_dead_batchs_part_and_temporaries_are_removed_on_open(tmp_path):
    with IngestState(tmp_path) as state:
        state.commit_table(_table("e1"), "src", 1)
    events = tmp_path / "events"
    (events / "part-000000002.parquet").write_bytes(b"never committed")
    (events / ".part-000000003.parquet.tmp").write_bytes(b"cut")
    with IngestState(tmp_path) as state:
        assert [p[1].name for p in state.parts()] == ["part-000000001.parquet"]
    assert sorted(p.name for p in events.iterdir()) == ["part-000000001.parquet"]
