"""Alert sinks against real endpoints (a local HTTP server, a file) and drift episodes."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from validation.alerts import (
    Alert,
    DriftEpisodes,
    JsonlSink,
    LogSink,
    WebhookSink,
    notify_drift,
    send_alert,
)
from validation.drift import DriftResult

SECRET = "T000-SECRET-TOKEN-42"


class Hook:
    """A local Slack-like endpoint answering a scripted list of status codes."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((self.path, json.loads(body)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == "junk":  # not HTTP at all: the client reads a bad status line
                    self.wfile.write(b"junk\r\n\r\n")
                    return
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the server quiet
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def alert() -> Alert:
    return Alert("Reward drift detected", "reward shifted", fields={"mean shift": 0.4})


def test_webhook_retries_a_500_then_delivers_without_leaking_the_url(caplog):
    caplog.set_level(logging.DEBUG)
    sleeps = []
    with Hook([500, 500, 200]) as hook:
        sink = WebhookSink(hook.url, timeout_s=2, retries=3, backoff_s=0.1, sleep=sleeps.append)
        outcome = sink.send(alert())
    assert outcome.delivered and outcome.attempts == 3 and outcome.error is None
    assert sleeps == [0.1, 0.2]  # exponential backoff
    path, payload = hook.requests[-1]
    assert path == f"/services/{SECRET}" and len(hook.requests) == 3
    assert set(payload) == {"text"} and "Reward drift detected" in payload["text"]
    assert "mean shift: 0.4" in payload["text"]
    assert "HTTP 500" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(sink)


def test_webhook_gives_up_and_reports_errors_without_the_secret(caplog):
    caplog.set_level(logging.DEBUG)
    with Hook([500] * 5) as hook:
        outcome = WebhookSink(hook.url, retries=2, backoff_s=0, sleep=lambda s: None).send(alert())
    assert (outcome.delivered, outcome.attempts, outcome.error) == (False, 3, "HTTP 500")
    with Hook([404]) as hook:
        client_error = WebhookSink(hook.url, retries=3, backoff_s=0).send(alert())
    assert client_error.attempts == 1 and not client_error.delivered  # 4xx is not retried
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = WebhookSink(f"http://127.0.0.1:{port}/x/{SECRET}", retries=1, backoff_s=0)
    refused = down.send(alert())
    assert not refused.delivered and refused.attempts == 2 and SECRET not in refused.error
    assert SECRET not in caplog.text
    with pytest.raises(ValueError) as bad:
        WebhookSink(f"ftp://example/{SECRET}")
    assert SECRET not in str(bad.value)


def test_a_garbled_answer_is_retried_and_a_bad_url_refused_without_the_secret():
    with Hook(["junk", 200]) as hook:
        outcome = WebhookSink(hook.url, retries=2, backoff_s=0).send(alert())
    assert (outcome.delivered, outcome.attempts) == (True, 2) and len(hook.requests) == 2
    for url in (f"https://user:{SECRET}@hooks.example.com/x", f"https://h:{SECRET}/x", "https://"):
        with pytest.raises(ValueError, match="WebhookSink.url") as bad:
            WebhookSink(url)
        assert SECRET not in str(bad.value)


def test_send_alert_reaches_log_and_jsonl_and_survives_a_broken_sink(tmp_path, caplog):
    class Broken:
        name = "broken"

        def send(self, alert):
            raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="rmops.alerts")
    path = tmp_path / "alerts" / "alerts.jsonl"
    outcomes = send_alert(alert(), [Broken(), LogSink(), JsonlSink(path)])
    assert [(o.sink, o.delivered) for o in outcomes] == [
        ("broken", False),
        ("log", True),
        ("jsonl", True),
    ]
    assert "ALERT Reward drift detected" in caplog.text
    send_alert(alert(), [JsonlSink(path)])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["title"] == "Reward drift detected"
    with pytest.raises(ValueError, match="severity"):
        Alert("t", "x", severity="urgent")


def drift(detected: bool, skipped: str | None = None) -> DriftResult:
    columns = {"reward": {"drifted": detected, "score": 0.3, "method": "wasserstein"}}
    return DriftResult(detected, columns, 0.4, 0.1, 0.5, 0.4, 500, 300, skipped_reason=skipped)


def test_one_alert_per_drift_episode_persisted_across_restarts(tmp_path):
    state, path = tmp_path / "drift_state.json", tmp_path / "alerts.jsonl"
    sinks = [JsonlSink(path)]

    def check(detected, skipped=None):
        # a fresh DriftEpisodes each time, as a new sensor tick in a new process would have
        return len(notify_drift(drift(detected, skipped), DriftEpisodes(state), sinks))

    sent = [check(True), check(True), check(True, "too few rows"), check(False), check(False)]
    sent += [check(True), check(True)]
    assert sent == [1, 0, 0, 0, 0, 1, 0]
    assert len(path.read_text().splitlines()) == 2
    assert json.loads(state.read_text())["episodes"] == 2


def test_an_undelivered_alert_is_retried_on_the_next_drifting_check(tmp_path):
    state = tmp_path / "state.json"
    with Hook([500, 500]) as hook:
        sink = WebhookSink(hook.url, retries=0, backoff_s=0)
        first = notify_drift(drift(True), DriftEpisodes(state), [sink])
        second = notify_drift(drift(True), DriftEpisodes(state), [sink])
        third = notify_drift(drift(True), DriftEpisodes(state), [sink])
    assert [o[0].delivered for o in (first, second, third)] == [False, False, True]
    assert notify_drift(drift(True), DriftEpisodes(state), [sink]) == []


def test_only_the_sinks_an_alert_missed_get_it_again(tmp_path):
    """As the Dagster resource sends: log and file first, then the webhook. A webhook that
    failed is retried at the next drifting check; the file does not get the alert twice."""
    state, path = tmp_path / "state.json", tmp_path / "alerts.jsonl"
    with Hook([500, 200]) as hook:
        sinks = [LogSink(), JsonlSink(path), WebhookSink(hook.url, retries=0, backoff_s=0)]
        sent = [notify_drift(drift(True), DriftEpisodes(state), sinks) for _ in range(3)]
    assert [[(o.sink, o.delivered) for o in outcomes] for outcomes in sent] == [
        [("log", True), ("jsonl", True), ("webhook", False)],
        [("webhook", True)],
        [],
    ]
    assert len(path.read_text().splitlines()) == 1 and len(hook.requests) == 2
    notify_drift(drift(False), DriftEpisodes(state), sinks)  # the episode ends
    assert len(notify_drift(drift(True), DriftEpisodes(state), sinks)) == 3  # a new one: all
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="list.json: drift episode state is not a JSON object"):
        DriftEpisodes(tmp_path / "list.json")
