"""Dataset expectations (real Great Expectations): each planted defect is caught on its own."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedback_ingest import snapshots
from feedback_ingest.schema import PAIR_SCHEMA, prompt_hash
from validation.expectations import DataExpectationsConfig, validate_pairs, validate_snapshot


def failed(result) -> dict[tuple[str, str | None], int | None]:
    return {(r.name, r.column): r.unexpected_count for r in result.failures}


def test_clean_snapshot_passes(small_pairs):
    result = validate_pairs(small_pairs, golden_prompt_hashes={prompt_hash("unrelated prompt")})
    assert result.passed, result.summary()
    assert result.counts == {"rows": 60, "expectations": len(result.results), "failed": 0}
    assert len(result.results) > 30
    assert result.summary().startswith("all ")


def test_null_text_is_caught(small_pairs):
    small_pairs.loc[3, "chosen"] = None
    result = validate_pairs(small_pairs)
    assert failed(result) == {("expect_column_values_to_not_be_null", "chosen"): 1}
    assert "expect_column_values_to_not_be_null(chosen): 1 rows" in result.summary()


def test_chosen_equal_to_rejected_is_caught(small_pairs):
    small_pairs.loc[[1, 7], "rejected"] = small_pairs.loc[[1, 7], "chosen"]
    result = validate_pairs(small_pairs)
    key = ("expect_select_column_values_to_be_unique_within_record", "chosen,rejected")
    assert failed(result) == {key: 2}


def test_duplicate_pair_id_is_caught(small_pairs):
    small_pairs.loc[5, "pair_id"] = small_pairs.loc[4, "pair_id"]
    result = validate_pairs(small_pairs)
    assert failed(result) == {("expect_column_values_to_be_unique", "pair_id"): 2}


def test_golden_leak_is_caught(small_pairs):
    leaked = {small_pairs.loc[0, "prompt_hash"], small_pairs.loc[9, "prompt_hash"]}
    result = validate_pairs(small_pairs, golden_prompt_hashes=leaked)
    assert failed(result) == {("expect_column_values_to_not_be_in_set", "prompt_hash"): 2}
    assert "golden prompt" in result.summary()


def test_value_bounds_types_and_missing_columns(small_pairs):
    small_pairs.loc[0, "agreement"] = 1.5
    small_pairs.loc[1, "weight"] = 0.0
    small_pairs.loc[2, "prompt"] = "x" * 50
    config = DataExpectationsConfig(max_prompt_chars=40)
    result = validate_pairs(small_pairs.drop(columns="split"), config)
    got = failed(result)
    assert got[("expect_column_values_to_be_between", "agreement")] == 1
    assert got[("expect_column_values_to_be_between", "weight")] == 1
    assert got[("expect_column_value_lengths_to_be_between", "prompt")] >= 1
    assert ("expect_column_to_exist", "split") in got


def test_annotator_mix_and_event_shares(small_pairs):
    small_pairs.loc[:39, "annotator_kind"] = "ai"
    config = DataExpectationsConfig(max_ai_share=0.5, max_tie_share=0.2)
    result = validate_pairs(small_pairs, config, counts={"events": 100, "ties": 30})
    names = {r.name for r in result.failures}
    assert names == {"expect_column_values_to_not_be_in_set", "expect_share_of_ties_to_be_at_most"}
    assert "ties share 30.0% (limit 20%)" in result.summary()
    within = validate_pairs(small_pairs.iloc[40:], config, counts={"events": 100, "ties": 10})
    assert within.passed, within.summary()


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="max_tie_share"):
        DataExpectationsConfig(max_tie_share=2.0)


def test_blank_text_and_unbounded_weight_are_caught(small_pairs):
    small_pairs.loc[0, "weight"] = math.inf  # ingest's weight is 2 * agreement - 1 <= 1
    small_pairs.loc[1, "weight"] = 1.5
    small_pairs.loc[2, "chosen"] = "   "
    small_pairs.loc[3, "rejected"] = "\t"
    small_pairs.loc[4, ["prompt", "prompt_hash"]] = ["\n\n", prompt_hash("\n\n")]
    result = validate_pairs(small_pairs)
    regex = "expect_column_values_to_match_regex"
    assert failed(result) == {
        ("expect_column_values_to_be_between", "weight"): 2,
        (regex, "prompt"): 1,
        (regex, "chosen"): 1,
        (regex, "rejected"): 1,
    }
    assert "blank text (whitespace only)" in result.summary()


def test_a_prompt_in_both_splits_is_caught(small_pairs):
    small_pairs.loc[1, ["prompt", "prompt_hash"]] = small_pairs.loc[0, ["prompt", "prompt_hash"]]
    small_pairs.loc[[0, 1], "split"] = ["train", "val"]
    result = validate_pairs(small_pairs)
    assert failed(result) == {("expect_each_prompt_in_one_split", "split"): 2}
    assert "prompt in both train and val" in result.summary()
    small_pairs.loc[1, "split"] = "train"  # the same prompt twice on one side is fine
    assert validate_pairs(small_pairs).passed


def test_a_prompt_hash_that_is_not_its_prompts_is_caught(small_pairs):
    small_pairs.loc[0, "prompt_hash"] = "0" * 32
    result = validate_pairs(small_pairs)
    assert failed(result) == {("expect_prompt_hash_to_match_prompt", "prompt_hash"): 1}
    outcome = result.failures[0]
    assert outcome.details["example_rows"] == [0]


def test_a_pair_without_source_events_is_caught(small_pairs):
    small_pairs.at[0, "source_event_ids"] = []
    small_pairs.at[1, "source_event_ids"] = "evt-1"  # a string, not a list of ids
    result = validate_pairs(small_pairs)
    assert failed(result) == {("expect_source_event_ids_to_be_non_empty", "source_event_ids"): 2}


def test_a_snapshot_row_in_the_wrong_file_is_caught(small_pairs, tmp_path):
    root = tmp_path / "datasets"
    tmp = snapshots.new_temporary(root)
    for split in ("train", "val"):
        rows = small_pairs[small_pairs["split"] == split].copy()
        if split == "train":
            rows.iloc[:3, rows.columns.get_loc("split")] = "val"  # stored in train, says val
        table = pa.Table.from_pandas(rows, schema=PAIR_SCHEMA, preserve_index=False)
        pq.write_table(table, tmp / f"{split}.parquet")
    snapshots.publish(tmp, root, "v000001", {"version": "v000001", "counts": {}})
    result = validate_snapshot(root, "v000001")
    assert failed(result) == {("expect_split_to_match_its_file", "split"): 3}
    assert result.failures[0].details["example_rows"] == [0, 1, 2]
