"""`rmops validate-dataset / gate / drift` through Typer's CliRunner with real parts:
a tiny exported reward model, real golden lines from HH-RLHF, a published dataset snapshot."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from feedback_ingest.golden import golden_hash
from feedback_ingest.schema import PAIR_SCHEMA
from orchestration.cli import app

runner = CliRunner()
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hh-rlhf"


@pytest.fixture(scope="module")
def reward_model(tiny_backbone_dir, tmp_path_factory) -> Path:
    """The tiny random backbone exported as an rmops reward model (card, hashes)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rm_pipeline.export import export_reward_model
    from rm_pipeline.rendering import InputTemplate

    folder = tmp_path_factory.mktemp("models") / "tiny-rm"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone_dir, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone_dir)
    export_reward_model(
        model,
        tokenizer,
        folder,
        template=InputTemplate(),
        max_length=96,
        base_model="tiny-random-bert",
        stats=(0.0, 1.0),
    )
    return folder


def golden_files(tmp_path: Path, n: int = 12) -> list[Path]:
    """The first `n` real pairs of each HH golden set (the file name gives the slice)."""
    paths = []
    for name in ("harmless-golden", "helpful-golden"):
        with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt") as handle:
            lines = [next(handle) for _ in range(n)]
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(lines))
        paths.append(path)
    return paths


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_gate_scores_a_real_model_against_itself(reward_model, tmp_path, rmops_home):
    paths = golden_files(tmp_path)
    args = ["gate", "--candidate", str(reward_model), "--champion", str(reward_model)]
    args += [a for p in paths for a in ("--golden", str(p))]
    result = run(*args, "--n-bootstrap", "200", "--output-dir", str(tmp_path / "out"), "--json")
    verdict = json.loads(result.stdout)
    assert result.exit_code == (0 if verdict["passed"] else 1)
    assert verdict["golden_hash"] == golden_hash(paths) and verdict["n_pairs"] == 24
    assert set(verdict["metrics"]["candidate"]) == {"overall", "harmless", "helpful"}
    same = verdict["metrics"]["comparison"]["overall"]  # one model, scored twice: no difference
    assert (same["accuracy_diff"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    assert Path(verdict["reliability_plot"]).is_file()
    text = run(*args[:3], *args[5:], "--n-bootstrap", "200", "--accuracy-floor", "1.0")
    assert text.exit_code == 1 and "gate FAILED on 24 golden pairs" in text.stdout
    assert "below the floor 1.0" in text.stdout
    assert list((rmops_home / "validation" / "gate").iterdir())  # default output folder


def test_gate_bad_input_is_a_clear_error(reward_model, tmp_path, rmops_home):
    no_golden = runner.invoke(app, ["gate", "--candidate", str(reward_model)])
    assert no_golden.exit_code == 2 and "--golden" in no_golden.stderr
    missing = runner.invoke(
        app, ["gate", "--candidate", str(tmp_path / "nope"), "--golden", str(tmp_path / "g")]
    )
    assert missing.exit_code == 2 and "golden file(s) not found" in missing.stderr


@pytest.mark.slow  # evidently import + HTML report + scoring: ~10 s on 2 busy cores
def test_drift_same_sample_is_quiet(reward_model, tmp_path, rmops_home):
    from feedback_ingest.render import render_prompt
    from feedback_ingest.simulate import simulate_events

    rows = [
        {"prompt": render_prompt(e["prompt"]), "response": r["text"]}
        for e in simulate_events(30, seed=0)
        if isinstance(e.get("responses"), list)
        for r in e["responses"]
    ]
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "drift"
    args = ["drift", "--model", str(reward_model), "--reference", str(path)]
    result = run(*args, "--current", str(path), "--output-dir", str(out), "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["drift_detected"] is False
    assert data["columns"]["reward"]["score"] == pytest.approx(1.0)  # K-S p-value, equal samples
    assert (out / "drift_report.html").is_file()
    bad = runner.invoke(app, [*args, "--current", str(tmp_path / "missing.jsonl")])
    assert bad.exit_code == 2 and "not found" in bad.stderr


def publish_snapshot(home: Path, frame) -> str:
    from feedback_ingest import snapshots

    root = home / "datasets" / "preferences"
    tmp = snapshots.new_temporary(root)
    for split in ("train", "val"):
        rows = frame[frame["split"] == split]
        table = pa.Table.from_pandas(rows, schema=PAIR_SCHEMA, preserve_index=False)
        pq.write_table(table, tmp / f"{split}.parquet")
    counts = {"new_events": 100, "ties": 2, "total": len(frame)}
    snapshots.publish(tmp, root, "v000001", {"version": "v000001", "counts": counts})
    return "v000001"


def test_validate_dataset_passes_clean_and_fails_on_a_golden_leak(
    small_pairs, tmp_path, rmops_home
):
    version = publish_snapshot(rmops_home, small_pairs)
    clean = run("validate-dataset", version)
    assert clean.exit_code == 0 and "expectations passed on 60 rows" in clean.stdout
    latest = run("validate-dataset", "latest")  # as datasets show and train take it
    assert latest.exit_code == 0 and latest.stdout == clean.stdout
    leak = tmp_path / "leak-golden.jsonl"
    row = small_pairs.iloc[0]
    pair = {"prompt": row.prompt, "chosen": "a", "rejected": "b"}
    leak.write_text(json.dumps(pair) + "\n")
    leaked = run(
        "validate-dataset", version, "--golden", str(leak), "--quarantined", "50", "--json"
    )
    data = json.loads(leaked.stdout)
    assert leaked.exit_code == 1 and data["passed"] is False
    failed = {(r["name"], r["column"]) for r in data["results"] if not r["success"]}
    assert failed == {
        ("expect_column_values_to_not_be_in_set", "prompt_hash"),
        ("expect_share_of_quarantined_to_be_at_most", None),
    }
    unknown = runner.invoke(app, ["validate-dataset", "v000009"])
    assert unknown.exit_code == 2 and "not found" in unknown.stderr


def test_bad_input_files_exit_2_not_1_which_means_refused(reward_model, tmp_path, rmops_home):
    """Exit 1 is "refused" / "drift" / "failed"; a broken input must not look like one."""
    fake_gz = tmp_path / "fake-golden.jsonl.gz"
    fake_gz.write_bytes(b"not gzip at all")
    cut_gz = tmp_path / "cut-golden.jsonl.gz"
    cut_gz.write_bytes(gzip.compress(golden_files(tmp_path)[0].read_bytes())[:200])
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("x")
    model = ["--candidate", str(reward_model)]
    cases = [
        (["gate", *model, "--golden", str(fake_gz)], "golden:"),
        (["gate", *model, "--golden", str(cut_gz)], "golden:"),
        (["gate", *model, "--golden", str(golden_files(tmp_path)[0]), "--output-dir", str(a_file)],
         "is a file; name a folder"),
        (["drift", "--model", str(reward_model), "--reference", str(fake_gz), "--current",
          str(fake_gz)], "error:"),
        (["drift", "--model", str(reward_model), "--reference", "x", "--current", "y",
          "--threshold", "-1"], "DriftConfig.threshold: must be a positive number"),
        (["validate-dataset", "v000001", "--golden", str(tmp_path)], "not a file"),
    ]  # fmt: skip
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output, result.output


def test_a_folder_holding_several_models_is_refused_not_one_picked(reward_model, tmp_path):
    import shutil

    from rm_pipeline.handoff import resolve_model_folder

    two = tmp_path / "two"
    for name in ("aaa", "zzz"):
        shutil.copytree(reward_model, two / name)
    with pytest.raises(ValueError, match=r"2 reward models under .*two .*: name one folder"):
        resolve_model_folder(two)
    assert resolve_model_folder(two / "zzz") == two / "zzz"
