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
