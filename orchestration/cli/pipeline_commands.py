"""`rmops demo` (two cycles of the loop through Dagster) and `rmops ui` (Dagster + MLflow UIs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from orchestration import settings
from orchestration.cli.common import JsonOption, emit, fail, port_free


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
    mlflow_workers: Annotated[
        int, typer.Option(min=1, help="MLflow UI worker processes (one serves a local UI).")
    ] = 1,
) -> None:
    """Start the Dagster UI (with the daemon) and the MLflow UI on localhost; Ctrl-C stops both."""
    from orchestration.instance import ensure_dagster_home

    for option, port in (("--dagster-port", dagster_port), ("--mlflow-port", mlflow_port)):
        if not port_free(port):
            raise fail(f"{option}: port {port} on 127.0.0.1 is already in use; pick another")
    home = settings.rmops_home()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(ensure_dagster_home(home)), "RMOPS_HOME": str(home)}
    # MLflow's server otherwise starts six job-runner processes for GenAI jobs that rmops never
    # submits: ~170 MB and a whole `mlflow` import each, a third of the UI's start on 2 cores.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    bindir = Path(sys.executable).parent
    repo = Path(__file__).resolve().parents[2]
    dagster = [str(bindir / "dagster"), "dev", "-w", str(repo / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", str(dagster_port)]  # fmt: skip
    mlflow = [str(bindir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
              "--workers", str(mlflow_workers),
              "--backend-store-uri", settings.mlflow_tracking_uri(home),
              "--default-artifact-root", settings.mlflow_artifact_root(home)]  # fmt: skip
    if shutil.which(mlflow[0]) is None or shutil.which(dagster[0]) is None:
        raise fail("dagster or mlflow is not installed in this environment (run `make install`)")
    _interrupt_on_stop_signals()
    typer.echo(f"Starting the Dagster and MLflow UIs on RMOPS_HOME={home} ...")
    dagster_url, mlflow_url = f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{mlflow_port}"
    servers = {  # name: (process, URL, readiness probe path)
        "Dagster UI": (_spawn(dagster, repo, env), dagster_url, "/server_info"),
        "MLflow UI": (_spawn(mlflow, repo, env), mlflow_url, "/health"),
    }
    try:
        _announce_when_up(servers)
        typer.echo("Ctrl-C stops both.")
        while all(proc.poll() is None for proc, _, _ in servers.values()):
            time.sleep(1)
        name, proc = next((n, p) for n, (p, _, _) in servers.items() if p.poll() is not None)
        raise fail(f"{name} exited with code {proc.returncode}; stopping the other")
    except KeyboardInterrupt:
        typer.echo("Stopping the UIs ...")
    finally:
        _stop_groups([proc for proc, _, _ in servers.values()])


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt_on_stop_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP all stop both servers cleanly. Explicit, because a shell
    starts background jobs with SIGINT ignored (Python then never raises KeyboardInterrupt),
    and a plain SIGTERM would otherwise leave the servers running in their own sessions."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in _STOP_SIGNALS:
        signal.signal(sig, interrupt)


def _default_stop_signals() -> None:
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _spawn(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a server in its own process group, so that stopping it reaches all its children."""
    # A terminal's Ctrl-C goes to `rmops ui` alone, which then stops each group in order; the
    # servers get default signal dispositions, so that the graceful SIGINT stage reaches them.
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, start_new_session=True, preexec_fn=_default_stop_signals
    )


def _announce_when_up(servers: dict, wait_s: float = 180.0) -> None:
    """Print each URL once it answers (bounded wait); fail if a server exits while starting."""
    pending = dict(servers)
    deadline = time.monotonic() + wait_s
    while pending and time.monotonic() < deadline:
        for name, (proc, url, probe) in list(pending.items()):
            if proc.poll() is not None:
                raise fail(f"{name} exited with code {proc.returncode} while starting")
            if url_answers(url + probe):
                typer.echo(f"{name}: {url}")
                del pending[name]
        time.sleep(0.5)
    for name, (_, url, _) in pending.items():
        typer.echo(f"{name}: {url} (not answering after {wait_s:.0f} s; still starting?)")


def url_answers(url: str) -> bool:
    """The URL answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop_groups(procs: list[subprocess.Popen]) -> None:
    """Stop the servers' whole process groups together: Ctrl-C first, then SIGTERM, then
    SIGKILL, each with a grace period that ends as soon as every group is gone."""
    # `dagster dev` can stay up for minutes after SIGTERM while a run it launched winds down,
    # and its webserver, daemon and code servers outlive it unless the whole group is signalled.
    for sig, grace_s in ((signal.SIGINT, 20.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        alive = [proc for proc in procs if _group_alive(proc)]
        if not alive:
            return
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_group_alive(proc) for proc in alive):
            time.sleep(0.2)


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader, else it stays a zombie member of its group
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def register(app: typer.Typer) -> None:
    """Add `demo` and `ui` to the `rmops` app."""
    app.command("demo")(demo_command)
    app.command("ui")(ui_command)
