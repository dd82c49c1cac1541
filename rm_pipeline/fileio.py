"""Atomic text writes for the records other processes read (the handoff, a run's state, the
reward card, scored outputs)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new temp file beside `path`, opened exclusively with mode 0666 so the kernel applies
    the umask: mkstemp's 0600 kept a PPO job running as another user from reading the
    handoff that names its reward model."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to a temp file of its own beside `path`, then rename it into place:
    a reader sees the old file or the new one, never half of one, and writers at once (DDP
    ranks preparing one output_dir) never move each other's temp file away. The file gets the
    mode a plain open() would give (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
