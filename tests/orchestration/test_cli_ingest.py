"""CLI: rmops ingest / simulate / datasets, in a temp RMOPS_HOME."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orchestration.cli import app

# The shared HH data beside the checkout (never copied into the repository).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hh-rlhf"

runner = CliRunner()


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulate_ingest_and_datasets(rmops_home):
    written = invoke("simulate", "--events", "300", "--seed", "2")
    assert written["events"] == 300 and written["path"].startswith(str(rmops_home))
    first = invoke("ingest")
    ing = first["ingest"]
    assert ing["read"] == 300 == ing["accepted"] + ing["duplicate"] + ing["quarantined"]
    assert first["snapshot"]["version"] == "v000001" and first["snapshot"]["created"]
    assert invoke("ingest")["snapshot"]["created"] is False
    listed = invoke("datasets", "list")["versions"]
    assert [v["version"] for v in listed] == ["v000001"] and listed[0]["total"] > 0
    shown = invoke("datasets", "show", "latest")
    assert (
        shown["counts"]["total"] == listed[0]["total"]
        and "train.parquet/part-v000001-000.parquet" in shown["files"]
    )
    text = runner.invoke(app, ["datasets", "list"])
    assert "v000001" in text.stdout


def test_ingest_from_hh_with_golden(rmops_home):
    pool = SHARED_DATA / "helpful-base-feedback-pool.jsonl.gz"
    golden = SHARED_DATA / "helpful-golden.jsonl.gz"
    result = invoke("ingest", "--from-hh", str(pool), "--golden", str(golden))
    assert result["ingest"]["read"] == 2003
    assert result["snapshot"]["counts"]["total"] > 1900
    assert invoke("ingest", "--from-hh", str(pool))["ingest"]["read"] == 0  # replay adds nothing


def test_a_broken_hh_file_is_refused_naming_the_line(rmops_home, tmp_path):
    good = json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "x"})
    bad = tmp_path / "broken.jsonl"
    bad.write_text(f"{good}\n[1, 2]\n")
    result = runner.invoke(app, ["ingest", "--from-hh", str(bad)])
    assert result.exit_code == 2 and "broken.jsonl line 2: a JSON list" in result.stderr
    bad.write_text(f"{good}\n{{not json\n")
    result = runner.invoke(app, ["ingest", "--from-hh", str(bad)])
    assert result.exit_code == 2 and "line 2: not JSON" in result.stderr
    assert not list((rmops_home / "feedback" / "incoming").glob("hh-*"))  # nothing landed


def test_errors_and_help(rmops_home):
    bad = runner.invoke(app, ["datasets", "show", "v9"])
    assert bad.exit_code == 2 and "look like v000001" in bad.stderr
    missing = runner.invoke(app, ["ingest", "--sql-url", "sqlite://"])
    assert missing.exit_code == 2 and "--sql-table" in missing.stderr
    for command in (
        ["ingest"],
        ["simulate"],
        ["quarantine"],
        ["datasets", "list"],
        ["datasets", "show"],
    ):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0


def test_quarantine_shows_counts_and_escaped_previews(rmops_home):
    incoming = rmops_home / "feedback" / "incoming"
    incoming.mkdir(parents=True)
    lines = [b'{"event_id": "x", "broken', b"\xff\xfe\x1b[31m", b'{"event_id": "\\u202e"}']
    (incoming / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    report = invoke("ingest")["ingest"]
    shown = invoke("quarantine")
    assert shown["total"] == report["quarantined"] == 3
    assert shown["by_reason"] == report["quarantine_reasons"]
    previews = [r["preview"] for r in shown["records"]]
    assert previews[1] == "\\xff\\xfe\\x1b[31m"  # no raw escape codes reach a terminal
    assert all(p.isprintable() for p in previews) and "raw_b64" not in shown["records"][0]
    one = invoke("quarantine", "--reason", "malformed_json", "--limit", "1")
    assert [r["reason"] for r in one["records"]] == ["malformed_json"]
    assert one["total"] == 3  # counts cover everything; the filter picks the records shown
    text = runner.invoke(app, ["quarantine"]).stdout
    assert "3 quarantined events" in text and "bad.jsonl@" in text


def test_quarantine_export_writes_the_bytes_for_a_redrive(rmops_home, tmp_path):
    incoming = rmops_home / "feedback" / "incoming"
    incoming.mkdir(parents=True)
    lines = [b'{"event_id": "x", "broken', b"\xff\xfe"]
    (incoming / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    invoke("ingest")
    out = tmp_path / "out.jsonl"
    shown = invoke("quarantine", "--reason", "invalid_utf8", "--export", str(out))
    assert shown["export"] == {"path": str(out), "exported": 1}
    assert out.read_bytes() == b"\xff\xfe\n"
    everything = tmp_path / "all.jsonl"
    text = runner.invoke(app, ["quarantine", "--export", str(everything)]).stdout
    assert f"exported 2 events to {everything}" in text
    assert everything.read_bytes() == b"\n".join(lines) + b"\n"
    (batch,) = (rmops_home / "quarantine").glob("batch-*.jsonl")
    kept = batch.read_bytes()
    cases = ((out, "exists; name a new file"), (batch, "exists; name a new file"),
             (batch.with_name("x.jsonl"), "is in the quarantine folder"))  # fmt: skip
    for where, message in cases:
        bad = runner.invoke(app, ["quarantine", "--export", str(where)])
        assert bad.exit_code == 2 and message in bad.stderr, bad.output
    assert out.read_bytes() == b"\xff\xfe\n" and batch.read_bytes() == kept  # nothing overwritten
    for where in (tmp_path, tmp_path / "no" / "such.jsonl"):
        bad = runner.invoke(app, ["quarantine", "--export", str(where)])
        assert bad.exit_code == 2 and "name a file in an existing folder" in bad.stderr
    landing = incoming / "again.jsonl"  # unfixed, it would quarantine them again
    bad = runner.invoke(app, ["quarantine", "--export", str(landing)])
    assert bad.exit_code == 2 and "is in the landing folder" in bad.stderr
    assert sorted(p.name for p in incoming.iterdir()) == ["bad.jsonl"]


def test_ingest_names_every_version_a_backlog_made(rmops_home, monkeypatch):
    from feedback_ingest.config import IngestConfig
    from orchestration.cli import ingest_commands

    def small_builds(golden=None):
        return IngestConfig(home=rmops_home, batch_size=100, max_build_events=150)

    monkeypatch.setattr(ingest_commands, "_config", small_builds)
    invoke("simulate", "--events", "300", "--seed", "4")  # 3 parts of < 100 accepted events
    text = runner.invoke(app, ["ingest"]).stdout
    assert "new versions v000001, v000002 and v000003: " in text
    listed = [v["version"] for v in invoke("datasets", "list")["versions"]]
    assert listed == ["v000001", "v000002", "v000003"]


def test_a_sql_table_that_does_not_exist_is_one_clear_error(rmops_home, tmp_path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    result = runner.invoke(app, ["ingest", "--sql-url", url, "--sql-table", "nosuch"])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.startswith("error: SQL source sql:sqlite:///") and "nosuch" in result.stderr
    )
    assert "Traceback" not in result.output


def test_a_bad_golden_file_is_refused_before_anything_is_ingested(rmops_home, tmp_path):
    invoke("simulate", "--events", "50")
    bad = tmp_path / "bad-golden.jsonl"
    bad.write_text("{not json\n")
    result = runner.invoke(app, ["ingest", "--golden", str(bad)])
    assert result.exit_code == 2 and f"--golden {bad}:" in result.stderr, result.output
    assert invoke("ingest")["ingest"]["read"] == 50  # the events were left for a good run


def test_from_hh_refuses_a_file_that_is_not_hh_and_tells_files_apart_by_content(
    rmops_home, tmp_path
):
    other = tmp_path / "pairs.jsonl"
    other.write_text('{"a": 1}\n')
    result = runner.invoke(app, ["ingest", "--from-hh", str(other)])
    assert result.exit_code == 2 and "line 1: 'chosen' missing (not HH-RLHF)" in result.stderr
    turn = "\n\nHuman: q{}\n\nAssistant: {}"
    lines = [json.dumps({"chosen": turn.format(i, f"yes {i}"), "rejected": turn.format(i, "no")})
             for i in range(4)]  # fmt: skip
    first, second = tmp_path / "a" / "hh.jsonl", tmp_path / "b" / "hh.jsonl"
    for path, rows in ((first, lines[:2]), (second, lines[2:])):
        path.parent.mkdir()
        path.write_text("\n".join(rows) + "\n")
    assert invoke("ingest", "--from-hh", str(first))["ingest"]["accepted"] == 2
    assert invoke("ingest", "--from-hh", str(second))["ingest"]["accepted"] == 2  # same name
    assert invoke("ingest", "--from-hh", str(first))["ingest"]["read"] == 0  # a replay


def test_out_of_range_options_and_a_broken_home_are_one_clear_error(rmops_home, monkeypatch):
    cases = ((["simulate", "--events", "3", "--seed", "3000000"], "--seed"),
             (["quarantine", "--limit", "99999999999999999999"], "--limit"))  # fmt: skip
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.output, result.output
    invoke("simulate", "--events", "20")
    invoke("ingest")
    (rmops_home / "datasets" / "preferences" / "v000001" / "manifest.json").write_text("{")
    broken = runner.invoke(app, ["datasets", "list"])
    assert broken.exit_code == 2 and broken.stderr.startswith("error: v000001: "), broken.output
    a_file = rmops_home / "not-a-folder"
    a_file.write_text("x")
    monkeypatch.setenv("RMOPS_HOME", str(a_file))
    result = runner.invoke(app, ["simulate", "--events", "3"])
    assert result.exit_code == 2 and "is a file; point it at a folder" in result.stderr


def test_ingest_names_the_landing_files_it_does_not_read(rmops_home):
    incoming = rmops_home / "feedback" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "events.JSONL").write_text("{}\n")
    text = runner.invoke(app, ["ingest"]).stdout
    assert "not read (not .jsonl, .jsonl.gz or .parquet): events.JSONL" in text
    (incoming / "events.jsonl").write_text("{}\n")
    runner.invoke(app, ["ingest"])
    (incoming / "events.jsonl").rename(incoming / "events-1.jsonl")
    text = runner.invoke(app, ["ingest"]).stdout
    assert "read on after a rename: events.jsonl -> events-1.jsonl" in text


def test_an_empty_home_and_an_unknown_reason_say_so(rmops_home):
    text = runner.invoke(app, ["ingest"]).stdout
    assert text.endswith("no dataset version yet\n") and "None" not in text
    result = runner.invoke(app, ["quarantine", "--reason", "nope"])
    assert result.exit_code == 2 and "--reason nope: no quarantined event has it" in result.stderr
