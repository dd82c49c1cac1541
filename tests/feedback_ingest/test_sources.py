"""The landing folder as producers really use it: files replaced under their name, a line
still being written, a compressed or Parquet copy still in progress. Nothing may be skipped."""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
from fi_helpers import event, write_jsonl

from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.store import IngestState


def _ids(first: int, n: int) -> list[dict]:
    return [event(f"e{i}", prompt=f"Question {i}?") for i in range(first, first + n)]


def _stored(config: IngestConfig) -> int:
    with IngestState(config.state_dir) as state:
        return sum(n for _, _, n in state.parts())


def _counts(report) -> tuple[int, int, int, int]:
    return report.read, report.accepted, report.duplicate, report.quarantined


def test_a_file_rewritten_under_its_name_is_read_again_from_its_start(tmp_path):
    config = IngestConfig(home=tmp_path)
    path = write_jsonl(config.incoming_dir / "a.jsonl", _ids(0, 10))
    assert _counts(ingest_feedback(config)) == (10, 10, 0, 0)
    write_jsonl(path, _ids(100, 3))  # shorter than what was read
    report = ingest_feedback(config)
    assert _counts(report) == (3, 3, 0, 0) and report.reread_files == ["a.jsonl"]
    write_jsonl(path, _ids(200, 15))  # longer: its first bytes tell it apart
    assert _counts(ingest_feedback(config)) == (15, 15, 0, 0)
    write_jsonl(path, _ids(300, 2), append=True)  # the same file grown: only the new lines
    report = ingest_feedback(config)
    assert _counts(report) == (2, 2, 0, 0) and report.reread_files == []
    assert _stored(config) == 30


def test_a_rotated_file_and_its_successor_lose_nothing(tmp_path):
    config = IngestConfig(home=tmp_path)
    path = write_jsonl(config.incoming_dir / "events.jsonl", _ids(0, 5))
    ingest_feedback(config)
    write_jsonl(path, _ids(5, 2), append=True)  # written after the ingest, before the rotation
    os.rename(path, config.incoming_dir / "events-day1.jsonl")
    write_jsonl(path, _ids(7, 7))
    report = ingest_feedback(config)
    assert _counts(report) == (9, 9, 0, 0), report  # the rotated file read on, not again
    assert report.renamed_files == {"events-day1.jsonl": "events.jsonl"}
    assert report.reread_files == ["events.jsonl"]  # a new file under the old name
    assert _stored(config) == 14


def test_a_renamed_file_is_read_on_whatever_the_names_order(tmp_path):
    """The new file under the old name may be listed before the renamed one; a bad line
    quarantined once is not quarantined again under the new name."""
    config = IngestConfig(home=tmp_path)
    path = write_jsonl(config.incoming_dir / "a.jsonl", [*_ids(0, 3), b"{cut"])
    assert _counts(ingest_feedback(config)) == (4, 3, 0, 1)
    os.rename(path, config.incoming_dir / "z-old.jsonl")
    write_jsonl(path, _ids(10, 2))
    report = ingest_feedback(config)
    assert _counts(report) == (2, 2, 0, 0), report
    assert report.renamed_files == {"z-old.jsonl": "a.jsonl"}
    os.rename(config.incoming_dir / "z-old.jsonl", config.incoming_dir / "b.jsonl")
    write_jsonl(config.incoming_dir / "b.jsonl", _ids(20, 1), append=True)
    report = ingest_feedback(config)
    assert _counts(report) == (1, 1, 0, 0) and report.renamed_files == {"b.jsonl": "z-old.jsonl"}
    with IngestState(config.state_dir) as state:
        cursor = state.cursor(f"landing:{config.incoming_dir.resolve()}")
    assert sorted(cursor["files"]) == ["a.jsonl", "b.jsonl"]  # a name no file has is forgotten


def test_a_copy_is_not_a_rename(tmp_path):
    """Another file with the same bytes (a copy: another inode) is read, its events duplicates."""
    config = IngestConfig(home=tmp_path)
    path = write_jsonl(config.incoming_dir / "a.jsonl", _ids(0, 3))
    ingest_feedback(config)
    (config.incoming_dir / "copy.jsonl").write_bytes(path.read_bytes())
    report = ingest_feedback(config)
    assert _counts(report) == (3, 0, 3, 0) and report.renamed_files == {}


def test_a_parquet_file_replaced_under_its_name_is_read_again(tmp_path):
    config = IngestConfig(home=tmp_path)
    config.incoming_dir.mkdir(parents=True)

    def write(rows):
        flat = [{k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()} for r in rows]
        pq.write_table(pa.Table.from_pylist(flat), config.incoming_dir / "b.parquet")

    write(_ids(0, 5))
    assert _counts(ingest_feedback(config)) == (5, 5, 0, 0)
    write(_ids(0, 2) + _ids(50, 5))  # rows 0-1 seen before, then five new ones
    assert _counts(ingest_feedback(config)) == (7, 5, 2, 0)


