"""CLI output helpers: human text by default, one JSON object with --json."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import socket
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def to_jsonable(value: Any) -> Any:
    """Turn result dataclasses (and the numpy/path/datetime values inside them) into JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return to_jsonable(value.to_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit(result: Any, as_json: bool, text: str | None = None) -> None:
    """Print `result` as one JSON object (`--json`) or as `text` (default: indented JSON)."""
    if as_json:
        typer.echo(json.dumps(to_jsonable(result), sort_keys=True))
    else:
        typer.echo(text if text is not None else json.dumps(to_jsonable(result), indent=2))


@contextlib.contextmanager
def registry_errors() -> Iterator[None]:
    """An MLflow failure (server unreachable, store locked, ...) as one clear CLI error instead
    of a traceback."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as err:
        raise fail(f"MLflow registry: {err.message}") from None


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """A bad input (unreadable or malformed file, a broken .gz, a bad value) as one clear error
    with exit 2: commands whose exit 1 means "refused" or "drift" must not crash with 1 too."""
    try:
        yield
    except (ValueError, OSError, EOFError) as exc:  # BadGzipFile is an OSError
        raise fail(f"{type(exc).__name__}: {exc}") from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """No server listens on `host:port` (connections lingering in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
