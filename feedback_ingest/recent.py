"""The latest accepted production responses (what the drift check scores)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedback_ingest.config import IngestConfig
from feedback_ingest.store import IngestState

_COLUMNS = ["event_id", "timestamp", "prompt", "response_texts"]


def recent_responses(config: IngestConfig, limit: int = 1000):
    """DataFrame[prompt, response, timestamp, event_id] of the newest accepted responses,
    newest first; reads part files from the newest until `limit` rows are found."""
    import pandas as pd

    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if not (config.state_dir / "ingest.db").is_file():
        return pd.DataFrame(columns=["prompt", "response", "timestamp", "event_id"])
    with IngestState(config.state_dir) as state:
        parts = state.parts(0)
    tables, rows = [], 0
    for _, path, _ in reversed(parts):
        table = pq.read_table(path, columns=_COLUMNS)
        lengths = pc.list_value_length(table["response_texts"]).to_numpy()
        parents = pa.array(_parents(lengths))
        tables.append(
            pa.table(
                {
                    "prompt": table["prompt"].take(parents),
                    "response": pc.list_flatten(table["response_texts"]),
                    "timestamp": table["timestamp"].take(parents),
                    "event_id": table["event_id"].take(parents),
                }
            )
        )
        rows += tables[-1].num_rows
        if rows >= limit:
            break
    if not tables:
        return pd.DataFrame(columns=["prompt", "response", "timestamp", "event_id"])
    frame = pa.concat_tables(tables).to_pandas()
    frame = frame.sort_values(["timestamp", "event_id"], ascending=False, kind="stable")
    return frame.head(limit).reset_index(drop=True)


def _parents(lengths):
    import numpy as np

    return np.repeat(np.arange(len(lengths)), lengths)