def test_a_line_still_being_written_waits_for_its_newline(tmp_path):
    config = IngestConfig(home=tmp_path)
    lines = [json.dumps(e).encode() + b"\n" for e in _ids(0, 4)]
    path = config.incoming_dir / "a.jsonl"
    config.incoming_dir.mkdir(parents=True)
    path.write_bytes(lines[0] + lines[1] + lines[2][:40])
    report = ingest_feedback(config)
    assert _counts(report) == (2, 2, 0, 0) and report.waiting_bytes == {"a.jsonl": 40}
    with open(path, "ab") as handle:
        handle.write(lines[2][40:] + lines[3])
    report = ingest_feedback(config)
    assert _counts(report) == (2, 2, 0, 0) and report.waiting_bytes == {}
    assert _stored(config) == 4


def test_a_last_line_without_newline_is_taken_when_complete_or_left_alone(tmp_path):
    config = IngestConfig(home=tmp_path, partial_line_wait_s=60)
    config.incoming_dir.mkdir(parents=True)
    complete = config.incoming_dir / "a.jsonl"
    complete.write_bytes(json.dumps(event("e1")).encode())  # no newline, but whole
    cut = config.incoming_dir / "b.jsonl"
    cut.write_bytes(json.dumps(event("e2")).encode()[:30])
    old = time.time() - 120  # nobody wrote it for two minutes: judged as it is
    os.utime(cut, (old, old))
    report = ingest_feedback(config)
    assert _counts(report) == (2, 1, 0, 1) and report.quarantine_reasons == {"malformed_json": 1}


def _gzipped_lines(n: int) -> bytes:
    return gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in _ids(0, n)))


def test_a_truncated_gzip_keeps_every_line_before_the_cut_then_the_rest_once_whole(tmp_path):
    config = IngestConfig(home=tmp_path)
    config.incoming_dir.mkdir(parents=True)
    whole = _gzipped_lines(3000)
    cut = whole[: len(whole) * 3 // 4]
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut).count(b"\n")
    assert 1000 < readable < 3000
    path = config.incoming_dir / "a.jsonl.gz"
    path.write_bytes(cut)
    report = ingest_feedback(config)
    assert _counts(report) == (readable + 1, readable, 0, 1), report
    assert report.quarantine_reasons == {"unreadable_file": 1}
    assert _counts(ingest_feedback(config)) == (0, 0, 0, 0)  # quarantined once
    path.write_bytes(whole)  # the producer finished the file
    report = ingest_feedback(config)
    assert _counts(report) == (3000 - readable, 3000 - readable, 0, 0), report
    assert _stored(config) == 3000


def test_a_parquet_file_read_half_written_is_read_again_once_whole(tmp_path):
    config = IngestConfig(home=tmp_path)
    config.incoming_dir.mkdir(parents=True)
    path = config.incoming_dir / "b.parquet"
    flat = [{k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()}
            for r in _ids(0, 4)]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(flat), path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert ingest_feedback(config).quarantine_reasons == {"unreadable_file": 1}
    path.write_bytes(whole)
    assert _counts(ingest_feedback(config)) == (4, 4, 0, 0)


