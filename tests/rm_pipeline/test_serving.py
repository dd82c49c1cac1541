"""The champion-following reward endpoint: a promotion and a rollback change which model
answers, each answer names its version, and a version that cannot load leaves the served one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlflow.exceptions import MlflowException

from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.promotion import promote, rollback
from rm_pipeline.registry import register_candidate
from rm_pipeline.scoring import RewardScorer
from rm_pipeline.serving import (
    DOWNLOAD_PREFIX,
    VERSION_HEADER,
    ChampionModel,
    build_app,
    follow,
    remove_orphaned_downloads,
)
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client

PROMPTS = ["\n\nHuman: Name a river in France.\n\nAssistant:"] * 2
RESPONSES = [" The Loire.", " No."]


def _register(cfg: RegistryConfig, export: Path) -> str:
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=48)
    card.reward_mean, card.reward_std, card.dataset_version = 0.0, 1.0, "v000001"
    card.file_hashes = hash_folder(export)
    card.save(export)
    client = mlflow_client(cfg)
    run_id = client.create_run(ensure_experiment(cfg, client)).info.run_id
    logged = log_reward_model(cfg, run_id, export)
    return register_candidate(
        cfg, run_id, logged.model_uri, "v000001", True, [], {}, "tiny"
    ).version


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, tiny_backbone_dir, other_tiny_backbone_dir):
    """A registry with two differently initialised tiny models; version 1 is champion."""
    root = tmp_path_factory.mktemp("serving")
    cfg = RegistryConfig(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                         artifact_location=str(root / "artifacts"))  # fmt: skip
    backbones = (tiny_backbone_dir, other_tiny_backbone_dir)
    exports = [Path(shutil.copytree(b, root / f"export-{n}")) for n, b in enumerate(backbones)]
    versions = [_register(cfg, export) for export in exports]
    promote(cfg, versions[0], expected_champion=None, reason="serving test")
    scorers = [RewardScorer.load(export) for export in exports]
    rewards = {
        v: s.score_both(PROMPTS, RESPONSES)[0] for v, s in zip(versions, scorers, strict=True)
    }
    assert not np.allclose(*rewards.values(), atol=1e-3)  # the two versions are told apart
    return cfg, versions, rewards


@pytest.fixture
def champion(two_versions, tmp_path, monkeypatch):
    """A ChampionModel of the registry; every download it makes is gone after `close`."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(downloads))
    model = ChampionModel(two_versions[0])
    yield model
    model.close()
    assert not list(downloads.iterdir())


