"""The reward card: the JSON that travels with an exported reward model.

It holds everything a consumer needs to score exactly as training did (input rendering,
max length, truncation side, normalisation), plus provenance (base model, dataset version,
golden metrics) and the SHA-256 of every file in the folder so tampering is refused at load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_pipeline.fileio import atomic_write_text

CARD_FILE = "reward_card.json"
CARD_SCHEMA_VERSION = 1


@dataclass
class RewardCard:
    """Provenance and scoring settings of one exported reward model."""

    base_model: str  # Hugging Face id or folder the backbone came from
    input_template: dict[str, Any]  # settings of rm_pipeline's rendering function
    max_length: int  # tokens per (prompt, response) sequence
    truncation_side: str = "left"  # keep the end: the final response is never cut away
    reward_mean: float = 0.0  # normalisation stats, computed on the val split
    reward_std: float = 1.0
    dataset_version: str | None = None
    golden_metrics: dict[str, Any] = field(default_factory=dict)
    train_metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None  # ISO 8601
    file_hashes: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    schema_version: int = CARD_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RewardCard:
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("base_model", "input_template", "max_length") if n not in data]
        if missing:
            raise ValueError(f"reward card: missing field(s) {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, folder: Path) -> Path:
        """Write the card into `folder` (atomically: temp file, then rename)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        return atomic_write_text(Path(folder) / CARD_FILE, text)

    @classmethod
    def load(cls, folder: Path) -> RewardCard:
        path = Path(folder) / CARD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"reward card not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below `folder` except the card itself."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CARD_FILE
    }


def verify_folder(folder: Path, card: RewardCard) -> None:
    """Raise ValueError naming the first missing, extra-weight or altered file."""
    if not card.file_hashes:
        raise ValueError(f"reward card in {folder} lists no file hashes; refusing to load")
    actual = hash_folder(folder)
    for name, expected in sorted(card.file_hashes.items()):
        if name not in actual:
            raise ValueError(f"model folder {folder}: file '{name}' is missing")
        if actual[name] != expected:
            raise ValueError(f"model folder {folder}: file '{name}' does not match its hash")