def _sql_events(url: str, ids: list[int], id_type: str = "INTEGER") -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS fb (id {id_type} PRIMARY KEY, "
                             "event_id TEXT, timestamp TEXT, type TEXT, prompt TEXT, "
                             "responses TEXT, preference TEXT, annotator TEXT)")  # fmt: skip
        for i in ids:
            e = event(f"q{i}")
            nested = [json.dumps(e[k]) for k in ("responses", "preference", "annotator")]
            values = (i, e["event_id"], e["timestamp"], e["type"], e["prompt"], *nested)
            conn.exec_driver_sql("INSERT INTO fb VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
    engine.dispose()


def test_a_sql_sources_key_holds_no_password_or_options():
    from feedback_ingest.sql_source import SqlSource

    source = SqlSource("postgresql+psycopg2://rmops:S3cr3t@db:5432/fb?sslmode=require&token=t0k",
                       "events")  # fmt: skip
    assert source.key == "sql:postgresql+psycopg2://rmops@db:5432/fb:events:id"


def test_a_cursor_stored_under_the_old_key_is_kept_and_the_old_key_forgotten(tmp_path):
    from feedback_ingest.sql_source import SqlSource

    url = f"sqlite:///{tmp_path / 'fb.db'}?timeout=30"
    _sql_events(url, [1, 2, 3])
    config = IngestConfig(home=tmp_path / "home")
    source = SqlSource(url, "fb")
    with IngestState(config.state_dir) as state:  # as rmops before the key lost its options
        state.commit_table(
            _empty(), source.legacy_key, {"watermark": {"kind": "plain", "value": 2}}
        )
    report = ingest_feedback(config, source)
    assert _counts(report) == (1, 1, 0, 0) and "timeout" not in report.source
    with IngestState(config.state_dir) as state:
        keys = [row[0] for row in state.db.execute("SELECT source FROM cursors")]
    assert keys == [source.key]


def _empty():
    from feedback_ingest.store import EVENT_SCHEMA

    return EVENT_SCHEMA.empty_table()


def test_a_numeric_watermark_column_is_read_past(tmp_path):
    from feedback_ingest.sql_source import SqlSource

    url = f"sqlite:///{tmp_path / 'fb.db'}"
    _sql_events(url, [1, 2], id_type="NUMERIC(20, 0)")
    config = IngestConfig(home=tmp_path / "home")
    first = ingest_feedback(config, SqlSource(url, "fb"))
    assert _counts(first) == (2, 2, 0, 0)
    assert first.cursor == {"watermark": {"kind": "decimal", "value": "2"}}
    _sql_events(url, [3])
    assert _counts(ingest_feedback(config, SqlSource(url, "fb"))) == (1, 1, 0, 0)


def test_a_hidden_file_is_a_copy_in_progress_and_not_read(tmp_path):
    config = IngestConfig(home=tmp_path)
    write_jsonl(config.incoming_dir / ".a.jsonl", _ids(0, 3))
    assert _counts(ingest_feedback(config)) == (0, 0, 0, 0)
    os.rename(config.incoming_dir / ".a.jsonl", config.incoming_dir / "a.jsonl")
    assert _counts(ingest_feedback(config)) == (3, 3, 0, 0)


def test_two_ingests_at_once_read_each_event_once(tmp_path, monkeypatch):
    """A scheduled ingest beside `rmops ingest`: the second waits for the first, then finds
    nothing new (before, both read and judged every event)."""
    import threading

    config = IngestConfig(home=tmp_path)
    write_jsonl(config.incoming_dir / "a.jsonl", _ids(0, 50))
    commit = IngestState.commit_table

    def slow_commit(self, *args):
        time.sleep(1.0)  # the first ingest is still busy when the second starts
        return commit(self, *args)

    monkeypatch.setattr(IngestState, "commit_table", slow_commit)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(ingest_feedback(config)))
               for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(30)
    assert sorted(r.read for r in reports) == [0, 50], reports
    assert _stored(config) == 50


def test_a_file_removed_while_the_folder_is_read_is_skipped(tmp_path, monkeypatch):
    from feedback_ingest.sources import LandingFolderSource

    config = IngestConfig(home=tmp_path)
    write_jsonl(config.incoming_dir / "a.jsonl", _ids(0, 2))
    gone = write_jsonl(config.incoming_dir / "b.jsonl", _ids(2, 2))
    listed = LandingFolderSource.files

    def list_then_remove(self):
        paths = listed(self)
        gone.unlink()  # a producer's clean-up between the listing and the read
        return paths

    monkeypatch.setattr(LandingFolderSource, "files", list_then_remove)
    assert _counts(ingest_feedback(config)) == (2, 2, 0, 0)


def test_what_the_folder_holds_but_does_not_read_is_named(tmp_path):
    """A subfolder, another suffix (.JSONL) and a broken link were skipped without a word."""
    config = IngestConfig(home=tmp_path)
    write_jsonl(config.incoming_dir / "a.jsonl", _ids(0, 1))
    write_jsonl(config.incoming_dir / "UPPER.JSONL", _ids(1, 1))
    write_jsonl(config.incoming_dir / "day1" / "b.jsonl", _ids(2, 1))
    (config.incoming_dir / "broken.jsonl").symlink_to(tmp_path / "gone.jsonl")
    write_jsonl(config.incoming_dir / ".c.jsonl", _ids(3, 1))  # hidden: a copy in progress
    report = ingest_feedback(config)
    assert _counts(report) == (1, 1, 0, 0)
    assert report.ignored_files == ["UPPER.JSONL", "broken.jsonl", "day1"]


def test_a_table_rows_text_prompt_that_looks_like_a_json_array_stays_text(tmp_path):
    """From JSONL these prompts are text; from a flat table only a list of messages is a chat."""
    config = IngestConfig(home=tmp_path)
    config.incoming_dir.mkdir(parents=True)
    texts = ["[1, 2, 3]", '["sort", "these"]', "[]"]
    chat = json.dumps([{"role": "user", "content": "Hi?"}])
    rows = [event(f"e{i}", prompt=p) for i, p in enumerate([*texts, chat])]
    flat = [{k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()} for r in rows]
    pq.write_table(pa.Table.from_pylist(flat), config.incoming_dir / "t.parquet")
    report = ingest_feedback(config)
    assert (report.accepted, report.quarantined) == (4, 0), report.quarantine_reasons
