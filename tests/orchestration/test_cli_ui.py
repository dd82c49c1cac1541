"""`rmops ui`: both servers come up on the given ports, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from ports import free_port, port_free
from typer.testing import CliRunner

from orchestration.cli import app

RMOPS = Path(sys.executable).parent / "rmops"


def _get(url: str, body: dict | None = None) -> bytes | None:
    data = json.dumps(body).encode() if body else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read() if response.status == 200 else None
    except OSError:
        return None


def test_ui_refuses_a_busy_port_naming_the_option(rmops_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["ui", "--dagster-port", str(port), "--mlflow-port", str(free_port())]
        )
    assert result.exit_code == 2
    assert f"--dagster-port: port {port}" in result.output
    assert not (rmops_home / "dagster").exists(), "nothing may start when a port is taken"


def _as_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to `cmd &`


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ui_serves_both_and_a_stop_signal_ends_every_process(rmops_home, tmp_path, stop):
    dagster_port, mlflow_port = free_port(), free_port()
    env = {**os.environ, "RMOPS_HOME": str(rmops_home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = tmp_path / "ui.log"
    cmd = [str(RMOPS), "ui", "--dagster-port", str(dagster_port), "--mlflow-port", str(mlflow_port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_as_background_job
        )
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops both." not in log.read_text():
            assert proc.poll() is None, f"rmops ui exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"UIs not up in time:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        query = {"query": "{ assetNodes { assetKey { path } } }"}
        answer = _get(f"http://127.0.0.1:{dagster_port}/graphql", query)
        assert answer is not None
        assert "feedback_events" in answer.decode()
        assert _get(f"http://127.0.0.1:{mlflow_port}/health") == b"OK"
        commands = [" ".join(child.cmdline()) for child in psutil.Process(proc.pid).children(True)]
        assert not [c for c in commands if "huey_consumer" in c], "MLflow's job runners started"
        assert [c for c in commands if " server " in c and " --workers 1 " in c], commands
    finally:
        proc.send_signal(stop)  # Ctrl-C (even started as a background job), or a supervisor's
        code = proc.wait(timeout=150)  # the stop stages grant 35 s of grace; a busy box needs more
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert f"Dagster UI: http://127.0.0.1:{dagster_port}" in text
    assert f"MLflow UI: http://127.0.0.1:{mlflow_port}" in text
    # Every child (webserver, daemon, code servers, uvicorn workers) is gone with its port.
    assert port_free(dagster_port) and port_free(mlflow_port)
