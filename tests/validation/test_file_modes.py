"""Files the validation steps write are readable as a plain open() would leave them (0666 less
the umask), not 0600 as the temp files they are renamed from: a web server or another user
sharing RMOPS_HOME must be able to read the verdict, the plot and the drift report."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
from validation_helpers import LookupScorer

from validation.drift import detect_drift
from validation.gate import GateConfig, evaluate_candidate


@pytest.fixture
def expected_mode() -> int:
    mask = os.umask(0o022)  # os.umask reads only by setting; put it straight back
    os.umask(mask)
    if mask & 0o077 == 0o077:
        pytest.skip("under a umask of 077 the temp files' 0600 is the right mode anyway")
    return 0o666 & ~mask


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_gate_outputs_take_the_umask(golden, tmp_path, expected_mode):
    evaluate_candidate(LookupScorer(golden), None, golden, GateConfig(n_bootstrap=100), tmp_path)
    assert mode(tmp_path / "verdict.json") == expected_mode
    assert mode(tmp_path / "reliability.png") == expected_mode
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_drift_report_takes_the_umask(tmp_path, expected_mode):
    rng = np.random.default_rng(0)

    def sample():
        return pd.DataFrame(
            {"reward": rng.normal(0, 1, 100), "response_length": 100, "prompt_length": 9}
        )

    result = detect_drift(sample(), sample(), output_dir=tmp_path)
    assert mode(result.report_path) == expected_mode
