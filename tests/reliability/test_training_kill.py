"""SIGKILL during training: no model is exported (so nothing half-trained can be registered),
and the same command again resumes from the last checkpoint and produces a complete model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rel_helpers import REPO_ROOT, child_env, simulated_snapshot

pytestmark = pytest.mark.slow


def command(root, version, out, backbone) -> list[str]:
    sets = {"backbone": backbone, "device": "cpu", "learning_rate": 3e-3, "num_epochs": 2,
            "per_device_batch_size": 16, "max_length": 64, "save_steps": 20,
            "save_total_limit": 3, "progress_bar": "false"}  # fmt: skip
    args = [sys.executable, "-m", "rm_pipeline.launch", "--datasets-root", str(root),
            "--version", version, "--output-dir", str(out)]  # fmt: skip
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return args


def wait_for(predicate, proc, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory, tiny_backbone_dir):
    """A run SIGKILLed right after its first complete checkpoint: (command, out, a copy of out
    as the kill left it)."""
    tmp = tmp_path_factory.mktemp("killed")
    root, version = simulated_snapshot(tmp / "home")
    out = tmp / "run"
    cmd = command(root, version, out, str(tiny_backbone_dir))
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=child_env(), stderr=subprocess.DEVNULL)
    # trainer_state.json is the last file of a checkpoint; the next one starts 20 steps later.
    wait_for(lambda: any(out.glob("checkpoints/checkpoint-*/trainer_state.json")), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    pristine = Path(shutil.copytree(out, tmp / "killed-state"))  # before any test resumes it
    return cmd, out, pristine


def resume(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(Path(cmd[cmd.index("--output-dir") + 1], "launch_result.json").read_text())


def test_killed_training_resumes_from_its_last_checkpoint(killed_run):
    from rm_pipeline.scoring import RewardScorer

    cmd, out, _ = killed_run
    # Nothing exported: the pipeline registers only what training returns, so a killed run
    # leaves nothing that could be registered.
    assert not (out / "model").exists() and not (out / "launch_result.json").exists()
    metrics = resume(cmd)["metrics"]
    assert metrics["resumed_from_step"] >= 20  # not from scratch
    assert metrics["steps"] > metrics["resumed_from_step"]
    scorer = RewardScorer.load(out / "model")  # verifies the card's file hashes
    rewards = scorer.score(["Hi?", "Hi?"], ["Hello! How can I help?", "No."])
    assert len(rewards) == 2 and all(abs(r) < 1e6 for r in rewards)  # finite, not NaN


def test_a_half_written_checkpoint_is_skipped_on_resume(killed_run, tmp_path):
    cmd, _, pristine = killed_run
    copy = Path(shutil.copytree(pristine, tmp_path / "run"))
    complete = sorted(copy.glob("checkpoints/checkpoint-*"), key=lambda p: int(p.name[11:]))[0]
    partial = Path(shutil.copytree(complete, copy / "checkpoints" / "checkpoint-999"))
    (partial / "trainer_state.json").unlink()  # what SIGKILL mid-save leaves behind
    cmd = [*cmd[: cmd.index("--output-dir") + 1], str(copy), *cmd[cmd.index("--output-dir") + 2 :]]
    assert resume(cmd)["metrics"]["resumed_from_step"] >= 20
