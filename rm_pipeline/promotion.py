"""Promotion and rollback: alias moves as a compare-and-set under a cross-process lock.

See `rm_pipeline.registry` for the aliases and the scale-out story of the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rm_pipeline.registry import (
    CHAMPION,
    CURRENT_CHAMPION,
    PREVIOUS_CHAMPION,
    TAG_DATASET,
    TAG_PROMOTED_OVER,
    TAG_VERDICT,
    PromotionRefused,
    PromotionResult,
    _aliases,
    _float_tag,
    _get_version,
    _now,
    normalize_version,
)
from rm_pipeline.tracking import RegistryConfig, mlflow_client, sqlite_db_path

_POLL_S = 0.05


def lock_target(config: RegistryConfig) -> str | None:
    """The lock file path or PostgreSQL URL that serialises promotions, or None (no lock)."""
    if config.lock_url:
        return config.lock_url
    uri = config.registry_uri or config.tracking_uri
    db = sqlite_db_path(uri)
    if db is not None:
        return str(db.resolve()) + ".promotion.lock"
    if uri.startswith(("postgresql:", "postgresql+", "postgres:")):
        return uri
    return None


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PromotionRefused(
                        "lock_timeout", f"promotion lock {path} still held after {timeout_s}s"
                    ) from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _pg_advisory_lock(url: str, model_name: str, timeout_s: float) -> Iterator[None]:
    """A session-level PostgreSQL advisory lock keyed by the model name (released on close)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    digest = hashlib.sha256(f"rmops-promotion:{model_name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + timeout_s
    try:
        with engine.connect() as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise PromotionRefused(
                        "lock_timeout", f"advisory lock for '{model_name}' held after {timeout_s}s"
                    )
                time.sleep(_POLL_S)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()


@contextlib.contextmanager
def promotion_lock(config: RegistryConfig) -> Iterator[str]:
    """Hold the cross-process promotion lock; yields a description of the lock used."""
    target = lock_target(config)
    if target is None:
        yield "none (check-after-write)"
    elif target.startswith(("postgresql", "postgres:")):
        with _pg_advisory_lock(target, config.model_name, config.lock_timeout_s):
            yield "postgresql advisory lock"
    else:
        with _file_lock(Path(target), config.lock_timeout_s):
            yield f"file lock {target}"


def _require_passed(mv, name: str) -> None:
    verdict = mv.tags.get(TAG_VERDICT, "unknown")
    if verdict != "passed":
        raise PromotionRefused(
            "gate_failed",
            f"version {mv.version} of '{name}' has gate_verdict={verdict!r}; "
            "only versions that passed the golden gate can become champion",
        )


def _result(action, config, mv, previous, reason, at, lock) -> PromotionResult:
    tags = dict(mv.tags)
    return PromotionResult(
        action=action,
        model_name=config.model_name,
        version=str(mv.version),
        previous_champion=previous,
        model_uri=f"models:/{config.model_name}/{mv.version}",
        reason=reason,
        at=at,
        lock=lock,
        dataset_version=tags.get(TAG_DATASET) or None,
        reward_mean=_float_tag(tags, "reward_mean"),
        reward_std=_float_tag(tags, "reward_std"),
        run_id=mv.run_id,
    )


def _set_champion(client, config: RegistryConfig, version: str) -> None:
    client.set_registered_model_alias(config.model_name, CHAMPION, version)
    # Without a real lock, at least detect a concurrent writer instead of claiming success.
    now = _aliases(client, config.model_name).get(CHAMPION)
    if now != version:
        raise PromotionRefused(
            "lost_race", f"champion is {now} right after setting it to {version}: retry"
        )


def _finish(config: RegistryConfig, result: PromotionResult) -> PromotionResult:
    if config.handoff_dir and result.changed:
        from rm_pipeline.handoff import HandoffRecord, write_handoff

        path = write_handoff(HandoffRecord.from_promotion(result), Path(config.handoff_dir))
        result.handoff_path = str(path)
    return result


def _handoff_lags(config: RegistryConfig, version: str) -> bool:
    """True when `latest.json` is missing, unreadable or names another champion than `version`."""
    from rm_pipeline.handoff import read_latest_handoff

    try:
        latest = read_latest_handoff(Path(config.handoff_dir))
    except ValueError:  # corrupt: rewriting it is the repair
        return True
    return latest is None or (latest.model_name, latest.version) != (config.model_name, version)


def _noop(config: RegistryConfig, mv, lock: str, at: str, done: PromotionResult) -> PromotionResult:
    """The result of a retried change `done` that had happened. Writes its handoff if
    `latest.json` lags: the earlier attempt moved the aliases, then failed before writing it."""
    result = _result("noop", config, mv, done.previous_champion, done.reason, at, lock)
    if config.handoff_dir and _handoff_lags(config, result.version):
        result.handoff_path = _finish(config, done).handoff_path
    return result


def _resolve_expected(client, name: str, expected: Any) -> str | None:
    if expected is CURRENT_CHAMPION:
        return _aliases(client, name).get(CHAMPION)
    return None if expected is None else normalize_version(expected)


def _stale(expected: str | None, current: str | None) -> PromotionRefused:
    return PromotionRefused(
        "stale_champion",
        f"expected champion {expected or 'none'} but it is {current or 'none'}: "
        "the champion changed since it was read (or the expectation is wrong); re-read "
        "the registry and retry",
    )


def promote(
    config: RegistryConfig,
    version: Any,
    expected_champion: Any = CURRENT_CHAMPION,
    reason: str = "",
) -> PromotionResult:
    """Make `version` champion if it passed the gate and the champion is still `expected_champion`.

    `expected_champion`: a version, None (no champion yet) or CURRENT_CHAMPION (the champion read
    when this call starts). The old champion becomes `previous-champion`. Promoting the current
    champion again is a no-op, which still writes the handoff if `latest.json` does not name this
    champion (an earlier attempt failed after moving the aliases). Raises PromotionRefused
    (`code`: gate_failed, stale_champion, unknown_version, lock_timeout, lost_race).
    """
    version = normalize_version(version)
    client = mlflow_client(config)
    name = config.model_name
    expected_champion = _resolve_expected(client, name, expected_champion)
    with promotion_lock(config) as lock:
        mv = _get_version(client, name, version)
        _require_passed(mv, name)  # re-read under the lock: tags may have changed since
        current = _aliases(client, name).get(CHAMPION)
        at = _now()
        if current == version:  # already champion: a retried promotion (before the staleness
            # test, which it fails). An earlier attempt may have moved the aliases and then
            # failed to write the handoff: without it the PPO job never hears of this champion.
            tags = mv.tags
            done = _result(
                "promote",
                config,
                mv,
                tags.get(TAG_PROMOTED_OVER) or None,
                tags.get("promotion_reason", ""),
                tags.get("promoted_at") or at,
                lock,
            )
            return _noop(config, mv, lock, at, done)
        if current != expected_champion:
            raise _stale(expected_champion, current)
        if current is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
        _set_champion(client, config, version)
        client.set_model_version_tag(name, version, "promoted_at", at)
        client.set_model_version_tag(name, version, "promotion_reason", reason)
        client.set_model_version_tag(name, version, TAG_PROMOTED_OVER, current or "")
        return _finish(config, _result("promote", config, mv, current, reason, at, lock))


def rollback(
    config: RegistryConfig, reason: str, expected_champion: Any = CURRENT_CHAMPION
) -> PromotionResult:
    """champion <- previous-champion (tagged with `reason`) if the champion is still
    `expected_champion`; the chain continues one step back.

    `expected_champion` as in `promote`. Without it a retried or a concurrent rollback would go
    two steps back: a retry of a rollback from `expected_champion` that happened is a no-op (it
    writes the handoff if that rollback did not), any other champion is refused (stale_champion).
    """
    if not reason or not reason.strip():
        raise ValueError("reason: a rollback needs a non-empty reason (it is tagged on the model)")
    client = mlflow_client(config)
    name = config.model_name
    expected_champion = _resolve_expected(client, name, expected_champion)
    with promotion_lock(config) as lock:
        aliases = _aliases(client, name)
        current, target = aliases.get(CHAMPION), aliases.get(PREVIOUS_CHAMPION)
        at = _now()
        if current != expected_champion:
            return _retried_rollback(client, config, expected_champion, current, lock, at)
        if target is None:
            raise PromotionRefused(
                "no_previous_champion", f"'{name}' has no previous-champion to roll back to"
            )
        mv = _get_version(client, name, target)
        _require_passed(mv, name)
        _set_champion(client, config, target)
        # The next rollback target is whatever `target` itself had replaced, if still sound.
        older = mv.tags.get(TAG_PROMOTED_OVER) or None
        if older and older != current and _tags(client, name, older).get(TAG_VERDICT) == "passed":
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, older)
        else:
            client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
        if current is not None:
            client.set_model_version_tag(name, current, "rolled_back_at", at)
            client.set_model_version_tag(name, current, "rollback_reason", reason)
        client.set_model_version_tag(name, target, "restored_at", at)
        client.set_model_version_tag(name, target, "restore_reason", reason)
        return _finish(config, _result("rollback", config, mv, current, reason, at, lock))


def _retried_rollback(client, config, expected, current, lock: str, at: str) -> PromotionResult:
    """The no-op of a retried rollback from `expected` to `current`, else a stale refusal. One
    rollback tags the version it leaves and the one it restores with the same time."""
    name = config.model_name
    stamp = _tags(client, name, current).get("restored_at") if current else None
    if stamp and expected and _tags(client, name, expected).get("rolled_back_at") == stamp:
        mv = _get_version(client, name, current)
        reason = mv.tags.get("restore_reason", "")
        done = _result("rollback", config, mv, expected, reason, stamp, lock)
        return _noop(config, mv, lock, at, done)
    raise _stale(expected, current)


def _tags(client, name: str, version: str) -> dict[str, str]:
    """The tags of a version; {} if it is gone (deleted)."""
    try:
        return dict(_get_version(client, name, version).tags)
    except PromotionRefused:
        return {}
