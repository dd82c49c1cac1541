"""The whole asset graph on a real temporary Dagster instance and a real SQLite MLflow."""

from __future__ import annotations

import json

import dagster as dg
from orch_helpers import tiny_run_config

from orchestration.checks import candidate_gate_verdict
from orchestration.definitions import build_definitions
from rm_pipeline.registry import current_champion, list_models, version_info


def _materialize(defs, resources, run_config, instance):
    assets = [defs.get_assets_def(k) for k in defs.resolve_asset_graph().get_all_asset_keys()]
    from orchestration.checks import preference_dataset_expectations

    return dg.materialize(
        [*assets, preference_dataset_expectations, candidate_gate_verdict],
        resources=resources,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
    )


def test_whole_graph_promotes_then_refuses_a_worse_candidate(
    loop_home, loop_resources, small_backbone_dir
):
    defs = build_definitions(loop_resources)
    with dg.instance_for_test() as instance:
        result = _materialize(defs, loop_resources, tiny_run_config(small_backbone_dir), instance)
        _assert_promoted(result, loop_home, loop_resources)
        second = _materialize_worse_candidate(defs, loop_resources, small_backbone_dir, instance)
        evaluation = second.output_for_node("candidate_evaluation")
    assert not second.success
    (check,) = second.get_asset_check_evaluations()
    assert check.passed is False
    assert not evaluation.passed and evaluation.verdict.reasons
    materialized = {e.asset_key.to_user_string() for e in second.get_asset_materialization_events()}
    assert "registered_reward_model" not in materialized
    registry = loop_resources["mlflow_registry"].registry_config()
    assert current_champion(registry) == "1"
    assert len(list_models(registry)) == 1


def _assert_promoted(result, loop_home, loop_resources):
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["preference_dataset_expectations"] is True
    assert checks["candidate_gate_verdict"] is True
    dataset = result.output_for_node("preference_dataset")
    candidate = result.output_for_node("reward_model_candidate")
    outcome = result.output_for_node("registered_reward_model")
    handoff = result.output_for_node("ppo_handoff")
    assert dataset.version == "v000001"
    assert candidate.dataset_version == dataset.version
    assert outcome.promoted and outcome.champion == outcome.version == "1"
    assert handoff["version"] == "1" and handoff["dataset_version"] == dataset.version
    latest = json.loads((loop_home / "handoff" / "latest.json").read_text())
    assert latest["model_uri"] == "models:/reward-model/1"
    registry = loop_resources["mlflow_registry"].registry_config()
    assert current_champion(registry) == "1"
    info = version_info(registry, "1")
    assert info.tags["dataset_version"] == dataset.version
    assert info.tags["gate_verdict"] == "passed"
    assert (loop_home / "drift" / "reference.parquet").is_file()
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert set(metadata["feedback_events"]["stage_seconds"].value) == {"read", "validate", "commit"}
    assert set(metadata["preference_dataset"]["stage_seconds"].value) >= {"votes", "write"}
    assert metadata["feedback_events"]["validation_lanes"].value["native"] > 0


def _materialize_worse_candidate(defs, resources, backbone, instance):
    """A planted worse candidate (one step from random weights): the blocking gate check fails,
    nothing is registered and the champion stays."""
    worse = tiny_run_config(backbone)
    training = worse["ops"]["reward_model_candidate"]["config"]
    training.update(max_steps=1, warm_start=False, learning_rate=1e-6)
    keys = ("preference_dataset", "reward_model_candidate", "candidate_evaluation",
            "registered_reward_model")  # fmt: skip
    return dg.materialize(
        [*(defs.get_assets_def(k) for k in keys), candidate_gate_verdict],
        selection=list(keys[1:]), resources=resources, run_config=worse, instance=instance,
        raise_on_error=False,
    )  # fmt: skip


def test_a_dataset_failing_its_expectations_blocks_training(
    loop_home, loop_resources, small_backbone_dir
):
    """A burst of tie events (an annotation tool that stopped recording choices) makes a
    version whose tie share fails the GX check, and the blocking check stops training."""
    defs = build_definitions(loop_resources)
    with dg.instance_for_test() as instance:
        first = _materialize_feedback(defs, loop_resources, instance)
        assert first.success
        ties = [
            {
                "event_id": f"tie-{i}",
                "timestamp": "2026-06-01T00:00:00+00:00",
                "type": "pairwise",
                "prompt": f"Question {i}?",
                "preference": {"tie": True},
                "annotator": {"kind": "human"},
                "responses": [{"id": "a", "text": "Yes."}, {"id": "b", "text": "No."}],
            }
            for i in range(100)
        ]
        (loop_home / "feedback" / "incoming" / "ties.jsonl").write_text(
            "".join(json.dumps(t) + "\n" for t in ties)
        )
        result = _materialize(defs, loop_resources, tiny_run_config(small_backbone_dir), instance)
        assert not result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["preference_dataset_expectations"].passed is False
        assert "tie" in checks["preference_dataset_expectations"].metadata["summary"].value
        materialized = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
        }
        assert "reward_model_candidate" not in materialized


def _materialize_feedback(defs, resources, instance):
    from orchestration.checks import preference_dataset_expectations

    assets = [defs.get_assets_def(k) for k in ("feedback_events", "preference_dataset")]
    return dg.materialize(
        [*assets, preference_dataset_expectations], resources=resources, instance=instance
    )
