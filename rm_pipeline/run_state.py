"""Bookkeeping that makes `train_reward_model` safe to re-run on the same output folder.

`run.json` records a fingerprint of the config and the pairs when a run starts; checkpoints are
only resumed under the same fingerprint (resuming another config's optimizer state would
silently train the wrong thing). `result.json` is written after the export: re-running a
finished run returns it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from rm_pipeline.card import RewardCard, verify_folder
from rm_pipeline.fileio import atomic_write_text

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
FINGERPRINT_COLUMNS = ("prompt", "chosen", "rejected", "weight", "margin")
# Settings that do not change the trained model: toggling them must not block a resume.
COSMETIC_FIELDS = frozenset(
    {"progress_bar", "logging_steps", "dataloader_num_workers", "gradient_checkpointing"}
)


def fingerprint(config: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame) -> str:
    """SHA-256 over the config and the training-relevant columns of both splits."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for frame in (train, val):
        columns = [c for c in FINGERPRINT_COLUMNS if c in frame.columns]
        rows = frame[columns].to_dict("split")["data"]
        h.update(json.dumps([columns, rows], default=str).encode())
    return h.hexdigest()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # DDP ranks prepare the same output_dir at once: each write needs a temp file of its own.
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def prepare(output_dir: Path, digest: str, resume: bool) -> None:
    """Claim `output_dir` for a run with `digest`; without `resume`, start from scratch."""
    output_dir.mkdir(parents=True, exist_ok=True)
    run_file = output_dir / RUN_FILE
    if not resume:
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
        (output_dir / RESULT_FILE).unlink(missing_ok=True)
    elif run_file.is_file() and _has_work(output_dir):
        # Only a run with checkpoints or a result is worth protecting: one that failed before
        # its first checkpoint (a bad option, a model that did not load) is simply replaced.
        previous = json.loads(run_file.read_text()).get("fingerprint")
        if previous != digest:
            raise ValueError(
                f"output_dir {output_dir} holds a run with another config or other pairs; "
                "use a new folder or resume=False (rmops train --no-resume) to start over"
            )
    _write_json(run_file, {"fingerprint": digest})


def _has_work(output_dir: Path) -> bool:
    checkpoints = output_dir / "checkpoints"
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.iterdir())
    return has_checkpoint or (output_dir / RESULT_FILE).is_file()


def finished_result(output_dir: Path, digest: str) -> dict[str, Any] | None:
    """The stored result of a finished run with `digest` whose export is intact, else None."""
    path = output_dir / RESULT_FILE
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    export_dir = Path(stored.get("export_dir", ""))
    if stored.get("fingerprint") != digest or not export_dir.is_dir():
        return None
    try:
        card = RewardCard.load(export_dir)
        verify_folder(export_dir, card)
    except (FileNotFoundError, ValueError):
        return None
    return {**stored, "card": card}


def record_result(output_dir: Path, digest: str, result: dict[str, Any]) -> None:
    _write_json(output_dir / RESULT_FILE, {**result, "fingerprint": digest})
