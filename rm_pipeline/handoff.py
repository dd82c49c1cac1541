"""The PPO handoff: a record written on every champion change, and the loader a PPO or
best-of-N job uses to score with the champion exactly as training did.

The record (`<handoff_dir>/latest.json` plus one file per change in `history/`) is what the
orchestration layer launches the downstream job from; the job then calls
`load_reward_model(record.model_uri, tracking_uri=...)` in its own process.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rm_pipeline.card import CARD_FILE
from rm_pipeline.fileio import atomic_write_text

LATEST_FILE = "latest.json"
HISTORY_DIR = "history"


@dataclass
class HandoffRecord:
    """What a downstream PPO job needs to pick up a new champion."""

    model_uri: str  # models:/NAME/VERSION: pinned, unlike the moving @champion alias
    model_name: str
    version: str
    reward_mean: float | None
    reward_std: float | None
    dataset_version: str | None
    created_at: str  # ISO 8601, UTC: when the champion changed
    action: str = "promote"  # promote | rollback
    previous_version: str | None = None
    reason: str = ""
    run_id: str | None = None

    @property
    def alias_uri(self) -> str:
        return f"models:/{self.model_name}@champion"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "alias_uri": self.alias_uri}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandoffRecord:
        missing = [n for n in ("model_uri", "model_name", "version", "created_at") if n not in data]
        if missing:
            raise ValueError(f"handoff record: missing field(s) {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_promotion(cls, result: Any) -> HandoffRecord:
        """Build from a `PromotionResult` (promote or rollback)."""
        return cls(
            model_uri=result.model_uri,
            model_name=result.model_name,
            version=result.version,
            reward_mean=result.reward_mean,
            reward_std=result.reward_std,
            dataset_version=result.dataset_version,
            created_at=result.at,
            action=result.action,
            previous_version=result.previous_champion,
            reason=result.reason,
            run_id=result.run_id,
        )


def history_path(record: HandoffRecord, folder: Path) -> Path:
    """Where `record` is kept in `history/`: unlike `latest.json`, never replaced by a later
    change, so a job launched for this change loads this champion even after another one."""
    stamp = record.created_at.replace(":", "").replace("+", "Z")
    return Path(folder) / HISTORY_DIR / f"{stamp}-{record.action}-v{record.version}.json"


def write_handoff(record: HandoffRecord, folder: Path) -> Path:
    """Write the record to `history/` and `latest.json` (each atomically); returns latest."""
    folder = Path(folder)
    (folder / HISTORY_DIR).mkdir(parents=True, exist_ok=True)
    text = json.dumps(record.to_dict(), indent=2, sort_keys=True)
    atomic_write_text(history_path(record, folder), text)
    latest = folder / LATEST_FILE
    atomic_write_text(latest, text)
    return latest


def read_latest_handoff(folder: Path) -> HandoffRecord | None:
    """The newest handoff record in `folder`, or None if no champion change was recorded."""
    path = Path(folder) / LATEST_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"handoff record {path}: not valid JSON ({err})") from err
    return HandoffRecord.from_dict(data)


def _find_export_folder(root: Path) -> Path:
    """The one model folder at or under `root` (a download nests it in artifact folders)."""
    if (Path(root) / CARD_FILE).is_file():
        return Path(root)
    cards = sorted(Path(root).rglob(CARD_FILE))
    if not cards:
        raise FileNotFoundError(f"no {CARD_FILE} under {root}: not an rmops reward model")
    if len(cards) > 1:  # picking one would silently score with an arbitrary model
        found = ", ".join(str(c.parent) for c in cards[:3]) + (", ..." if len(cards) > 3 else "")
        raise ValueError(f"{len(cards)} reward models under {root} ({found}): name one folder")
    return cards[0].parent


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version, alias) of `models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    body = uri[len("models:/") :].strip("/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        if name and alias:
            return name, None, alias
    elif body.count("/") == 1:
        name, version = body.split("/")
        if name and version.isdigit():
            return name, version, None
    raise ValueError(f"model uri {uri!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")


def _registry_download_uri(uri: str, tracking_uri: str | None, registry_uri: str | None) -> str:
    # MLflow's models:/ artifact repository reads the process-global registry URI; resolving
    # with an explicit client keeps this loader free of global state.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
    name, version, alias = parse_registry_uri(uri)
    if alias is not None:
        version = str(client.get_model_version_by_alias(name, alias).version)
    return client.get_model_version_download_uri(name, version)


def resolve_model_folder(
    uri_or_folder: str | Path,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    dst_dir: Path | None = None,
) -> Path:
    """The exported folder behind a local path or an MLflow URI (downloaded to `dst_dir`)."""
    text = str(uri_or_folder)
    if "://" not in text and not text.startswith(("models:", "runs:")):
        return _find_export_folder(Path(text))
    import mlflow.artifacts

    if text.startswith("models:"):
        text = _registry_download_uri(text, tracking_uri, registry_uri)
    dst = Path(dst_dir) if dst_dir else Path(tempfile.mkdtemp(prefix="rmops-reward-model-"))
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=text, dst_path=str(dst), tracking_uri=tracking_uri
    )
    return _find_export_folder(Path(local))


def load_reward_model(
    uri_or_folder: str | Path,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    device: str | None = None,
    dst_dir: Path | None = None,
    **load_options: Any,
):
    """A RewardScorer for `models:/NAME@ALIAS`, `models:/NAME/VERSION`, `runs:/...` or a folder
    (`load_options`, e.g. batch sizes, go to `RewardScorer.load`).

    Hashes in the card are verified, so a tampered or partial download is refused. With no
    `tracking_uri`, MLflow's own default (its `MLFLOW_TRACKING_URI`) applies.
    """
    from rm_pipeline.scoring import RewardScorer

    if dst_dir is not None or not str(uri_or_folder).startswith(("models:", "runs:")):
        folder = resolve_model_folder(uri_or_folder, tracking_uri, registry_uri, dst_dir)
        return RewardScorer.load(folder, device=device, **load_options)
    # A download only this call uses: removed once loaded (the weights are in memory by then),
    # not left in the temp folder at ~90 MB (MiniLM) per load.
    with tempfile.TemporaryDirectory(prefix="rmops-reward-model-") as tmp:
        folder = resolve_model_folder(uri_or_folder, tracking_uri, registry_uri, Path(tmp))
        return RewardScorer.load(folder, device=device, **load_options)


def best_of_n(scorer: Any, prompt: str, candidates: list[str]) -> tuple[int, list[float]]:
    """Index of the highest-reward candidate for `prompt`, and every candidate's reward."""
    if not candidates:
        raise ValueError("candidates: need at least one response to choose from")
    rewards = [float(r) for r in scorer.score([prompt] * len(candidates), list(candidates))]
    best = max(range(len(rewards)), key=rewards.__getitem__)
    return best, rewards
