"""`rmops promote`, `rmops rollback`, `rmops models`, `rmops serve`: the model registry from the
command line, and the champion as an HTTP reward endpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestration import settings
from orchestration.cli.common import JsonOption, emit, fail, port_free, registry_errors


def registry_config():
    """The RegistryConfig of this environment (tracking URI, model name, handoff folder)."""
    from rm_pipeline.tracking import RegistryConfig

    home = settings.rmops_home()
    return RegistryConfig(
        tracking_uri=settings.mlflow_tracking_uri(home),
        model_name=settings.registered_model_name(),
        artifact_location=settings.mlflow_artifact_root(home),
        handoff_dir=str(home / "handoff"),
    )


def _promotion_text(result) -> str:
    if not result.changed:
        return f"version {result.version} is already champion of '{result.model_name}'"
    verb = "promoted" if result.action == "promote" else "rolled back to"
    before = result.previous_champion or "none"
    return (
        f"{verb} version {result.version} of '{result.model_name}' (champion before: {before})"
        + (f"\nhandoff: {result.handoff_path}" if result.handoff_path else "")
    )


ExpectChampionOption = Annotated[
    str | None,
    typer.Option(
        help="Refuse unless this version (or 'none') is champion now; default: current one. "
        "Pass the champion you saw so that a retry cannot act on a newer one."
    ),
]


def _expected(expect_champion: str | None):
    """The `expected_champion` argument of promote/rollback for an --expect-champion value."""
    from rm_pipeline.registry import CURRENT_CHAMPION

    if expect_champion is None:
        return CURRENT_CHAMPION
    return None if expect_champion.strip().lower() == "none" else expect_champion


def promote_command(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (tagged on the version).")] = "manual promotion",
    expect_champion: ExpectChampionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make VERSION the champion (only if it passed the golden gate)."""
    from rm_pipeline.promotion import promote
    from rm_pipeline.registry import PromotionRefused

    try:
        with registry_errors():
            result = promote(registry_config(), version, _expected(expect_champion), reason)
    except (PromotionRefused, ValueError) as err:
        raise fail(str(err)) from err
    emit(result, as_json, _promotion_text(result))


def rollback_command(
    reason: Annotated[str, typer.Option(help="Why the champion is rolled back (required).")],
    expect_champion: ExpectChampionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the previous champion the champion again."""
    from rm_pipeline.promotion import rollback
    from rm_pipeline.registry import PromotionRefused

    try:
        with registry_errors():
            result = rollback(registry_config(), reason, _expected(expect_champion))
    except (PromotionRefused, ValueError) as err:
        raise fail(str(err)) from err
    emit(result, as_json, _promotion_text(result))


def models_command(as_json: JsonOption = False) -> None:
    """List model versions with their aliases, gate verdicts and golden accuracy."""
    from rm_pipeline.registry import list_models

    config = registry_config()
    with registry_errors():
        rows = list_models(config)
    lines = [f"{'version':>7}  {'verdict':<7}  {'accuracy':>8}  {'dataset':<10}  aliases"]
    for row in rows:
        acc = "-" if row.golden_accuracy is None else f"{row.golden_accuracy:.4f}"
        lines.append(
            f"{row.version:>7}  {row.gate_verdict:<7}  {acc:>8}  "
            f"{row.dataset_version or '-':<10}  {', '.join(row.aliases) or '-'}"
        )
    if not rows:
        lines = [f"no versions of '{config.model_name}' registered yet"]
    emit({"model_name": config.model_name, "versions": rows}, as_json, "\n".join(lines))


def serve_command(
    model: Annotated[
        str | None,
        typer.Option(help="Model URI to serve; default: the current champion, by version."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the endpoint.")] = 5001,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 1,
    follow_champion: Annotated[
        bool,
        typer.Option(
            "--follow-champion",
            help="Serve whichever version `champion` points at, checked every --poll-seconds "
            "(a promotion or rollback swaps the model without a restart); answers name the "
            "version in X-Reward-Model-Version. Default: the version found at start.",
        ),
    ] = False,
    poll_seconds: Annotated[
        float, typer.Option(min=0.5, help="How often --follow-champion checks the alias.")
    ] = 30.0,
) -> None:
    """Serve a reward model over HTTP with MLflow's scoring server (for a PPO job that wants a
    remote reward model): POST /invocations {"dataframe_records": [{"prompt", "response"}]}
    answers {"predictions": [{"reward", "reward_normalized"}]}, scored as training scored."""
    config = registry_config()
    if follow_champion and (model is not None or workers > 1):
        flag = "--model" if model is not None else "--workers"
        raise fail(f"{flag}: --follow-champion serves the champion from one process; "
                   "drop --follow-champion to pin a model or run several workers")  # fmt: skip
    if model is None and not follow_champion:
        from rm_pipeline.registry import current_champion

        with registry_errors():
            version = current_champion(config)
        if version is None:
            raise fail(f"no champion of '{config.model_name}' yet: promote one or pass --model")
        model = f"models:/{config.model_name}/{version}"  # pinned: one PPO run, one reward model
    if not port_free(port, host):
        raise fail(f"--port: port {port} on {host} is already in use; pick another")
    if follow_champion:
        _serve_following(config, host, port, poll_seconds)
    else:
        _serve_pinned(config, model, host, port, workers)


def _serve_pinned(config, model: str, host: str, port: int, workers: int) -> None:
    bindir = Path(sys.executable).parent
    mlflow = bindir / "mlflow"
    if not mlflow.is_file():
        raise fail("mlflow is not installed in this environment (run `make install`)")
    # MLflow execs `uvicorn` by name: this environment's bin comes first on PATH.
    path = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": config.tracking_uri, "PATH": path}
    typer.echo(f"serving {model} on http://{host}:{port}/invocations", err=True)
    command = [str(mlflow), "models", "serve", "-m", model, "--env-manager", "local",
               "--host", host, "--port", str(port), "--workers", str(workers)]  # fmt: skip
    os.execve(command[0], command, env)  # signals reach the server itself


def _serve_following(config, host: str, port: int, poll_seconds: float) -> None:
    from rm_pipeline.serving import serve_champion

    typer.echo(f"serving models:/{config.model_name}@champion (following the alias every "
               f"{poll_seconds:g} s) on http://{host}:{port}/invocations", err=True)  # fmt: skip
    try:
        serve_champion(config, host, port, poll_seconds)
    except LookupError as err:
        raise fail(f"{err}: promote one first") from None
    except Exception as err:  # noqa: BLE001 - the registry or the first load, named for the user
        # The tracking URI stays out of the message: it may carry a password.
        raise fail(f"could not serve the champion of '{config.model_name}': "
                   f"{type(err).__name__}: {err}") from None  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `rmops` app."""
    app.command("promote")(promote_command)
    app.command("rollback")(rollback_command)
    app.command("models")(models_command)
    app.command("serve")(serve_command)
