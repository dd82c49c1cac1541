"""feedback_ingest: production feedback events -> validated events -> versioned preference datasets.

The main entry points are re-exported lazily here so that `import feedback_ingest` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IngestConfig": "feedback_ingest.config",
    "IngestReport": "feedback_ingest.ingest",
    "ingest_feedback": "feedback_ingest.ingest",
    "SnapshotReport": "feedback_ingest.build",
    "build_snapshot": "feedback_ingest.build",
    "LandingFolderSource": "feedback_ingest.sources",
    "SqlSource": "feedback_ingest.sources",
    "list_versions": "feedback_ingest.snapshots",
    "latest_version": "feedback_ingest.snapshots",
    "read_manifest": "feedback_ingest.snapshots",
    "load_split": "feedback_ingest.snapshots",
    "load_snapshot": "feedback_ingest.snapshots",
    "pairs_added_since": "feedback_ingest.snapshots",
    "load_golden": "feedback_ingest.golden",
    "golden_hash": "feedback_ingest.golden",
    "render_prompt": "feedback_ingest.render",
    "hh_events": "feedback_ingest.hh",
    "split_hh": "feedback_ingest.hh",
    "simulate_events": "feedback_ingest.simulate",
    "write_simulated": "feedback_ingest.simulate",
    "recent_responses": "feedback_ingest.recent",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'feedback_ingest' has no attribute {name!r}")
