"""A reward endpoint that follows the `champion` alias: a promotion or a rollback reaches the
PPO job's reward calls within one poll, without a restart and without a gap in service.

Requests and answers are MLflow's scoring server's (its own `invocations` parses and scores), so
a client of `mlflow models serve` works unchanged; each answer also names the model version that
scored it (`X-Reward-Model-Version`), since the version can now change between two calls.
"""

import asyncio
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rm_pipeline.processes import process_alive
from rm_pipeline.registry import current_champion
from rm_pipeline.tracking import RegistryConfig, mlflow_client

log = logging.getLogger(__name__)
VERSION_HEADER = "X-Reward-Model-Version"
DOWNLOAD_PREFIX = "rmops-serve-"  # + "<pid>-v<version>-": a dead pid's folder is an orphan
MAX_RETRY_S = 3600.0
# A request is parsed whole into memory before scoring: bound what one request can make us hold.
# 4096 rows is many reward batches; 16 MiB fits 4096 rows of ~4 KB of text each.
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_ROWS = 4096


@dataclass
class ChampionModel:
    """The champion's pyfunc model, swapped for the new one when the alias moves."""

    config: RegistryConfig
    version: str | None = None
    model: object | None = None
    retry_s: float = 30.0  # first wait before a version that failed to load is tried again
    _folder: Path | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)
    _failed: tuple[str, float, float] | None = field(default=None, repr=False)  # version, at, wait
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def current(self) -> tuple[str | None, object | None]:
        """The (version, model) pair that answers the next request."""
        with self._lock:
            return self.version, self.model

    def refresh(self) -> bool:
        """Load the version `champion` points at if it is not the one served; True on a swap.

        Without a champion (alias removed) the last model keeps serving: an endpoint that went
        dark would stall the PPO job, and the registry's rollback path moves the alias anyway."""
        version = current_champion(self.config)
        if version is None or version == self.version or self._backing_off(version):
            return False
        # Loaded before the swap: requests keep the old model until the new one is ready.
        try:
            model, folder = self._load(version)
        except Exception:
            self._note_failure(version)
            raise
        self._failed = None
        with self._lock:
            if self._closed:  # stopped while this loaded: nothing will serve it
                shutil.rmtree(folder, ignore_errors=True)
                return False
            previous, self.version, self.model = self.version, version, model
            stale, self._folder = self._folder, folder
        if stale is not None:  # the old model's weights are in memory already
            shutil.rmtree(stale, ignore_errors=True)
        log.warning("reward endpoint: now serving version %s%s", version,
                    f" (was {previous})" if previous else "")  # fmt: skip
        return True

    def _backing_off(self, version: str) -> bool:
        """This version failed to load and its next try is not due yet (a new alias target is
        tried at once): a broken version is not downloaded again at every poll."""
        failed = self._failed
        return failed is not None and failed[0] == version and time.monotonic() < failed[1]

    def _note_failure(self, version: str) -> None:
        failed = self._failed
        wait = self.retry_s if failed is None or failed[0] != version else failed[2] * 2
        wait = min(wait, MAX_RETRY_S)
        self._failed = (version, time.monotonic() + wait, wait)

    def close(self) -> None:
        """Remove the served version's downloaded files (the endpoint is stopping); a load
        still in flight removes its own when it finishes."""
        with self._lock:
            self._closed = True
            folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _load(self, version: str):
        """The version's pyfunc model, downloaded through this config's registry (not MLflow's
        process-global one) into a fresh folder."""
        import mlflow.artifacts
        import mlflow.pyfunc

        client = mlflow_client(self.config)
        uri = client.get_model_version_download_uri(self.config.model_name, version)
        folder = Path(tempfile.mkdtemp(prefix=f"{DOWNLOAD_PREFIX}{os.getpid()}-v{version}-"))
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(folder), tracking_uri=self.config.tracking_uri
            )
            return mlflow.pyfunc.load_model(local), folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def follow(champion: ChampionModel, poll_s: float, stop: threading.Event) -> None:
    """Poll the alias every `poll_s` seconds until `stop` is set; a failed load or an
    unreachable registry keeps the served model (a failed version is retried after a doubling
    wait, an unreachable registry at the next poll)."""
    while not stop.wait(poll_s):
        try:
            champion.refresh()
        except Exception:  # noqa: BLE001 - the endpoint outlives registry hiccups
            log.exception("reward endpoint: could not refresh the champion; still serving %s",
                          champion.version)  # fmt: skip


class _RowLimited:
    """The served model, refusing more than `max_rows` rows once MLflow has parsed the input
    (CSV, Parquet and every JSON layout are counted alike), before anything is scored."""

    def __init__(self, model, max_rows: int) -> None:
        self.model, self.max_rows, self.metadata = model, max_rows, model.metadata
        self.refused: str | None = None  # why, once refused: MLflow rewraps what is raised

    def predict(self, data, params=None):
        from mlflow.exceptions import MlflowException

        values = data.values() if isinstance(data, dict) else [data]  # column dict: its length
        rows = max((len(v) for v in values if hasattr(v, "__len__")), default=0)
        if rows > self.max_rows:
            self.refused = f"{rows} rows in one request; at most {self.max_rows}"
            raise MlflowException(self.refused)  # MLflow's invocations re-raises only these
        return self.model.predict(data, params=params)


