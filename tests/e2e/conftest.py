"""One demo run (both cycles, small model) shared by the end-to-end and browser tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, small_backbone_dir):
    """(home, summary) of `run_demo` on the small backbone in a fresh home."""
    from orchestration.demo import DemoSettings, run_demo

    home = tmp_path_factory.mktemp("demo") / "rmops-home"
    settings = DemoSettings(
        events=800,
        drift_events=250,
        golden_pairs=120,
        backbone=str(small_backbone_dir),
        training={
            "num_epochs": 4.0,
            "max_length": 64,
            "learning_rate": 2e-3,
            "per_device_batch_size": 16,
            "progress_bar": False,
        },
        gate={"n_bootstrap": 200},
    )
    summary = run_demo(home, settings, echo=lambda text: None)
    return home, summary
