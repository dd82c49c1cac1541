"""Training as two processes (torchrun, gloo on CPU) through the user entry point
`python -m rm_pipeline.launch`: the replicas stay in sync and the model matches one process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rel_helpers import REPO_ROOT, child_env, free_port, simulated_snapshot


def launch_args(root, version, out, backbone, batch: int) -> list[str]:
    sets = {
        "backbone": str(backbone),
        "device": "cpu",
        "learning_rate": 3e-3,
        "num_epochs": 2,
        "per_device_batch_size": batch,
        "max_length": 64,
        "progress_bar": "false",
    }
    args = ["--datasets-root", str(root), "--version", version, "--output-dir", str(out)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return [*args, "--sync-every", "5"]


def run(command: list[str]) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, env=child_env()
    )
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_backbone_dir):
    """The same training as one process (batch 16) and as two ranks (8 per rank)."""
    tmp = tmp_path_factory.mktemp("ddp")
    root, version = simulated_snapshot(tmp / "home")
    single, ddp = tmp / "single", tmp / "ddp"
    run([sys.executable, "-m", "rm_pipeline.launch",
         *launch_args(root, version, single, tiny_backbone_dir, 16)])  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(free_port())]  # fmt: skip
    run([*torchrun, "-m", "rm_pipeline.launch",
         *launch_args(root, version, ddp, tiny_backbone_dir, 8)])  # fmt: skip
    return single, ddp


def load(path):
    return json.loads(path.read_text())


@pytest.mark.slow
def test_both_ranks_ran_and_held_identical_weights(two_runs):
    _, ddp = two_runs
    ranks = [load(ddp / "ranks" / f"rank-{r}.json") for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    checks = [r["sync_checks"] for r in ranks]
    assert len(checks[0]) >= 3 and len(checks[0]) == len(checks[1])
    for mine, theirs in zip(*checks, strict=True):
        assert mine["step"] == theirs["step"]
        assert mine["fingerprint"] == theirs["fingerprint"]  # what each rank held itself
        assert len(set(mine["ranks"])) == 1 and len(mine["ranks"]) == 2
    # Training moved the weights: the replicas agree on something that changed.
    assert len({c["fingerprint"] for c in checks[0]}) > 1


@pytest.mark.slow
def test_two_ranks_match_one_process(two_runs):
    single, ddp = two_runs
    one, two = load(single / "launch_result.json"), load(ddp / "launch_result.json")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    m1, m2 = one["metrics"], two["metrics"]
    # Same effective batch (16 = 2 x 8): the two runs see the same number of pairs per epoch.
    assert abs(m1["pairs_trained"] - m2["pairs_trained"]) <= 16 * 2
    assert m1["val_accuracy"] > 0.6 and m2["val_accuracy"] > 0.6
    # A few dozen val pairs: two runs that differ only in data order differ by a few pairs.
    assert abs(m1["val_accuracy"] - m2["val_accuracy"]) <= 0.12, (m1, m2)
    assert (ddp / "model" / "model.safetensors").is_file()


def test_overrides_parse_as_json_and_bad_input_is_named(tmp_path):
    from rm_pipeline.launch import parse_overrides

    parsed = parse_overrides(["learning_rate=3e-3", "use_lora=true", "backbone=/m", "x=null"])
    assert parsed == {"learning_rate": 3e-3, "use_lora": True, "backbone": "/m", "x": None}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_overrides(["learning_rate"])
    base = [sys.executable, "-m", "rm_pipeline.launch", "--datasets-root", str(tmp_path),
            "--version", "v000001", "--output-dir", str(tmp_path / "out")]  # fmt: skip
    for extra, message in (
        (["--set", "max_lenght=64"], "unknown field(s) max_lenght"),
        (["--set", "max_length=-1"], "max_length must be a positive integer"),
        ([], "v000001 not found"),
    ):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, env=child_env())
        assert done.returncode == 2 and message in done.stderr, done.stderr[-500:]
