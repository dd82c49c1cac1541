"""Small file helpers shared by the validation modules: atomic writes and strict JSON."""

from __future__ import annotations

import functools
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_UMASK_LOCK = threading.Lock()


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, non-finite floats as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@functools.cache
def _umask() -> int:
    """The process umask, read once. os.umask can only read it by setting it, which races with
    other threads creating files, so /proc is asked first where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Call `write(temp_name)` on a temp file beside `path`, then rename it into place with the
    mode a plain open() would have given (0666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600: other users and web servers sharing RMOPS_HOME could not read
        # the verdict, the plot or the drift report.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to a temp file beside `path`, then rename it into place."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
