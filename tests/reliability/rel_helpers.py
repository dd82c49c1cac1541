"""Helpers shared by the reliability tests: free ports, a snapshot built from simulated
feedback, subprocess environments, a real MLflow server and a TCP relay to switch it off."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from ports import free_port

from feedback_ingest.build import build_snapshot
from feedback_ingest.config import IngestConfig
from feedback_ingest.ingest import ingest_feedback
from feedback_ingest.simulate import write_simulated

REPO_ROOT = Path(__file__).resolve().parents[2]


def simulated_snapshot(home: Path, n_events: int = 600, seed: int = 1) -> tuple[Path, str]:
    """Ingest `n_events` simulated events into `home` and build a snapshot: (root, version)."""
    config = IngestConfig(home=home)
    write_simulated(config, n_events, seed=seed)
    ingest_feedback(config)
    report = build_snapshot(config)
    return config.datasets_root, report.version


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: offline, one thread per process (2 cores shared)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), **extra}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 backed by SQLite, which a test can stop and restart."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120.0) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1",
                   "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                   "--artifacts-destination", str(self.root / "artifacts")]  # fmt: skip
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - owned by the process
        # As `rmops ui` runs it: no GenAI job runners (six more processes importing mlflow).
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            command, stdout=log, stderr=log, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"mlflow server on {self.url} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and its workers
            self.proc.wait(timeout=30)
        self.proc = None


class TcpRelay:
    """A port that pipes each connection to `target_port` while up; while down nothing listens
    on it, so a client gets "connection refused" exactly as from a stopped server, without
    waiting ~30 s for `mlflow server` to restart."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.2)  # so the accept loop sees `down()` promptly
        self._listener, self._stop = listener, threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept_loop, args=(listener, self._stop), daemon=True
        )
        self._acceptor.start()

    def down(self) -> None:
        """Stop listening and cut every piped connection (as a dying server would)."""
        self._stop.set()
        if self._acceptor is not None:  # first, so no connection is accepted after the cut
            self._acceptor.join(timeout=10)
            self._acceptor = None
        with self._lock:
            conns, self._conns = self._conns, []
            threads, self._threads = self._threads, []
        for conn in conns:
            _close(conn)
        for thread in threads:
            thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)  # accepted sockets inherit the listener's timeout
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._conns += [client, upstream]
            self._spawn(self._relay, client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        for sock in (client, upstream):  # both directions done: free the descriptors now
            _close(sock)
        with self._lock:
            self._conns = [c for c in self._conns if c not in (client, upstream)]


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)  # pass the half-close on: HTTP may end a request this way
    except OSError:
        _close(src)  # one side went away or `down()` cut it: end the other direction too
        _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut or closed
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv (close alone does not)
    sock.close()