async def _read_body(request, max_bytes: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed `max_bytes` (not read on)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body declares no length
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    champion: ChampionModel, max_body_bytes: int = MAX_BODY_BYTES, max_rows: int = MAX_ROWS
):
    """FastAPI app with MLflow's scoring routes (/ping, /health, /version, /invocations)
    answering with whichever champion is current.

    A request body over `max_body_bytes` (default 16 MiB) or with more than `max_rows` rows
    (default 4096) is answered 413; one that cannot be parsed (e.g. nested too deep) 400.
    """
    for name, value in (("max_body_bytes", max_body_bytes), ("max_rows", max_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    # No `from __future__ import annotations` in this module: FastAPI reads the `Request`
    # annotation of the handlers below at runtime.
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server
    from mlflow.version import VERSION

    app = FastAPI()
    timeout_s = MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.get()

    @app.middleware("http")
    async def time_limit(request: Request, call_next):
        # As MLflow's own server: a stuck request is answered 504 instead of hanging the client.
        try:
            return await asyncio.wait_for(call_next(request), timeout=timeout_s)
        except TimeoutError:
            return JSONResponse({"error": f"request took longer than {timeout_s} s"},
                                status_code=504)  # fmt: skip

    async def ping():
        status = 200 if champion.current()[1] is not None else 503
        return Response(content="\n", status_code=status, media_type="application/json")

    app.get("/ping")(ping)
    app.get("/health")(ping)
    app.get("/version")(lambda: Response(content=VERSION, media_type="application/json"))

    @app.get("/champion")
    async def served():
        return JSONResponse({"model_name": champion.config.model_name,
                             "version": champion.current()[0]})  # fmt: skip

    @app.post("/invocations")
    async def invocations(request: Request):
        version, model = champion.current()  # one model for the whole request
        if model is None:
            return JSONResponse({"error": "no reward model loaded yet"}, status_code=503)
        headers = {VERSION_HEADER: str(version)}
        data = await _read_body(request, max_body_bytes)
        if data is None:
            return _refusal(413, "RESOURCE_LIMIT_EXCEEDED",
                            f"request body over {max_body_bytes} bytes", headers)  # fmt: skip
        content_type = request.headers.get("content-type", "")
        schema = model.metadata.get_input_schema()
        limited = _RowLimited(model, max_rows)
        try:
            result = await asyncio.to_thread(
                scoring_server.invocations, data, content_type, limited, schema
            )
        except MlflowException as err:  # bad input, named by MLflow's parser: 400
            if limited.refused:
                return _refusal(413, "RESOURCE_LIMIT_EXCEEDED", limited.refused, headers)
            return Response(content=err.serialize_as_json(), headers=headers,
                            status_code=err.get_http_status_code(),
                            media_type="application/json")  # fmt: skip
        except (RecursionError, ValueError) as err:  # json/pandas parsing: MLflow lets them out
            message = f"request body could not be parsed ({type(err).__name__})"
            return _refusal(400, "BAD_REQUEST", message, headers)
        return Response(content=result.response, status_code=result.status,
                        media_type=result.mimetype, headers=headers)  # fmt: skip

    return app


def _refusal(status: int, code: str, message: str, headers: dict[str, str]):
    """An error answer shaped like MLflow's own ({"error_code", "message"})."""
    from fastapi.responses import JSONResponse

    body = {"error_code": code, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def serve_champion(config: RegistryConfig, host: str, port: int, poll_s: float) -> None:
    """Serve the current champion on host:port until stopped (SIGINT/SIGTERM), following the
    alias every `poll_s` seconds. Raises LookupError when there is no champion to start with."""
    import uvicorn

    remove_orphaned_downloads(Path(tempfile.gettempdir()))
    champion = ChampionModel(config, retry_s=poll_s)
    stop, poller = threading.Event(), None
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler it
    # found: by default that ends the process at once, and the cleanup below would never run.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if not champion.refresh():
            raise LookupError(f"no champion of '{config.model_name}' yet")
        poller = threading.Thread(target=follow, args=(champion, poll_s, stop), daemon=True)
        poller.start()
        uvicorn.run(build_app(champion), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        if poller is not None:  # a load that outlives the wait removes its own download
            poller.join(timeout=10)
        champion.close()
        signal.signal(signal.SIGTERM, previous)


def remove_orphaned_downloads(folder: Path) -> int:
    """Remove the downloads of endpoints that died without cleaning up (SIGKILL, or a load
    cut off at exit): their folders name a process that no longer exists. Returns how many."""
    removed = 0
    for path in folder.glob(f"{DOWNLOAD_PREFIX}*"):
        match = re.match(rf"{DOWNLOAD_PREFIX}(\d+)-v", path.name)
        if match and path.is_dir() and not process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # the shell's code for "ended by this signal"
