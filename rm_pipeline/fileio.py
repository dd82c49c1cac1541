"""Atomic text writes for the records other processes read (the handoff, a run's state)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temp file of its own beside `path`, then rename it into place: a
    reader sees the old file or the new one, never half of one, and writers at once (DDP ranks
    preparing one output_dir) never move each other's temp file away."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
