"""CLI: `rmops ingest`, `rmops simulate`, `rmops quarantine`, `rmops datasets list|show` over
feedback_ingest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli.common import JsonOption, emit, fail
from orchestration.settings import rmops_home

datasets_app = typer.Typer(help="Versioned preference datasets.", no_args_is_help=True)

GoldenOption = Annotated[
    list[Path] | None,
    typer.Option("--golden", help="Golden file whose prompts are kept out of the dataset."),
]


def _config(golden: list[Path] | None = None):
    from feedback_ingest.config import IngestConfig

    return IngestConfig(home=rmops_home(), golden_paths=list(golden or []))


def _hh_to_landing(config, hh_file: Path) -> Path:
    """Replay an HH file as production feedback: its events land as one JSONL file."""
    from feedback_ingest.hh import hh_events
    from feedback_ingest.store import atomic_write_bytes

    lines = [json.dumps(e).encode() for e in hh_events(hh_file)]
    data = b"\n".join(lines) + b"\n"
    # Named by content too: the same file replayed lands nothing new, another file under the
    # same name (fixed, or from another folder) is not mistaken for it.
    name = hh_file.name.removesuffix(".gz").removesuffix(".jsonl")
    target = config.incoming_dir / f"hh-{name}-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    if not target.exists():
        config.incoming_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    return target


def _check_golden(paths: list[Path]) -> None:
    """Every golden file readable, before anything is ingested (a bad one found by the snapshot
    build would leave the events ingested and the next build without the exclusion)."""
    from feedback_ingest.golden import golden_prompt_hashes

    for path in paths:
        if not path.is_file():
            raise fail(f"--golden: no such file {path}")
        try:
            golden_prompt_hashes([path])
        except (ValueError, OSError, EOFError) as exc:  # BadGzipFile is an OSError
            raise fail(f"--golden {path}: {exc}") from None


def ingest(
    from_hh: Annotated[
        Path | None, typer.Option("--from-hh", help="HH-RLHF file (.jsonl/.jsonl.gz) to replay.")
    ] = None,
    sql_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of a feedback table.")] = None,
    sql_table: Annotated[str | None, typer.Option(help="Table of feedback events.")] = None,
    sql_watermark: Annotated[str, typer.Option(help="Monotonic watermark column.")] = "id",
    golden: GoldenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest new feedback events, then build a dataset snapshot if anything is new."""
    from feedback_ingest.build import build_snapshot
    from feedback_ingest.ingest import ingest_feedback
    from feedback_ingest.sql_source import SqlSource

    if bool(sql_url) != bool(sql_table):
        raise fail("--sql-url and --sql-table go together")
    if from_hh is not None and not from_hh.is_file():
        raise fail(f"--from-hh {from_hh}: not a file")
    _check_golden(list(golden or []))
    config = _config(golden)
    if from_hh is not None:
        try:
            _hh_to_landing(config, from_hh)
        except (ValueError, EOFError, OSError) as exc:  # UnicodeDecodeError is a ValueError
            raise fail(f"--from-hh: {exc}") from None
    try:
        source = SqlSource(sql_url, sql_table, sql_watermark) if sql_url else None
        report = ingest_feedback(config, source)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        if source is None or not type(exc).__module__.startswith("sqlalchemy"):
            raise
        # SQLAlchemy's messages name the statement, never the URL: safe to print
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise fail(f"SQL source {source.key}: {type(exc).__name__}: {first}") from None
    snapshot = build_snapshot(config)
    result = {"ingest": report.to_dict(), "snapshot": snapshot.to_dict()}
    state = "new version" if snapshot.created else "no new events; latest version"
    if len(snapshot.versions) > 1:  # a backlog past max_build_events
        state = f"new versions {', '.join(snapshot.versions[:-1])} and"
    text = (
        _file_notes(report)
        + f"read {report.read}: accepted {report.accepted}, duplicate {report.duplicate}, "
        f"quarantined {report.quarantined} {report.quarantine_reasons or ''}\n"
        f"{state} {snapshot.version}: {snapshot.counts.get('total', 0)} pairs "
        f"(train {snapshot.counts.get('train', 0)}, val {snapshot.counts.get('val', 0)})"
    )
    if snapshot.version is None:  # nothing landed yet
        text = text.rsplit("\n", 1)[0] + "\nno dataset version yet"
    emit(result, as_json, text)


