"""reward_model_candidate trains the dataset its run was requested for, and never one that
failed its expectations."""

from __future__ import annotations

import dagster as dg
from orch_helpers import tiny_run_config
from test_sensors import _failed_expectations, _more_events, _snapshot

from orchestration.assets.training import DATASET_TAG
from orchestration.definitions import build_definitions


def _train(defs, resources, run_config, instance, version):
    return dg.materialize(
        [defs.get_assets_def("reward_model_candidate")],
        resources=resources,
        run_config={"ops": {"reward_model_candidate": run_config["ops"]["reward_model_candidate"]}},
        instance=instance,
        tags={DATASET_TAG: version},
        raise_on_error=False,
    )


def test_the_requested_dataset_is_trained_and_a_failed_one_refused(
    loop_home, loop_resources, small_backbone_dir
):
    first = _snapshot(loop_home)
    second = _more_events(loop_home, 40, seed=3)
    defs = build_definitions(loop_resources)
    config = tiny_run_config(small_backbone_dir)
    config["ops"]["reward_model_candidate"]["config"]["max_steps"] = 2  # which data, not how well
    with dg.instance_for_test() as instance:
        # never checked in this instance (built outside Dagster): its expectations run first
        result = _train(defs, loop_resources, config, instance, first.version)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        assert result.output_for_node("reward_model_candidate").dataset_version == first.version
        _failed_expectations(instance, second.version)
        refused = _train(defs, loop_resources, config, instance, second.version)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert f"dataset {second.version} failed its expectations" in str(failure.step_failure_data)
    runs = list((loop_home / "runs").glob("*"))
    assert all(second.version not in p.name for p in runs)


def test_the_gates_config_and_golden_set_are_checked_before_training(
    loop_home, loop_resources, small_backbone_dir, tmp_path
):
    from orchestration.resources import RmopsHomeResource

    _snapshot(loop_home)
    defs = build_definitions(loop_resources)
    assets = [defs.get_assets_def(k) for k in ("reward_model_candidate", "candidate_evaluation")]
    config = tiny_run_config(small_backbone_dir, accuracy_floor=1.5)
    no_golden = dict(loop_resources)
    no_golden["rmops_home"] = RmopsHomeResource(home=str(loop_home), golden_dir=str(tmp_path))
    cases = ((loop_resources, config, "candidate_evaluation config: GateConfig: invalid value "
              "for accuracy_floor"),
             (no_golden, tiny_run_config(small_backbone_dir), f"no *.jsonl or *.jsonl.gz file in "
              f"{tmp_path} (RMOPS_GOLDEN_DIR)"))  # fmt: skip
    for resources, run_config, message in cases:
        with dg.instance_for_test() as instance:
            result = dg.materialize(assets, resources=resources, run_config=run_config,
                                    instance=instance, raise_on_error=False)  # fmt: skip
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failure.step_key == "reward_model_candidate"
        assert message in str(failure.step_failure_data)
    assert not (loop_home / "runs").exists() or not any((loop_home / "runs").iterdir())
