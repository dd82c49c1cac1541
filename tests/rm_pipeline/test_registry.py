"""Registration with gate tags and the challenger alias, against a real MLflow (SQLite).

One MLflow store per module (`store` in conftest.py: creating its tables costs seconds); each
test uses its own registered-model name, so tests stay independent.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from rm_helpers import add_version, aliases

from rm_pipeline.promotion import promote
from rm_pipeline.registry import CHALLENGER, current_champion
from rm_pipeline.tracking import ensure_experiment, mlflow_client


def test_register_tags_challenger_and_idempotent_rerun(cfg, store):
    v1 = add_version(cfg, store, card=False)  # stats read back from the logged MLmodel
    assert v1.version == "1" and v1.aliases == [CHALLENGER]
    tags = v1.tags
    assert tags["gate_verdict"] == "passed" and tags["dataset_version"] == "v000007"
    assert tags["golden.accuracy"] == "0.7" and tags["base_model"] == "tiny-bert"
    assert float(tags["reward_mean"]) == 0.25 and float(tags["reward_std"]) == 2.0
    assert tags["parent_champion_version"] == ""
    assert add_version(cfg, store, run_id=v1.run_id).version == "1"  # same run: same version

    promote(cfg, "1", expected_champion=None)
    v2 = add_version(cfg, store, passed=False, accuracy=0.4, reasons=["accuracy below 0.6"])
    assert v2.tags["gate_verdict"] == "failed"
    assert json.loads(v2.tags["gate_reasons"]) == ["accuracy below 0.6"]
    assert v2.tags["parent_champion_version"] == "1"
    assert aliases(cfg)[CHALLENGER] == "1"  # a failed candidate never becomes challenger


def test_retried_registration_sets_challenger_but_never_moves_it_back(cfg, store):
    _, logged = store
    client = mlflow_client(cfg)
    run_id = client.create_run(ensure_experiment(cfg, client)).info.run_id
    # An attempt that registered the version and died before setting the alias.
    client.create_registered_model(cfg.model_name)
    tags = {"gate_verdict": "passed"}
    client.create_model_version(cfg.model_name, logged.model_uri, run_id=run_id, tags=tags)
    assert CHALLENGER not in aliases(cfg)
    assert add_version(cfg, store, run_id=run_id).aliases == [CHALLENGER]

    newer = add_version(cfg, store)
    assert aliases(cfg)[CHALLENGER] == newer.version == "2"
    assert add_version(cfg, store, run_id=run_id).version == "1"  # a late retry of version 1
    assert aliases(cfg)[CHALLENGER] == "2"


def test_an_unreachable_registry_is_an_error_not_no_champion(cfg, monkeypatch):
    from mlflow.exceptions import MlflowException
    from ports import free_port

    assert current_champion(cfg) is None  # a registry without the model: no champion
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = dataclasses.replace(cfg, tracking_uri=f"http://127.0.0.1:{free_port()}")
    # Read as "no champion", promotion's compare-and-set would act on a wrong premise.
    with pytest.raises(MlflowException, match="registered-models/get"):
        current_champion(down)
