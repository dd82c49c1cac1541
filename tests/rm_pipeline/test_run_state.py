"""Run bookkeeping shared by the ranks of one training launch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rm_pipeline.run_state import RUN_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]

RANK = """
import sys, time
from pathlib import Path
from rm_pipeline import run_state
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
errors = []
for _ in range(600):
    try:
        run_state.prepare(folder, "abc", resume=True)
    except Exception as err:
        errors.append(f"{type(err).__name__}: {err}")
print(len(errors), errors[:1])
"""


def test_ranks_preparing_the_same_output_dir_at_once_do_not_collide(tmp_path):
    go = tmp_path / "go"
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", RANK, str(tmp_path / "out"), str(go)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in ranks:  # both imported rm_pipeline: start together
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    for proc in ranks:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "0 []"  # a shared temp name failed ~2.5% of calls
    assert [p.name for p in (tmp_path / "out").iterdir()] == [RUN_FILE]  # no temp files left
