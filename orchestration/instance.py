"""The embedded Dagster instance: `RMOPS_HOME/dagster` with SQLite storage, the run queue and a
pool limit so only one training run executes at a time."""

from __future__ import annotations

import logging
import re
from pathlib import Path

TRAINING_POOL = "reward_model_training"
log = logging.getLogger(__name__)

_TEMPLATE = """\
# Written by rmops (orchestration/instance.py). Embedded default: SQLite storage in this folder.
# At scale, replace `storage` with dagster-postgres and add a k8s run launcher (see README).
{storage}concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # Every pool (the training pool included) runs one step at a time: one training run at once.
    default_limit: 1
    granularity: op
telemetry:
  enabled: false
"""

DAGSTER_YAML = _TEMPLATE.replace(
    "{storage}",
    """# The storage is Dagster's SQLite storage with pool slots claimed atomically
# (orchestration/dagster_storage.py): the stock one can hand one slot to two processes.
storage:
  custom:
    module: orchestration.dagster_storage
    class: RmopsSqliteStorage
    config:
      base_dir: {base_dir}
""",
)

# What earlier rmops versions wrote (stock SQLite storage): replaced as it stands, since the
# tables and folders are the same; a file edited by hand is left alone.
_EARLIER_YAML = _TEMPLATE.replace("{storage}", "storage:\n  sqlite:\n    base_dir: {base_dir}\n")


def ensure_dagster_home(home: Path) -> Path:
    """Create `home/dagster/dagster.yaml` if missing or as an earlier rmops wrote it (idempotent)
    and return the folder."""
    dagster_home = Path(home) / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    base_dir = (dagster_home / "storage").as_posix()
    text = config.read_text() if config.exists() else None
    if text is None or text == _EARLIER_YAML.format(base_dir=base_dir):
        tmp = config.with_suffix(".yaml.tmp")
        tmp.write_text(DAGSTER_YAML.format(base_dir=base_dir))
        tmp.replace(config)
    elif re.search(r"^storage:\s*\n\s+sqlite:", text, re.MULTILINE):
        log.warning(
            "%s keeps Dagster's stock SQLite storage, whose pool slots two processes can both "
            "claim (two trainings at once); use `storage: custom:` with "
            "orchestration.dagster_storage.RmopsSqliteStorage as rmops writes it",
            config,
        )
    return dagster_home
