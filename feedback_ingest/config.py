"""`IngestConfig`: the one place for feedback_ingest's defaults, documented field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class IngestConfig:
    """Settings of feedback ingestion and dataset snapshots.

    Everything lives under `home` (RMOPS_HOME); the derived folders are properties so that
    only `home` has to be passed around.
    """

    # --- location ---------------------------------------------------------------------------
    home: Path
    """Root folder of the rmops installation (RMOPS_HOME)."""

    # --- event validation (text is untrusted) -----------------------------------------------
    max_event_bytes: int = 256 * 1024
    """Raw events larger than this are quarantined (`oversize_event`) before parsing."""
    max_text_chars: int = 20_000
    """Maximum characters of one prompt, message or response text (`oversize_text`)."""
    max_responses: int = 16
    """Maximum responses in one event (`too_many_responses`); bounds ranking pair fan-out."""
    max_id_chars: int = 256
    """Maximum characters of an event, response or annotator id."""

    # --- dataset compilation ----------------------------------------------------------------
    val_fraction: float = 0.1
    """Share of prompts (by prompt hash, so never straddling splits) that go to `val`."""
    golden_paths: list[Path] = field(default_factory=list)
    """Golden files (HH or pair format); pairs whose prompt appears in them are excluded."""

    # --- throughput / memory ----------------------------------------------------------------
    batch_size: int = 50_000
    """Events validated and committed together; bounds ingest memory and part-file size."""
    max_batch_bytes: int = 256 * 1024 * 1024
    """A landing-folder batch also ends once it holds this many raw bytes: with long lines,
    memory stays bounded by bytes, not only by `batch_size` events."""
    partial_line_wait_s: float = 60.0
    """A `.jsonl` file's last line without a newline (a producer still writing it) is left for a
    later run until the file has not changed for this long, unless it already decodes as JSON."""
    sql_batch_size: int = 10_000
    """Rows fetched per query from a SQL source (more when rows share a watermark value)."""
    max_build_events: int = 500_000
    """New events compiled into one dataset version. A larger backlog (a backfill) becomes
    several versions, each an incremental build on the one before: a build holds about 3-4x
    the text of the events it compiles, so its memory is bounded by this, not by the backlog."""

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.golden_paths = [Path(p) for p in self.golden_paths]
        for name in ("max_event_bytes", "max_text_chars", "max_responses", "max_id_chars"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"IngestConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_responses < 2:
            raise ValueError("IngestConfig.max_responses must be >= 2")
        for name in ("batch_size", "sql_batch_size", "max_batch_bytes", "max_build_events"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"IngestConfig.{name} must be >= 1, got {getattr(self, name)}")
        if float(self.partial_line_wait_s) < 0:
            raise ValueError(
                f"IngestConfig.partial_line_wait_s must be >= 0, got {self.partial_line_wait_s}"
            )
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise ValueError(
                f"IngestConfig.val_fraction must be in [0, 1), got {self.val_fraction}"
            )

    @property
    def incoming_dir(self) -> Path:
        """Landing folder of feedback files (`.jsonl`, `.jsonl.gz`, `.parquet`)."""
        return self.home / "feedback" / "incoming"

    @property
    def quarantine_dir(self) -> Path:
        """Invalid events: a `batch-<hash>.jsonl` per ingest batch, a line per event with its
        reason and raw bytes (`raw_b64`)."""
        return self.home / "quarantine"

    @property
    def datasets_root(self) -> Path:
        """Versioned preference datasets: `vNNNNNN/{train,val}.parquet/` (folders of Parquet parts)
        + `manifest.json`."""
        return self.home / "datasets" / "preferences"

    @property
    def state_dir(self) -> Path:
        """Source cursors, the seen-event index and the accepted events (Parquet parts)."""
        return self.home / "feedback" / "state"

    @property
    def events_dir(self) -> Path:
        """Accepted, validated events as Parquet part files."""
        return self.state_dir / "events"
