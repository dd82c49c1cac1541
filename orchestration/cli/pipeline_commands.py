"""`rmops demo` (two cycles of the loop through Dagster) and `rmops ui` (Dagster + MLflow UIs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from orchestration import settings
from orchestration.cli.common import JsonOption, emit, fail


def demo_command(
    events: Annotated[int, typer.Option(help="Simulated events in cycle 1.")] = 800,
    drift_events: Annotated[int, typer.Option(help="Drifted events in cycle 2.")] = 250,
    backbone: Annotated[
        str | None, typer.Option(help="Backbone id or folder (default: bundled MiniLM).")
    ] = None,
    epochs: Annotated[float, typer.Option(help="Training epochs per cycle.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Run the continuous-training loop twice on simulated feedback (wipes a previous demo)."""
    from orchestration.demo import DemoSettings, run_demo
    from orchestration.demo_summary import summary_text

    demo = DemoSettings(events=events, drift_events=drift_events, backbone=backbone)
    demo.training["num_epochs"] = epochs
    echo = (lambda text: typer.echo(text, err=True)) if as_json else typer.echo
    try:
        summary = run_demo(settings.rmops_home(), demo, echo=echo)
    except ValueError as err:
        raise fail(str(err)) from err
    emit(summary, as_json, summary_text(summary))


def ui_command(
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
) -> None:
    """Start the Dagster UI (with the daemon) and the MLflow UI on localhost; Ctrl-C stops both."""
    from orchestration.instance import ensure_dagster_home

    home = settings.rmops_home()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(ensure_dagster_home(home)), "RMOPS_HOME": str(home)}
    bindir = Path(sys.executable).parent
    repo = Path(__file__).resolve().parents[2]
    dagster = [str(bindir / "dagster"), "dev", "-w", str(repo / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", str(dagster_port)]  # fmt: skip
    mlflow = [str(bindir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
              "--backend-store-uri", settings.mlflow_tracking_uri(home),
              "--default-artifact-root", settings.mlflow_artifact_root(home)]  # fmt: skip
    if shutil.which(mlflow[0]) is None or shutil.which(dagster[0]) is None:
        raise fail("dagster or mlflow is not installed in this environment (run `make install`)")
    procs = [subprocess.Popen(dagster, cwd=repo, env=env), subprocess.Popen(mlflow, env=env)]
    typer.echo(f"Dagster UI: http://127.0.0.1:{dagster_port}")
    typer.echo(f"MLflow UI:  http://127.0.0.1:{mlflow_port}")
    typer.echo("Ctrl-C stops both.")
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def register(app: typer.Typer) -> None:
    """Add `demo` and `ui` to the `rmops` app."""
    app.command("demo")(demo_command)
    app.command("ui")(ui_command)
