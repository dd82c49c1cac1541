"""The compiled ingest modules under AddressSanitizer + UBSan: a short fuzz run on every CI
(`make fuzz-native` runs a long one). A memory error or undefined behaviour fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
FUZZ = Path(__file__).with_name("fuzz_native.py")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_sanitized_modules_take_mutated_events_without_a_memory_error():
    run = subprocess.run(
        [sys.executable, str(FUZZ), "--sanitize", "--rounds", "300", "--seed", "11"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "19200 mutated lines" in run.stdout and "each the reference's record" in run.stdout
    assert "san.so" in run.stdout  # the sanitized build was the one loaded
