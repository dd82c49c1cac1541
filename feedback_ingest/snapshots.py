"""Versioned preference datasets: `datasets_root/vNNNNNN/{train,val}.parquet/` (folders of
parts, see `parts.py`) + `manifest.json`.

Readers here touch manifests only where they can (cheap for sensors). The writer builds a
version in a hidden temporary folder and renames it into place, so a crash never leaves a
half-written version visible and the previous versions are never modified.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from feedback_ingest.schema import SPLITS

MANIFEST = "manifest.json"
_VERSION = re.compile(r"^v(\d{6})$")
_TMP_PREFIX = ".tmp-"


def version_name(number: int) -> str:
    return f"v{number:06d}"


def list_versions(datasets_root: Path) -> list[str]:
    """Complete versions (those with a manifest), oldest first."""
    root = Path(datasets_root)
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if _VERSION.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(names)


def latest_version(datasets_root: Path) -> str | None:
    """The newest complete version, or None."""
    versions = list_versions(datasets_root)
    return versions[-1] if versions else None


def _check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ValueError(f"dataset version must look like v000001, got {version!r}")
    return version


def read_manifest(datasets_root: Path, version: str) -> dict[str, Any]:
    """The manifest of `version` (ValueError for a malformed name, FileNotFoundError if absent)."""
    path = Path(datasets_root) / _check_version(version) / MANIFEST
    if not path.is_file():
        known = ", ".join(list_versions(datasets_root)) or "none"
        raise FileNotFoundError(f"dataset version {version} not found (known: {known})")
    return json.loads(path.read_text())


def load_split(datasets_root: Path, version: str, split: str):
    """One split of a version as a pandas DataFrame in the pair schema."""
    import pandas as pd

    from feedback_ingest.parts import read_split

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    read_manifest(datasets_root, version)  # clear error for an unknown version
    frame: pd.DataFrame = read_split(Path(datasets_root) / version, split).to_pandas()
    return frame


def load_snapshot(datasets_root: Path, version: str):
    """(train, val) DataFrames of `version`."""
    return load_split(datasets_root, version, "train"), load_split(datasets_root, version, "val")


def pairs_added_since(datasets_root: Path, version: str | None) -> int:
    """New pairs in versions after `version` (all pairs of the latest if None); reads manifests."""
    versions = list_versions(datasets_root)
    if not versions:
        return 0
    if version is None:
        return int(read_manifest(datasets_root, versions[-1])["counts"]["total"])
    _check_version(version)
    later = [v for v in versions if v > version]
    return sum(int(read_manifest(datasets_root, v)["counts"]["new_pairs"]) for v in later)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def remove_stale_temporaries(datasets_root: Path) -> int:
    """Delete temporary folders left by killed writers; returns how many."""
    root = Path(datasets_root)
    stale = [p for p in root.glob(f"{_TMP_PREFIX}*") if p.is_dir()] if root.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def new_temporary(datasets_root: Path) -> Path:
    """A fresh hidden folder to build a version in."""
    root = Path(datasets_root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def publish(
    tmp: Path,
    datasets_root: Path,
    version: str,
    manifest: dict[str, Any],
    known_hashes: dict[str, str] | None = None,
) -> Path:
    """Hash the files in `tmp`, write the manifest last, fsync, rename `tmp` to `version`.

    `known_hashes` (path in the version -> SHA-256) spares re-reading files hard-linked from a
    parent version, whose manifest already vouches for them. Raises FileExistsError if another
    writer published `version` first.
    """
    known = known_hashes or {}
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    names = [str(p.relative_to(tmp)) for p in files]
    hashes = [known.get(n) or file_sha256(p) for n, p in zip(names, files, strict=True)]
    manifest["files"] = dict(zip(names, hashes, strict=True))
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for path in [*files, tmp / MANIFEST]:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    target = Path(datasets_root) / _check_version(version)
    try:
        os.rename(tmp, target)  # atomic; fails if the target exists and is not empty
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileExistsError(f"dataset version {version} was published concurrently") from exc
    return target
