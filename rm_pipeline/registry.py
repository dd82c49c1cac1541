"""Model versions: registration with gate tags, aliases, listing. Promotion and rollback live in
`rm_pipeline.promotion` (re-exported here as `promote` / `rollback`).

Aliases: `challenger` (newest version that passed the gate), `champion` (what PPO uses),
`previous-champion` (the rollback target). MLflow has no compare-and-set on aliases, so every
alias move happens under a lock shared by all processes that use the same backend (see
`promotion_lock`); under it the gate verdict and the current champion are re-read, so a failed
version never becomes champion and a promotion that expected a champion that has since changed
is refused instead of silently overwriting the other one.

Scale-out: SQLite stores lock a file next to the DB; PostgreSQL stores (or `lock_url`) take a
PostgreSQL advisory lock, which serialises promoters on any number of machines. Behind an MLflow
server with neither, promotion falls back to check-after-write (a lost race is still detected and
reported, but the window is not closed): point `lock_url` at the server's PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rm_pipeline.tracking import MAX_TAG_CHARS, RegistryConfig, mlflow_client, param_value

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous-champion"
TAG_DATASET, TAG_VERDICT, TAG_REASONS = "dataset_version", "gate_verdict", "gate_reasons"
TAG_BASE_MODEL, TAG_PARENT = "base_model", "parent_champion_version"
TAG_PROMOTED_OVER = "promoted_over"  # champion this version replaced: the rollback chain
GOLDEN_PREFIX = "golden."


class _CurrentChampion:
    def __repr__(self) -> str:
        return "CURRENT_CHAMPION"


CURRENT_CHAMPION: Any = _CurrentChampion()
"""Sentinel for `expected_champion`: whatever is champion when `promote` is called."""


class PromotionRefused(RuntimeError):
    """A promotion or rollback that must not happen; `code` says why (machine-readable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ModelVersionInfo:
    """A registered version and the tags/aliases it got."""

    model_name: str
    version: str
    model_uri: str  # models:/NAME/VERSION
    run_id: str | None
    gate_verdict: str
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelVersionSummary:
    """One row of `list_models`."""

    version: str
    aliases: list[str]
    gate_verdict: str
    golden_accuracy: float | None
    dataset_version: str | None
    created_at: str
    run_id: str | None
    gate_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromotionResult:
    """What a promotion or rollback did; also what the PPO handoff record is built from."""

    action: str  # promote | rollback | noop
    model_name: str
    version: str  # the champion afterwards
    previous_champion: str | None
    model_uri: str
    reason: str
    at: str  # ISO 8601, UTC
    lock: str  # how the compare-and-set was serialised
    dataset_version: str | None = None
    reward_mean: float | None = None
    reward_std: float | None = None
    run_id: str | None = None
    handoff_path: str | None = None

    @property
    def changed(self) -> bool:
        return self.action != "noop"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def normalize_version(version: Any) -> str:
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"version: expected a model version number (1, 2, ...), got {version!r}")
    return str(int(text))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _aliases(client, name: str) -> dict[str, str]:
    """alias -> version (search results omit aliases in MLflow 3.17: read the model)."""
    from mlflow.exceptions import MlflowException

    try:
        return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}
    except MlflowException as err:
        # Only "no such model" means "no aliases": an unreachable or locked registry must not
        # read as "no champion" (a compare-and-set would then act on a wrong premise).
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise


def _get_version(client, name: str, version: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, version)
    except MlflowException as err:
        raise PromotionRefused(
            "unknown_version", f"model '{name}' has no version {version}"
        ) from err


def _ensure_registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description="rmops reward model")
        except MlflowException:
            client.get_registered_model(name)  # another process created it meanwhile


def _float_tag(tags: dict[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


def current_champion(config: RegistryConfig) -> str | None:
    """The version the `champion` alias points at, or None."""
    return _aliases(mlflow_client(config), config.model_name).get(CHAMPION)


def _card_from_model(config: RegistryConfig, model_uri: str) -> dict[str, Any]:
    """The reward card stored in the logged model's MLmodel metadata ({} if absent)."""
    import tempfile

    import mlflow.artifacts
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model_uri.rstrip('/')}/MLmodel",
            dst_path=tmp,
            tracking_uri=config.tracking_uri,
        )
        with open(path) as fh:
            mlmodel = yaml.safe_load(fh)
    return (mlmodel.get("metadata") or {}).get("reward_card") or {}


