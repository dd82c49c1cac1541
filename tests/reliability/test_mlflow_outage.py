"""MLflow unreachable during registration: a clear error, Dagster's retry policy of
`registered_reward_model` retries the step, and it succeeds once the server is back; the
champion is untouched meanwhile and the failed attempts leave no half-registered version."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from rel_helpers import MlflowServer

from orchestration.steps.gating import CandidateEvaluation, register_and_promote
from orchestration.steps.training import CandidateRun
from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import log_reward_model
from rm_pipeline.registry import current_champion, list_models
from rm_pipeline.tracking import RegistryConfig, ensure_experiment, mlflow_client
from validation.gate import GateVerdict

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path, monkeypatch):
    # Fail fast instead of MLflow's default minutes of HTTP retries: Dagster does the retrying.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    srv = MlflowServer(tmp_path / "mlflow")
    srv.root.mkdir()
    srv.start()
    yield srv
    srv.stop()


def logged_candidate(registry: RegistryConfig, export: Path, n: int) -> CandidateRun:
    client = mlflow_client(registry)
    run = client.create_run(ensure_experiment(registry, client))
    logged = log_reward_model(registry, run.info.run_id, export)
    return CandidateRun(run.info.run_id, logged.model_uri, str(export), f"v{n:06d}", "tiny", None)


def passed(champion: str | None) -> CandidateEvaluation:
    verdict = GateVerdict(True, [], {"accuracy": 0.9}, "golden-hash", 100)
    return CandidateEvaluation(verdict, champion, {"accuracy": 0.9})


def registration_job(policy: dg.RetryPolicy, candidate, evaluation, registry, attempts: list):
    """One op doing what `registered_reward_model` does, under that asset's retry policy."""

    @dg.op(retry_policy=policy)
    def register(context):
        attempts.append(context.retry_number)
        before = current_champion(registry)  # raises while the server is down
        versions = [m.version for m in list_models(registry)]
        outcome = register_and_promote(candidate, evaluation, registry)
        return {"champion_before": before, "versions_before": versions, **outcome.to_dict()}

    @dg.job
    def registration():
        register()

    return registration


def test_registration_survives_an_mlflow_outage(server, tmp_path, tiny_backbone_dir):
    from orchestration.assets.registry import registered_reward_model

    export = Path(shutil.copytree(tiny_backbone_dir, tmp_path / "export"))
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=64)
    card.file_hashes = hash_folder(export)
    card.save(export)
    registry = RegistryConfig(tracking_uri=server.url, lock_url=str(tmp_path / "promote.lock"))
    first = register_and_promote(logged_candidate(registry, export, 1), passed(None), registry)
    assert first.promoted and first.champion == "1"
    candidate = logged_candidate(registry, export, 2)

    server.stop()
    started = time.monotonic()
    with pytest.raises(Exception, match=f"127.0.0.1:{server.port}") as failure:
        register_and_promote(candidate, passed("1"), registry)
    assert time.monotonic() - started < 30  # a prompt error naming the server, not a hang
    assert "Connection refused" in str(failure.value) or "Max retries" in str(failure.value)

    policy = registered_reward_model.op.retry_policy
    assert policy is not None and policy.max_retries >= 3 and policy.delay >= 5
    attempts: list[int] = []

    def bring_back():  # the outage ends after the first failed attempt
        while not attempts:
            time.sleep(0.2)
        server.start()

    restarter = threading.Thread(target=bring_back, daemon=True)
    restarter.start()
    # The asset's retry count; a longer delay only because `mlflow server` itself takes up to
    # ~30 s to start on the shared 2-core test box.
    test_policy = dg.RetryPolicy(max_retries=policy.max_retries, delay=max(policy.delay, 30))
    job = registration_job(test_policy, candidate, passed("1"), registry, attempts)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    restarter.join(timeout=5)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert len(retries) >= 1 and attempts[0] == 0 and attempts[-1] >= 1
    outcome = result.output_for_node("register")
    # While MLflow was down nothing changed: champion still v1, no half-registered v2.
    assert outcome["champion_before"] == "1" and outcome["versions_before"] == ["1"]
    assert outcome["promoted"] and outcome["champion"] == outcome["version"] == "2"
    assert current_champion(registry) == "2"
