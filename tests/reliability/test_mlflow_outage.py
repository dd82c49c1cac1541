"""MLflow unreachable during registration: the real `registered_reward_model` asset fails with a
clear error, its own Dagster retry policy retries it, and it succeeds once the server is back;
the champion is untouched meanwhile and the failed attempt leaves no half-registered version."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from rel_helpers import MlflowServer, TcpRelay, simulated_snapshot

from orchestration.assets.registry import registered_reward_model
from orchestration.definitions import build_resources
from orchestration.steps.gating import CandidateEvaluation, register_and_promote
from orchestration.steps.training import CandidateRun
from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.registry import current_champion, list_models
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client
from validation.gate import GateVerdict

pytestmark = pytest.mark.slow
STEP = "registered_reward_model"


@pytest.fixture
def server(tmp_path, monkeypatch):
    # Fail fast instead of MLflow's default minutes of HTTP retries: Dagster does the retrying.
    # The timeout only bounds a hung request; it is generous for a contended 2-core box.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    srv = MlflowServer(tmp_path / "mlflow")
    srv.root.mkdir()
    srv.start()
    yield srv
    srv.stop()


def exported_model(tiny_backbone_dir: Path, dst: Path) -> Path:
    export = Path(shutil.copytree(tiny_backbone_dir, dst))
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=64)
    card.file_hashes = hash_folder(export)
    card.save(export)
    return export


def logged_candidate(registry: RegistryConfig, export: Path, n: int) -> CandidateRun:
    client = mlflow_client(registry)
    run = client.create_run(ensure_experiment(registry, client))
    logged = log_reward_model(registry, run.info.run_id, export)
    return CandidateRun(run.info.run_id, logged.model_uri, str(export), f"v{n:06d}", "tiny", None)


def passed(champion: str | None) -> CandidateEvaluation:
    verdict = GateVerdict(True, [], {"accuracy": 0.9}, "golden-hash", 100)
    return CandidateEvaluation(verdict, champion, {"accuracy": 0.9})


def upstream_stand_ins(candidate: CandidateRun, evaluation: CandidateEvaluation) -> list:
    """The real asset's two inputs, under their real keys, without training or a golden set."""

    @dg.asset(name="reward_model_candidate")
    def candidate_stand_in() -> CandidateRun:
        return candidate

    @dg.asset(name="candidate_evaluation")
    def evaluation_stand_in() -> CandidateEvaluation:
        return evaluation

    return [candidate_stand_in, evaluation_stand_in]


class OutageWatcher(threading.Thread):
    """Ends the outage after the first failed attempt: waits for the step's STEP_UP_FOR_RETRY in
    the instance's event log, reads the registry directly (not through the relay) to record what
    the failed attempt left behind, then brings the relay up while the retry waits its delay."""

    def __init__(self, instance, relay: TcpRelay, direct: RegistryConfig) -> None:
        super().__init__(daemon=True)
        self.instance, self.relay, self.direct = instance, relay, direct
        self.finished = threading.Event()  # the run is over: stop waiting
        self.seen: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.finished.wait(0.2):
                if self._retry_pending():
                    champion = current_champion(self.direct)
                    versions = [m.version for m in list_models(self.direct)]
                    self.seen = {"champion": champion, "versions": versions}
                    self.relay.up()
                    return
        except BaseException as error:  # reported by the test thread, which asserts on it
            self.error = error

    def _retry_pending(self) -> bool:
        return any(
            entry.step_key == STEP
            for run in self.instance.get_runs()
            for entry in self.instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
            )
        )


def materialize_through_outage(relay, direct, candidate, home):
    """Materialize the real asset with the relay down at first; returns (result, watcher)."""
    resources = build_resources(home)  # the real resources; tracking URI from the env (relay)
    with dg.instance_for_test() as instance:
        watcher = OutageWatcher(instance, relay, direct)
        watcher.start()
        try:
            result = dg.materialize(
                [*upstream_stand_ins(candidate, passed("1")), registered_reward_model],
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
        finally:
            watcher.finished.set()
            watcher.join(timeout=60)
    return result, watcher


def test_registered_reward_model_retries_through_an_mlflow_outage(
    server, tmp_path, tiny_backbone_dir, monkeypatch
):
    policy = registered_reward_model.op.retry_policy
    assert policy is not None and policy.max_retries >= 1  # what this test relies on
    export = exported_model(tiny_backbone_dir, tmp_path / "export")
    direct = RegistryConfig(tracking_uri=server.url)
    first = register_and_promote(logged_candidate(direct, export, 1), passed(None), direct)
    assert first.promoted and first.champion == "1"
    candidate = logged_candidate(direct, export, 2)
    home = tmp_path / "home"
    simulated_snapshot(home, n_events=300)  # promotion scores recent responses (drift reference)

    with TcpRelay(server.port) as relay:  # down: connection refused, as from a stopped server
        monkeypatch.setenv("MLFLOW_TRACKING_URI", relay.url)
        monkeypatch.setenv("RMOPS_DRIFT_WINDOW", "100")  # keep the reference scoring short
        monkeypatch.delenv("RMOPS_MODEL_NAME", raising=False)
        result, watcher = materialize_through_outage(relay, direct, candidate, home)

    assert watcher.error is None, repr(watcher.error)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    retries = [e for e in result.all_events if e.is_step_up_for_retry and e.step_key == STEP]
    assert retries, "the asset's retry policy never retried the step"
    assert f"127.0.0.1:{relay.port}" in str(retries[0].event_specific_data.error)  # names it
    # While MLflow was unreachable nothing changed: champion still v1, no half-registered v2.
    assert watcher.seen == {"champion": "1", "versions": ["1"]}
    (materialization,) = result.asset_materializations_for_node(STEP)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["promoted"] is True and metadata["champion"] == "2"
    assert metadata["previous_champion"] == "1" and metadata["drift_reference_rows"] > 0
    assert current_champion(direct) == "2"
    assert_prompt_clear_error_when_stopped(server, candidate, direct)


def assert_prompt_clear_error_when_stopped(server, candidate, direct):
    """The relay stands in for this: a really stopped `mlflow server` gives a prompt error naming
    the server (connection refused), not a hang."""
    server.stop()
    started = time.monotonic()
    with pytest.raises(Exception, match=f"127.0.0.1:{server.port}") as failure:
        register_and_promote(candidate, passed("2"), direct)
    assert time.monotonic() - started < 30
    assert "Connection refused" in str(failure.value) or "Max retries" in str(failure.value)


def test_a_retry_after_the_promotion_counts_it_as_done(server, tmp_path, tiny_backbone_dir):
    """The step promoted, then failed (storing the drift reference): its retry finds its own
    version champion. Before, the compare-and-set refused it as stale and the run reported
    `promoted: False`, so the drift reference was never written."""
    export = exported_model(tiny_backbone_dir, tmp_path / "export")
    direct = RegistryConfig(tracking_uri=server.url, model_name="retried-model")
    candidate = logged_candidate(direct, export, 1)
    first = register_and_promote(candidate, passed(None), direct)
    retry = register_and_promote(candidate, passed(None), direct)
    assert first.promoted and retry.promoted and retry.version == first.version
    assert retry.champion == first.version == current_champion(direct)
    assert "earlier attempt" in retry.detail