def _candidate_tags(
    dataset_version, passed, reasons, golden_metrics, base_model, parent, golden_hash, card
) -> dict[str, str]:
    tags = {
        TAG_DATASET: dataset_version or "",
        TAG_VERDICT: "passed" if passed else "failed",
        TAG_REASONS: param_value(list(reasons), MAX_TAG_CHARS),
        TAG_BASE_MODEL: base_model or card.get("base_model") or "",
        TAG_PARENT: parent or "",
        "golden_hash": golden_hash or "",
    }
    for key in ("reward_mean", "reward_std"):
        if card.get(key) is not None:
            tags[key] = repr(float(card[key]))
    for key, value in (golden_metrics or {}).items():
        tags[f"{GOLDEN_PREFIX}{key}"] = param_value(value, MAX_TAG_CHARS)
    return tags


def register_candidate(
    config: RegistryConfig,
    run_id: str,
    model_uri: str,
    dataset_version: str | None,
    verdict_passed: bool,
    verdict_reasons: list[str],
    golden_metrics: dict[str, Any],
    base_model: str | None = None,
    parent_champion: Any = CURRENT_CHAMPION,
    golden_hash: str = "",
    card: dict[str, Any] | None = None,
) -> ModelVersionInfo:
    """Register `model_uri` as a new version with its gate tags; `challenger` if it passed.

    Idempotent: registering the same run and model again returns the existing version (and
    makes it challenger if it passed and no newer version is). `challenger` only moves forward.
    """
    if not isinstance(verdict_passed, bool):
        raise ValueError(f"verdict_passed: expected a bool, got {verdict_passed!r}")
    client = mlflow_client(config)
    name = config.model_name
    _ensure_registered_model(client, name)
    existing = [
        mv
        for mv in client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        if mv.source == model_uri
    ]
    if existing:  # a retry: the earlier attempt may have failed before moving `challenger`
        if existing[0].tags.get(TAG_VERDICT) == "passed":
            _advance_challenger(client, config, str(existing[0].version))
        return version_info(config, existing[0].version)
    if parent_champion is CURRENT_CHAMPION:
        parent_champion = _aliases(client, name).get(CHAMPION)
    card = card if card is not None else _card_from_model(config, model_uri)
    tags = _candidate_tags(
        dataset_version,
        verdict_passed,
        verdict_reasons,
        golden_metrics,
        base_model,
        parent_champion,
        golden_hash,
        card,
    )
    mv = client.create_model_version(name, source=model_uri, run_id=run_id, tags=tags)
    if verdict_passed:
        _advance_challenger(client, config, str(mv.version))
    return version_info(config, mv.version)


def _advance_challenger(client, config: RegistryConfig, version: str) -> None:
    """challenger <- `version` unless it names a newer version already. Under the promotion lock:
    two registrations may reach this in either order, and MLflow has no compare-and-set."""
    from rm_pipeline.promotion import promotion_lock

    with promotion_lock(config):
        current = _aliases(client, config.model_name).get(CHALLENGER)
        if int(version) > int(current or 0):
            client.set_registered_model_alias(config.model_name, CHALLENGER, version)


def version_info(config: RegistryConfig, version: Any) -> ModelVersionInfo:
    """Tags and aliases of one version."""
    client = mlflow_client(config)
    version = normalize_version(version)
    mv = _get_version(client, config.model_name, version)
    aliases = _aliases(client, config.model_name)
    return ModelVersionInfo(
        model_name=config.model_name,
        version=str(mv.version),
        model_uri=f"models:/{config.model_name}/{mv.version}",
        run_id=mv.run_id,
        gate_verdict=mv.tags.get(TAG_VERDICT, "unknown"),
        aliases=sorted(a for a, v in aliases.items() if v == str(mv.version)),
        tags=dict(mv.tags),
    )


def list_models(config: RegistryConfig) -> list[ModelVersionSummary]:
    """All versions, newest first, with aliases, verdicts and golden accuracy."""
    client = mlflow_client(config)
    name = config.model_name
    aliases = _aliases(client, name)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        tags = dict(mv.tags)
        try:
            reasons = json.loads(tags.get(TAG_REASONS, "[]"))
        except json.JSONDecodeError:
            reasons = [tags[TAG_REASONS]]
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
        rows.append(
            ModelVersionSummary(
                version=str(mv.version),
                aliases=sorted(a for a, v in aliases.items() if v == str(mv.version)),
                gate_verdict=tags.get(TAG_VERDICT, "unknown"),
                golden_accuracy=_float_tag(tags, f"{GOLDEN_PREFIX}accuracy"),
                dataset_version=tags.get(TAG_DATASET) or None,
                created_at=created.isoformat(timespec="seconds"),
                run_id=mv.run_id,
                gate_reasons=reasons if isinstance(reasons, list) else [str(reasons)],
            )
        )
    return sorted(rows, key=lambda r: int(r.version), reverse=True)


def __getattr__(name: str) -> Any:
    # promotion imports this module; resolving lazily avoids the cycle.
    if name in ("promote", "rollback", "promotion_lock"):
        from rm_pipeline import promotion

        return getattr(promotion, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