def _score(client: TestClient) -> tuple[str, np.ndarray]:
    records = [{"prompt": p, "response": r} for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    answer = client.post("/invocations", json={"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    return answer.headers[VERSION_HEADER], np.array([row["reward"] for row in predictions])


def test_promotion_and_rollback_swap_the_answering_model(two_versions, champion):
    cfg, (v1, v2), rewards = two_versions
    client = TestClient(build_app(champion))
    assert client.get("/ping").status_code == 503  # nothing loaded yet
    assert client.post("/invocations", json={"dataframe_records": []}).status_code == 503
    assert champion.refresh() and not champion.refresh()  # loads v1 once
    version, served = _score(client)
    assert version == v1 and np.allclose(served, rewards[v1], atol=1e-5)

    promote(cfg, v2, expected_champion=v1, reason="newer")
    first_folder = champion._folder
    assert champion.refresh()
    assert not first_folder.exists()  # the replaced version's download is removed
    version, served = _score(client)
    assert version == v2 and np.allclose(served, rewards[v2], atol=1e-5)
    assert client.get("/champion").json() == {"model_name": cfg.model_name, "version": v2}

    rollback(cfg, reason="bad in PPO")
    assert champion.refresh()
    version, served = _score(client)
    assert version == v1 and np.allclose(served, rewards[v1], atol=1e-5)
    folder = champion._folder
    assert folder.is_dir()
    champion.close()
    assert not folder.exists()
    missing = client.post("/invocations", json={"dataframe_records": [{"prompt": "p"}]})
    assert missing.status_code == 400 and "response" in missing.text
    assert missing.headers[VERSION_HEADER] == v1


def test_requests_during_a_swap_all_get_answers_from_one_whole_model(two_versions, champion):
    cfg, (v1, v2), rewards = two_versions
    champion.refresh()
    client = TestClient(build_app(champion))
    answers, failures, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                answers.append(_score(client))  # asserts status 200 itself
            except Exception as err:  # noqa: BLE001 - reported by the test thread below
                failures.append(err)

    callers = [threading.Thread(target=hammer) for _ in range(3)]
    for caller in callers:
        caller.start()
    try:
        for _ in range(2):  # there and back, while the callers keep asking
            other = v2 if champion.version == v1 else v1
            promote(cfg, other, expected_champion=champion.version, reason="swap under load")
            assert champion.refresh()
            time.sleep(0.3)
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=60)
    assert not failures, failures[:3]
    assert {version for version, _ in answers} == {v1, v2}
    for version, served in answers:  # never one version's header on the other's rewards
        assert np.allclose(served, rewards[version], atol=1e-5), version


def test_a_request_past_the_time_limit_is_answered_504(two_versions, champion, monkeypatch):
    monkeypatch.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "1")
    champion.refresh()
    client = TestClient(build_app(champion))
    assert _score(client)[0] == champion.version  # a normal request is well within the limit
    real = champion.model

    class Stuck:  # the served model, stalled (a wedged GPU, a swapped-out host)
        metadata = real.metadata

        def predict(self, data, params=None):
            time.sleep(3)
            return real.predict(data, params=params)

    champion.model = Stuck()
    records = [{"prompt": PROMPTS[0], "response": RESPONSES[0]}]
    answer = client.post("/invocations", json={"dataframe_records": records})
    assert answer.status_code == 504 and "longer than 1 s" in answer.text


def test_the_poller_follows_and_survives_a_version_that_cannot_load(
    two_versions, champion, tmp_path
):
    cfg, (v1, v2), _ = two_versions
    champion.refresh()
    current, champion.retry_s = champion.version, 0.2
    other = v2 if current == v1 else v1
    stop = threading.Event()
    poller = threading.Thread(target=follow, args=(champion, 0.2, stop), daemon=True)
    poller.start()
    with _artifacts_hidden(cfg, other, tmp_path) as restore:
        try:
            promote(cfg, other, expected_champion=current, reason="follow test")
            time.sleep(1.5)  # several polls
            assert champion.version == current and poller.is_alive()

            restore()  # back: a later poll swaps
            deadline = time.monotonic() + 30
            while champion.version != other and time.monotonic() < deadline:
                time.sleep(0.1)
            assert champion.version == other
        finally:
            stop.set()
            poller.join(timeout=10)
    assert not poller.is_alive()


def test_a_version_that_fails_to_load_is_retried_with_backoff(two_versions, champion, tmp_path):
    cfg, (v1, v2), _ = two_versions
    champion.refresh()
    current, champion.retry_s = champion.version, 1.0
    other = v2 if current == v1 else v1
    loads, load = [], champion._load
    champion._load = lambda version: loads.append(version) or load(version)
    with _artifacts_hidden(cfg, other, tmp_path) as restore:
        promote(cfg, other, expected_champion=current, reason="backoff test")
        with pytest.raises(MlflowException, match="download artifacts"):
            champion.refresh()
        assert not champion.refresh()  # within the first wait (1 s): not downloaded again
        time.sleep(1.1)
        with pytest.raises(MlflowException, match="download artifacts"):
            champion.refresh()
        assert not champion.refresh()  # the wait doubled
        assert loads == [other, other] and champion.version == current
        restore()
        time.sleep(2.1)
        assert champion.refresh() and champion.version == other


def test_a_load_that_ends_after_close_removes_its_own_download(two_versions, champion):
    cfg, (v1, v2), _ = two_versions
    champion.refresh()
    current = champion.version
    other = v2 if current == v1 else v1
    promote(cfg, other, expected_champion=current, reason="close test")
    champion.close()  # the endpoint stops while the poller is about to load `other`
    assert not champion.refresh() and champion.version == current
    # (the fixture checks that no download is left behind)


def test_orphaned_downloads_of_dead_processes_are_removed(tmp_path):
    beyond_any_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    dead = tmp_path / f"{DOWNLOAD_PREFIX}{beyond_any_pid}-v3-abc"
    mine = tmp_path / f"{DOWNLOAD_PREFIX}{os.getpid()}-v3-def"
    unrelated = tmp_path / f"{DOWNLOAD_PREFIX}notes"
    for folder in (dead, mine, unrelated):
        folder.mkdir()
    assert remove_orphaned_downloads(tmp_path) == 1
    assert not dead.exists() and mine.exists() and unrelated.exists()


@contextlib.contextmanager
def _artifacts_hidden(cfg: RegistryConfig, version: str, tmp_path: Path):
    """The version's logged model moved away (its loads fail); yields a `restore` callable,
    and restores on the way out whatever happened (the registry is shared by the module)."""
    model_dir, hidden = _model_dir(cfg, version), tmp_path / f"hidden-{version}"
    shutil.move(model_dir, hidden)

    def restore():
        if hidden.exists():
            shutil.move(hidden, model_dir)

    try:
        yield restore
    finally:
        restore()


def _model_dir(cfg: RegistryConfig, version: str) -> Path:
    """The folder holding a registered version's logged model (a local artifact store)."""
    client = mlflow_client(cfg)
    source = client.get_model_version(cfg.model_name, version).source  # runs:/<run>/<path>
    run_id, _, path = source.removeprefix("runs:/").partition("/")
    folder = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://")) / path
    assert (folder / "MLmodel").is_file(), folder
    return folder
