"""Alerts: sinks (log, JSONL file, Slack-compatible webhook) and drift episodes.

A drift episode starts with the first drifting check and ends with the next quiet one; it
raises one alert, not one per check. The webhook URL is a secret (it carries the token):
it never appears in logs, reprs or error texts.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from validation.fileio import atomic_write_text, jsonable

if TYPE_CHECKING:
    from validation.drift import DriftResult

logger = logging.getLogger("rmops.alerts")
SEVERITIES = ("info", "warning", "critical")


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Alert:
    """One alert: a title, a text, a severity and a few key/value fields."""

    title: str
    text: str
    severity: str = "warning"
    fields: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert.severity: {self.severity!r} is not one of {SEVERITIES}")

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))

    def slack_text(self) -> str:
        """The alert as Slack mrkdwn text."""
        lines = [f"*[{self.severity.upper()}] {self.title}*", self.text]
        lines += [f"- {k}: {v}" for k, v in self.fields.items()]
        return "\n".join(lines)


@dataclass
class SinkOutcome:
    """What happened when one sink got one alert."""

    sink: str
    delivered: bool
    attempts: int = 1
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AlertSink(Protocol):
    name: str

    def send(self, alert: Alert) -> SinkOutcome: ...


class LogSink:
    """Writes the alert to the `rmops.alerts` logger (warning/critical map to log levels)."""

    name = "log"

    def send(self, alert: Alert) -> SinkOutcome:
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(alert.severity, 50)
        logger.log(level, "ALERT %s: %s %s", alert.title, alert.text, alert.fields)
        return SinkOutcome(self.name, True)


class JsonlSink:
    """Appends one JSON object per alert to a file."""

    name = "jsonl"

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def send(self, alert: Alert) -> SinkOutcome:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:  # one short line per write
            handle.write(json.dumps(alert.to_dict(), sort_keys=True) + "\n")
        return SinkOutcome(self.name, True)


class WebhookSink:
    """POSTs Slack-compatible JSON (`{"text": ...}`), retrying 5xx / 429 / network errors."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("WebhookSink.url: must be an http(s) URL")  # never echo the URL
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("WebhookSink.url: not a valid URL") from None
        if not parts.hostname or "@" in parts.netloc:
            raise ValueError("WebhookSink.url: needs a host and no user:password@ part")
        if retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError("WebhookSink: timeout_s > 0, retries >= 0 and backoff_s >= 0")
        self._url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"WebhookSink(url=<redacted>, timeout_s={self.timeout_s}, retries={self.retries})"

    def _post(self, body: bytes) -> tuple[bool, bool, str | None]:
        """(delivered, retryable, error) of one attempt; errors carry no URL."""
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                ok = response.status < 300
                return ok, False, None if ok else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return False, exc.code >= 500 or exc.code == 429, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return False, True, f"{type(exc).__name__} ({type(reason).__name__})"
        except http.client.HTTPException as exc:  # a garbled or cut answer: try again
            return False, True, type(exc).__name__
        except ValueError as exc:  # a URL urllib refuses; its text may hold the URL
            return False, False, type(exc).__name__

    def send(self, alert: Alert) -> SinkOutcome:
        body = json.dumps({"text": alert.slack_text()}).encode("utf-8")
        attempts, error = 0, None
        for attempt in range(1, self.retries + 2):
            attempts = attempt
            delivered, retryable, error = self._post(body)
            if delivered:
                return SinkOutcome(self.name, True, attempts)
            logger.warning("webhook attempt %d/%d failed: %s", attempt, self.retries + 1, error)
            if not retryable or attempt > self.retries:
                break
            self._sleep(self.backoff_s * 2 ** (attempt - 1))
        return SinkOutcome(self.name, False, attempts, error)


def sink_name(sink: AlertSink) -> str:
    return getattr(sink, "name", type(sink).__name__)


def send_alert(alert: Alert, sinks: Iterable[AlertSink]) -> list[SinkOutcome]:
    """Send to every sink; one failing sink never stops the others."""
    outcomes = []
    for sink in sinks:
        name = sink_name(sink)
        try:
            outcomes.append(sink.send(alert))
        except Exception as exc:  # a sink bug must not hide the alert from the other sinks
            logger.warning("alert sink %s failed: %s", name, type(exc).__name__)
            outcomes.append(SinkOutcome(name, False, 1, type(exc).__name__))
    return outcomes


class DriftEpisodes:
    """One alert per drift episode, persisted as JSON so it survives process restarts."""

    def __init__(self, state_path: Path | str):
        self.path = Path(state_path)
        self.state = self._load()

    def _load(self) -> dict[str, Any]:
        fresh = {"active": False, "alerted": False, "started_at": None, "episodes": 0}
        fresh["delivered_to"] = []  # sinks this episode's alert reached
        if not self.path.is_file():
            return fresh
        try:
            loaded = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: drift episode state is not valid JSON") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"{self.path}: drift episode state is not a JSON object")
        return {**fresh, **loaded}

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.state, sort_keys=True))

    def observe(self, drift_detected: bool, at: str | None = None) -> bool:
        """Record a check; True when an alert is due (a new episode not yet alerted)."""
        if drift_detected and not self.state["active"]:
            self.state.update(active=True, alerted=False, started_at=at or _now(), delivered_to=[])
            self.state["episodes"] += 1
        elif not drift_detected:  # a quiet check ends the episode and re-arms the alert
            self.state.update(active=False, alerted=False, started_at=None, delivered_to=[])
        self.state["last_checked_at"] = at or _now()
        self._save()
        return self.state["active"] and not self.state["alerted"]

    def deliver(self, alert: Alert, sinks: Iterable[AlertSink]) -> list[SinkOutcome]:
        """Send the episode's alert to the sinks it has not reached yet. The episode counts as
        alerted once every sink got it: a webhook that failed is tried again at the next
        drifting check, while the log and the file do not get the alert twice."""
        sinks = list(sinks)
        done = set(self.state["delivered_to"])
        outcomes = send_alert(alert, [s for s in sinks if sink_name(s) not in done])
        done |= {o.sink for o in outcomes if o.delivered}
        self.state["delivered_to"] = sorted(done)
        self.state["alerted"] = all(sink_name(s) in done for s in sinks)
        self._save()
        return outcomes


def drift_alert(result: DriftResult, model: str | None = None) -> Alert:
    """The alert text for a drifting check."""
    drifted = [name for name, c in result.columns.items() if c["drifted"]]
    fields = {
        "model": model or "champion",
        "drifted columns": ", ".join(drifted) or "none",
        "mean reward shift": round(result.mean_reward_shift, 4),
        "reward-length corr": f"{result.reward_length_corr_ref:+.2f} -> "
        f"{result.reward_length_corr_cur:+.2f}",
        "report": result.report_path or "-",
    }
    text = f"Reward distribution shifted ({result.n_current} recent vs {result.n_reference} ref)."
    return Alert(title="Reward drift detected", text=text, severity="warning", fields=fields)


def notify_drift(
    result: DriftResult,
    episodes: DriftEpisodes,
    sinks: Iterable[AlertSink],
    model: str | None = None,
) -> list[SinkOutcome]:
    """Alert once per drift episode; a skipped check leaves the episode state untouched."""
    if result.skipped_reason is not None:
        return []
    if not episodes.observe(result.drift_detected):
        return []
    return episodes.deliver(drift_alert(result, model), sinks)
