"""Fixtures of the validation tests (helpers live in validation_helpers.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from validation_helpers import make_golden


@pytest.fixture
def golden() -> pd.DataFrame:
    """240 synthetic golden pairs in two slices of 120."""
    return make_golden()