def _file_notes(report) -> str:
    """Landing files read again, left waiting, or not read: one line each, when any."""
    notes = (
        ("read again (replaced under their name)", report.reread_files),
        ("read on after a rename", [f"{a} -> {b}" for b, a in report.renamed_files.items()]),
        ("waiting for a last line's newline", list(report.waiting_bytes)),
        ("not read (not .jsonl, .jsonl.gz or .parquet)", report.ignored_files),
    )
    return "".join(f"{what}: {', '.join(names)}\n" for what, names in notes if names)


def simulate(
    events: Annotated[int, typer.Option("--events", min=1, help="How many events to write.")],
    drift: Annotated[
        bool, typer.Option(help="Shift the policy: longer, flattering answers.")
    ] = False,
    seed: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Random seed (same seed, same events).")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Write simulated production feedback into the landing folder."""
    from feedback_ingest.simulate import write_simulated

    path = write_simulated(_config(), events, seed=seed, drift=drift)
    result = {"path": str(path), "events": events, "seed": seed, "drift": drift}
    emit(result, as_json, f"wrote {events} events to {path}")


@datasets_app.command("list")
def list_datasets(as_json: JsonOption = False) -> None:
    """List dataset versions with their pair counts."""
    from feedback_ingest.snapshots import list_versions, read_manifest

    root = _config().datasets_root
    rows = []
    for version in list_versions(root):
        try:
            manifest = read_manifest(root, version)
        except (ValueError, OSError) as exc:
            raise fail(f"{version}: {exc}") from None
        rows.append({"version": version, "parent": manifest["parent"],
                     "created_at": manifest["created_at"], **manifest["counts"]})  # fmt: skip
    lines = [
        f"{r['version']}  {r['created_at'][:19]}  pairs {r['total']} "
        f"(train {r['train']}, val {r['val']}, new {r['new_pairs']})"
        for r in rows
    ]
    emit({"versions": rows}, as_json, "\n".join(lines) or "no dataset versions yet")


@datasets_app.command("show")
def show_dataset(
    version: Annotated[str, typer.Argument(help="Version, e.g. v000001, or 'latest'.")],
    as_json: JsonOption = False,
) -> None:
    """Print one version's manifest (counts, watermark, file hashes)."""
    from feedback_ingest.snapshots import latest_version, read_manifest

    root = _config().datasets_root
    if version == "latest":
        version = latest_version(root) or ""
        if not version:
            raise fail("no dataset versions yet")
    try:
        manifest = read_manifest(root, version)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    emit(manifest, as_json)


def quarantine(
    reason: Annotated[str | None, typer.Option(help="Only show records of this reason.")] = None,
    limit: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="How many recent records to show.")
    ] = 10,
    export: Annotated[
        Path | None,
        typer.Option(help="Also write the events' exact bytes (of --reason), one per line, here."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Quarantined events: counts per reason and the most recent records (escaped previews).

    With --export, their bytes go to a JSONL file: fix it, then drop it into the landing folder
    to ingest the events again (ids already accepted count as duplicates).
    """
    from feedback_ingest.quarantine import Quarantine

    config = _config()
    store = Quarantine(config.quarantine_dir)
    summary = store.summary(reason, limit)
    if reason is not None and reason not in summary["by_reason"]:
        known = ", ".join(summary["by_reason"]) or "none yet"
        raise fail(f"--reason {reason}: no quarantined event has it (reasons: {known})")
    if export is not None:
        if export.is_dir() or not export.parent.is_dir():
            raise fail(f"--export {export}: name a file in an existing folder")
        if export.exists() or export.is_symlink():
            raise fail(f"--export {export}: exists; name a new file (nothing is overwritten)")
        if export.resolve().is_relative_to(config.quarantine_dir.resolve()):
            raise fail(f"--export {export}: is in the quarantine folder; write it elsewhere")
        if export.resolve().is_relative_to(config.incoming_dir.resolve()):
            # Unfixed, the events would be ingested and quarantined again (counted twice).
            raise fail(f"--export {export}: is in the landing folder; write it elsewhere, "
                       "fix the events, then move the file there")  # fmt: skip
        summary["export"] = store.export(export, reason)
    lines = [f"{summary['total']} quarantined events"]
    lines += [f"  {name}: {count}" for name, count in summary["by_reason"].items()]
    for r in summary["records"]:
        lines.append(f"{r['location']}  {r['reason']} at {r['field']}: {r['detail']}")
        lines.append(f"    {r['preview']}")
    if export is not None:
        done = summary["export"]
        left_out = {k: v for k, v in done.items() if k.startswith("left_out")}
        lines.append(f"exported {done['exported']} events to {done['path']} (left out: {left_out})")
    emit(summary, as_json, "\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `rmops` app."""
    app.command()(ingest)
    app.command()(simulate)
    app.command()(quarantine)
    app.add_typer(datasets_app, name="datasets")
