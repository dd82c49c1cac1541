"""`rmops validate-dataset`, `rmops gate`, `rmops drift`: the validation library from a shell.

Exit status: 0 when the check passed (no drift), 1 when it failed (drift), 2 on bad input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestration import settings
from orchestration.cli.common import JsonOption, emit, fail, input_errors

_VERSION = re.compile(r"^v\d{6}$")

GoldenOption = Annotated[
    list[Path] | None,
    typer.Option("--golden", help="Golden file (HH or pair JSONL, .gz ok); repeat for slices."),
]


def _datasets_root() -> Path:
    from feedback_ingest.config import IngestConfig

    return IngestConfig(home=settings.rmops_home()).datasets_root


def _run_dir(kind: str, output_dir: Path | None) -> Path:
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise fail(f"--output-dir {output_dir}: is a file; name a folder")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return output_dir or settings.rmops_home() / "validation" / kind / stamp


def load_scorer(model: str) -> Any:
    """A scorer for an exported folder or a `models:/` / `runs:/` URI (MLflow from settings)."""
    try:
        from rm_pipeline.handoff import load_reward_model
    except ImportError as exc:
        raise fail(f"cannot load reward models: rm_pipeline is unavailable ({exc})") from exc
    is_uri = model.startswith(("models:/", "runs:/"))
    if not is_uri and not Path(model).exists():
        raise fail(f"model {model!r}: no such folder (or use a models:/ URI)")
    try:
        return load_reward_model(model, tracking_uri=settings.mlflow_tracking_uri())
    except Exception as exc:  # any loading problem becomes one clear line, exit code 2
        raise fail(f"model {model!r}: {type(exc).__name__}: {exc}") from exc


def _load_golden(paths: list[Path]) -> tuple[Any, str]:
    from feedback_ingest.golden import golden_hash, load_golden

    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise fail(f"golden file(s) not found: {', '.join(missing)}")
    try:
        return load_golden(paths), golden_hash(paths)
    except (ValueError, OSError, EOFError) as exc:  # BadGzipFile is an OSError
        raise fail(f"golden: {exc}") from exc


def _responses(source: str) -> Any:
    """prompt/response rows from a file, or from a dataset version (both answers of each pair)."""
    import pandas as pd

    from validation.drift import read_responses

    if _VERSION.match(source) and not Path(source).exists():
        from feedback_ingest.snapshots import load_snapshot

        train, val = load_snapshot(_datasets_root(), source)
        pairs = pd.concat([train, val], ignore_index=True)
        return pd.concat(
            [pairs[["prompt", c]].rename(columns={c: "response"}) for c in ("chosen", "rejected")],
            ignore_index=True,
        )
    return read_responses(source)


def validate_dataset(
    version: Annotated[str, typer.Argument(help="Dataset version, e.g. v000003, or 'latest'.")],
    golden: GoldenOption = None,
    quarantined: Annotated[
        int | None, typer.Option(help="Quarantined events of this build (for the share check).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the data expectations on a dataset snapshot."""
    from feedback_ingest.golden import golden_prompt_hashes
    from validation.expectations import validate_snapshot

    if version == "latest":  # as `datasets show` and `train --dataset` take it
        from feedback_ingest.snapshots import latest_version

        version = latest_version(_datasets_root()) or ""
        if not version:
            raise fail("no dataset versions yet")
    for path in golden or []:
        if not path.is_file():
            raise fail(f"--golden {path}: not a file")
    if quarantined is not None and quarantined < 0:
        raise fail(f"--quarantined: must be >= 0, got {quarantined}")
    with input_errors():
        hashes = golden_prompt_hashes(golden) if golden else set()
        counts = {"quarantined": quarantined} if quarantined is not None else None
        result = validate_snapshot(
            _datasets_root(), version, golden_prompt_hashes=hashes, counts=counts
        )
    emit(result, as_json, result.summary())
    raise typer.Exit(0 if result.passed else 1)


def gate(
    candidate: Annotated[str, typer.Option(help="Candidate: exported folder or models:/ URI.")],
    golden: GoldenOption = None,
    champion: Annotated[str | None, typer.Option(help="Champion to compare against.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Where the plot and verdict go.")] = None,
    accuracy_floor: Annotated[float | None, typer.Option(help="Override the floor.")] = None,
    n_bootstrap: Annotated[int | None, typer.Option(help="Bootstrap resamples.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score candidate (and champion) on the golden set and decide on promotion."""
    from validation.gate import GateConfig, evaluate_candidate

    if not golden:
        raise fail("--golden: at least one golden file is required")
    frame, digest = _load_golden(golden)
    overrides = {"accuracy_floor": accuracy_floor, "n_bootstrap": n_bootstrap}
    try:
        config = GateConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise fail(str(exc)) from exc
    run_dir = _run_dir("gate", output_dir)
    cand = load_scorer(candidate)
    champ = load_scorer(champion) if champion else None
    with input_errors():
        verdict = evaluate_candidate(cand, champ, frame, config, run_dir, digest)
    emit(verdict, as_json, f"{verdict.summary()}\nplot: {verdict.reliability_plot}")
    raise typer.Exit(0 if verdict.passed else 1)


def drift(
    model: Annotated[str, typer.Option(help="Model that scores both samples (the champion).")],
    reference: Annotated[str, typer.Option(help="Reference JSONL/Parquet/CSV or version.")],
    current: Annotated[str, typer.Option(help="Current JSONL/Parquet/CSV or version.")],
    output_dir: Annotated[Path | None, typer.Option(help="Where the HTML report goes.")] = None,
    method: Annotated[
        str | None, typer.Option(help="Evidently drift method (default auto: by sample size).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Drift threshold (needs --method; default its own).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the model's rewards on current responses with those on the reference."""
    from validation.drift import DriftConfig, detect_drift, score_frame

    run_dir = _run_dir("drift", output_dir)
    with input_errors():
        overrides = {"method": method, "threshold": threshold}
        config = DriftConfig(**{k: v for k, v in overrides.items() if v is not None})
        ref_rows, cur_rows = _responses(reference), _responses(current)
    scorer = load_scorer(model)
    with input_errors():  # both sides scored by the same model here: comparable rewards
        result = detect_drift(
            score_frame(scorer, ref_rows), score_frame(scorer, cur_rows), config, run_dir
        )
    emit(result, as_json, f"{result.summary()}\nreport: {result.report_path}")
    raise typer.Exit(1 if result.drift_detected else 0)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `rmops` app."""
    app.command("validate-dataset")(validate_dataset)
    app.command("gate")(gate)
    app.command("drift")(drift)
