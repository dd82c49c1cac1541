"""`rmops train`, `rmops score`, `rmops evaluate` end to end on a tiny model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pair_frames import pairs_frame
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


def _pairs(n: int) -> pd.DataFrame:
    rows = [
        (
            f"\n\nHuman: Tell me about topic {i}.\n\nAssistant:",
            f" Happy to help with topic {i}!",
            " No.",
        )
        for i in range(n)
    ]
    return pairs_frame(rows, split=lambda i, ph: "val" if i % 4 == 0 else "train", event_prefix="e")


def _write_snapshot(home, version: str, pairs: pd.DataFrame):
    folder = home / "datasets" / "preferences" / version
    folder.mkdir(parents=True)
    for split in ("train", "val"):
        pairs[pairs["split"] == split].to_parquet(folder / f"{split}.parquet", index=False)
    counts = pairs["split"].value_counts().to_dict()
    (folder / "manifest.json").write_text(json.dumps({"version": version, "counts": counts}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_backbone_dir):
    """RMOPS_HOME with one snapshot, trained once through the CLI."""
    home = tmp_path_factory.mktemp("home")
    pairs = _pairs(24)
    _write_snapshot(home, "v000001", pairs)
    env = {"RMOPS_HOME": str(home)}
    args = [
        "train",
        "--dataset",
        "latest",
        "--backbone",
        str(tiny_backbone_dir),
        "--epochs",
        "2",
        "--lr",
        "5e-3",
        "--max-length",
        "32",
        "--gradient-checkpointing",
        "--json",
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return home, pairs, json.loads(result.stdout.strip().splitlines()[-1]), env


def test_train_reads_the_snapshot_and_exports(trained):
    home, pairs, out, _ = trained
    assert out["export_dir"] == str(home / "training" / "v000001" / "model")
    assert out["card"]["dataset_version"] == "v000001"
    assert out["metrics"]["n_train"] == int((pairs["split"] == "train").sum())
    assert out["metrics"]["pairs_trained"] == 2 * out["metrics"]["n_train"]
    assert (home / "training" / "v000001" / "model" / "reward_card.json").is_file()
    assert out["config"]["gradient_checkpointing"] is True


def test_train_names_a_missing_dataset(trained):
    _, _, _, env = trained
    result = runner.invoke(app, ["train", "--dataset", "v000009"], env=env)
    assert result.exit_code == 2
    assert "dataset version v000009 not found" in result.output


def test_score_writes_rewards_atomically(trained, tmp_path):
    _, pairs, out, env = trained
    requests = tmp_path / "requests.jsonl"
    lines = [
        {"prompt": p, "response": r, "id": i}
        for i, (p, r) in enumerate(
            zip(
                list(pairs["prompt"][:4]), ["Happy to help!", " No.", " Sure.", " No."], strict=True
            )
        )
    ]
    lines.append({"prompt": [{"role": "user", "content": "Hi"}], "response": "Hello!", "id": 4})
    requests.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    target = tmp_path / "out" / "scored.jsonl"
    result = runner.invoke(
        app,
        [
            "score",
            "--model",
            out["export_dir"],
            "--input",
            str(requests),
            "--output",
            str(target),
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["n"] == 5 and summary["output"] == str(target)
    scored = [json.loads(x) for x in target.read_text().splitlines()]
    assert [row["id"] for row in scored] == [0, 1, 2, 3, 4]
    card = out["card"]
    for row in scored:
        expected = (row["reward"] - card["reward_mean"]) / card["reward_std"]
        assert row["reward_normalized"] == pytest.approx(expected)
    assert not list(target.parent.glob(".*.tmp"))
    small = tmp_path / "small.jsonl"  # small batches under a token budget: the same rewards
    args = ["--batch-size", "2", "--batch-tokens", "64", "--output", str(small)]
    result = runner.invoke(
        app, ["score", "--model", out["export_dir"], "--input", str(requests), *args], env=env
    )
    assert result.exit_code == 0, result.output
    again = [json.loads(x)["reward"] for x in small.read_text().splitlines()]
    assert again == pytest.approx([row["reward"] for row in scored], abs=1e-5)


def test_score_refuses_bad_input_and_bad_model(trained, tmp_path):
    _, _, out, env = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p"}\n')
    result = runner.invoke(
        app, ["score", "--model", out["export_dir"], "--input", str(bad)], env=env
    )
    assert (
        result.exit_code == 2
        and "bad.jsonl:1: expected an object with 'prompt' and 'response'" in result.output
    )
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "p", "response": "r"}\n')
    result = runner.invoke(app, ["score", "--model", str(tmp_path), "--input", str(good)], env=env)
    assert result.exit_code == 2 and "reward card not found" in result.output
    result = runner.invoke(
        app,
        ["score", "--model", out["export_dir"], "--input", str(good), "--batch-tokens", "0"],
        env=env,
    )
    assert result.exit_code == 2 and "--batch-tokens: must be >= 1, got 0" in result.output


def test_evaluate_reports_accuracy_by_group(trained, tmp_path):
    _, pairs, out, env = trained
    path = tmp_path / "pairs.jsonl"
    val = pairs[pairs["split"] == "val"][["prompt", "chosen", "rejected", "annotator_kind"]]
    path.write_text("\n".join(json.dumps(r) for r in val.to_dict("records")))
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            out["export_dir"],
            "--pairs",
            str(path),
            "--group-by",
            "annotator_kind",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout.strip().splitlines()[-1])
    assert evaluation["n"] == len(val)
    assert evaluation["accuracy"] == pytest.approx(out["metrics"]["val_accuracy"])
    assert set(evaluation["by_group"]) == {"human"}
