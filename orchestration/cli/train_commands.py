"""CLI: `rmops train`, `rmops score`, `rmops evaluate` over rm_pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli.common import JsonOption, emit, fail
from orchestration.settings import rmops_home
from rm_pipeline.fileio import atomic_write_text

ModelOption = Annotated[
    str,
    typer.Option(
        "--model", help="Exported reward-model folder, or a models:/ or runs:/ MLflow URI."
    ),
]


def _datasets_root() -> Path:
    return rmops_home() / "datasets" / "preferences"


def train(
    dataset: Annotated[
        str, typer.Option("--dataset", help="Dataset version (e.g. v000003) or 'latest'.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Run folder (default RMOPS_HOME/training/VERSION).")
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="Hugging Face id or folder.")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Exported model to warm-start from (e.g. the champion).")
    ] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N updates.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs per device per step.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per sequence.")] = None,
    lora: Annotated[bool | None, typer.Option("--lora/--full", help="LoRA or all weights.")] = None,
    checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations in the backward pass: less memory, same model.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue from the last checkpoint.")
    ] = True,
    progress: Annotated[bool, typer.Option("--progress/--quiet", help="Progress bar.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Train a reward model on a dataset snapshot and export it."""
    from feedback_ingest.snapshots import latest_version, load_snapshot
    from rm_pipeline.config import TrainConfig
    from rm_pipeline.train import train_reward_model

    root = _datasets_root()
    version = latest_version(root) if dataset == "latest" else dataset
    if version is None:
        raise fail(f"--dataset latest: no dataset versions under {root}")
    try:
        train_frame, val_frame = load_snapshot(root, version)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(f"--dataset: {exc}") from None
    overrides = {
        "backbone": backbone,
        "init_from": str(init_from) if init_from else None,
        "num_epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "per_device_batch_size": batch_size,
        "max_length": max_length,
        "use_lora": lora,
        "gradient_checkpointing": checkpointing,
        "seed": seed,
        "progress_bar": progress and not as_json,
    }
    try:
        config = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        run_dir = output or rmops_home() / "training" / version
        if run_dir.exists() and not run_dir.is_dir():
            raise fail(f"--output {run_dir}: is a file; name a folder")
        result = train_reward_model(config, train_frame, val_frame, run_dir, version, resume=resume)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # a backbone that is not there (offline: no hub download either)
        raise fail(f"{type(exc).__name__}: {exc}".splitlines()[0][:300]) from None
    m = result.metrics
    text = (
        f"trained on {version}: {m['pairs_trained']} pairs in {m['seconds']:.1f} s "
        f"({m['pairs_per_s']:.1f} pairs/s), {m['steps']} steps, "
        f"val accuracy {m.get('val_accuracy', float('nan')):.3f}\nexported to {result.export_dir}"
    )
    emit(result, as_json, text)


def _load_scorer(model: str, batch_size: int | None = None, max_batch_tokens: int | None = None):
    from orchestration.cli.common import registry_errors
    from orchestration.settings import mlflow_tracking_uri
    from rm_pipeline.handoff import load_reward_model
    from rm_pipeline.scoring import RewardScorer

    for name, value in (("--batch-size", batch_size), ("--batch-tokens", max_batch_tokens)):
        if value is not None and value < 1:
            raise fail(f"{name}: must be >= 1, got {value}")
    sizes = {"batch_size": batch_size, "max_batch_tokens": max_batch_tokens}
    try:
        if not model.startswith(("models:/", "runs:/")):
            return RewardScorer.load(Path(model), **sizes)
        with registry_errors():  # the download goes once loaded
            return load_reward_model(model, tracking_uri=mlflow_tracking_uri(), **sizes)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(f"--model: {exc}") from None


def _read_score_requests(path: Path) -> list[dict]:
    if not path.is_file():
        raise fail(f"--input: no such file {path}")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "prompt" not in row or "response" not in row:
            raise fail(f"{path}:{line_no}: expected an object with 'prompt' and 'response'")
        rows.append(row)
    return rows


def _write_jsonl_atomically(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def score(
    model: ModelOption,
    input_file: Annotated[
        Path, typer.Option("--input", help="JSONL of {prompt, response} objects.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Write the rows with rewards here (JSONL).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Most sequences per forward pass (default: by device).")
    ] = None,
    batch_tokens: Annotated[
        int | None,
        typer.Option(help="Most padded tokens per forward pass (default: by device)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score (prompt, response) rows: adds `reward` (raw) and `reward_normalized`."""
    rows = _read_score_requests(input_file)
    scorer = _load_scorer(model, batch_size, batch_tokens)
    try:
        raw, normalised = scorer.score_both(
            [r["prompt"] for r in rows], [r["response"] for r in rows]
        )
    except ValueError as exc:
        raise fail(f"--input: {exc}") from None
    scored = [
        {**row, "reward": float(a), "reward_normalized": float(b)}
        for row, a, b in zip(rows, raw, normalised, strict=True)
    ]
    summary = {
        "n": len(scored),
        "mean_reward": float(raw.mean()) if len(raw) else None,
        "mean_reward_normalized": float(normalised.mean()) if len(raw) else None,
        "model": str(model),
        "output": str(output) if output else None,
    }
    if output is not None:
        _write_jsonl_atomically(output, scored)
        emit(summary, as_json, f"scored {len(scored)} responses -> {output}")
    elif as_json:
        emit({**summary, "scores": scored}, True)
    else:
        typer.echo("\n".join(json.dumps(row) for row in scored))


def evaluate(
    model: ModelOption,
    pairs: Annotated[
        Path,
        typer.Option(help="JSONL(.gz) of {prompt, chosen, rejected} or HH {chosen, rejected}."),
    ],
    group_by: Annotated[
        str | None, typer.Option(help="Column for per-group accuracy (e.g. annotator_kind).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pairwise accuracy (ties count as wrong) and mean margin of a model on pairs."""
    from rm_pipeline.evaluate import evaluate_pairs
    from rm_pipeline.pairs_io import read_pairs_jsonl

    if not pairs.is_file():
        raise fail(f"--pairs: no such file {pairs}")
    try:
        frame = read_pairs_jsonl(pairs)
        result = evaluate_pairs(_load_scorer(model), frame, group_by)
    except ValueError as exc:
        raise fail(str(exc)) from None
    lines = [
        f"accuracy {result.accuracy:.3f} on {result.n} pairs ({result.ties} ties), "
        f"mean margin {result.mean_margin:.3f}"
    ]
    lines += [
        f"  {k}: accuracy {v['accuracy']:.3f} (n={v['n']})" for k, v in result.by_group.items()
    ]
    emit(result, as_json, "\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `rmops` app."""
    app.command("train")(train)
    app.command("score")(score)
    app.command("evaluate")(evaluate)
