"""Data expectations for preference-dataset snapshots, run with Great Expectations 1.x.

`validate_pairs` checks one frame of pairs (the snapshot schema of `feedback_ingest.schema`);
`validate_snapshot` loads a snapshot version first. Shares that a snapshot alone cannot show
(ties, quarantined events) are checked from counts the caller passes in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from feedback_ingest.schema import PAIR_COLUMNS
from validation.pair_checks import (
    ExpectationOutcome,
    frame_outcomes,
    share_outcomes,
    split_file_outcome,
)

__all__ = [
    "DataExpectationsConfig",
    "DataValidationResult",
    "ExpectationOutcome",
    "share_outcomes",
    "validate_pairs",
    "validate_snapshot",
]

TEXT_COLUMNS = ("prompt", "chosen", "rejected")
_TYPES = {
    "pair_id": "str",
    "prompt": "str",
    "chosen": "str",
    "rejected": "str",
    "annotator_kind": "str",
    "prompt_hash": "str",
    "split": "str",
    "weight": "float64",
    "agreement": "float64",
    "n_votes": "int64",
    "first_seen": "Timestamp",
}


@dataclass
class DataExpectationsConfig:
    """Thresholds of the dataset expectations; every default lives here."""

    min_rows: int = 1
    """Fewest pairs a snapshot may hold."""
    min_text_chars: int = 1
    """Shortest allowed prompt / chosen / rejected text (characters)."""
    max_prompt_chars: int = 32_000
    max_response_chars: int = 16_000
    allowed_annotator_kinds: tuple[str, ...] = ("human", "ai", "mixed")
    min_human_share: float = 0.0
    """Least share of pairs labelled only by humans (0 disables the check)."""
    max_ai_share: float = 1.0
    """Largest share of pairs labelled only by AI annotators (1 disables the check)."""
    max_tie_share: float = 0.5
    """Largest share of ties among the events read (needs counts 'events' and 'ties')."""
    max_quarantine_share: float = 0.25
    """Largest share of quarantined events (needs counts 'events' and 'quarantined')."""

    def __post_init__(self) -> None:
        shares = ("min_human_share", "max_ai_share", "max_tie_share", "max_quarantine_share")
        bad = [n for n in shares if not 0.0 <= getattr(self, n) <= 1.0]
        bad += [n for n in ("min_rows", "min_text_chars") if getattr(self, n) < 0]
        if bad:
            raise ValueError(f"DataExpectationsConfig: invalid value for {', '.join(bad)}")


@dataclass
class DataValidationResult:
    """All expectations of one validation run."""

    passed: bool
    results: list[ExpectationOutcome]
    counts: dict[str, int]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def summary(self) -> str:
        """One line per failed expectation (or a one-line pass) for logs and the CLI."""
        n = self.counts.get("rows", 0)
        if self.passed:
            return f"all {len(self.results)} expectations passed on {n} rows"
        lines = [f"{len(self.failures)} of {len(self.results)} expectations failed on {n} rows:"]
        for r in self.failures:
            where = f"({r.column})" if r.column else ""
            rows = f": {r.unexpected_count} rows" if r.unexpected_count else ""
            note = f" [{r.details['note']}]" if r.details.get("note") else ""
            lines.append(f"  - {r.name}{where}{rows}{note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _schema_expectations(present: list[str], config: DataExpectationsConfig) -> list[Any]:
    import great_expectations.expectations as gxe

    exps: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=config.min_rows)]
    exps += [gxe.ExpectColumnToExist(column=c) for c in PAIR_COLUMNS]
    exps += [
        gxe.ExpectColumnValuesToBeOfType(column=c, type_=_TYPES[c]) for c in present if c in _TYPES
    ]
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in present]
    for c in (c for c in TEXT_COLUMNS if c in present):
        top = config.max_prompt_chars if c == "prompt" else config.max_response_chars
        exps.append(
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=c, min_value=config.min_text_chars, max_value=top
            )
        )
        # a text of only whitespace has a length but says nothing
        note = {"note": "blank text (whitespace only)"}
        exps.append(gxe.ExpectColumnValuesToMatchRegex(column=c, regex=r"\S", meta=note))
    return exps


def _content_expectations(
    present: list[str], config: DataExpectationsConfig, golden: Collection[str]
) -> list[Any]:
    import great_expectations.expectations as gxe

    has = set(present).__contains__
    exps: list[Any] = []
    if has("chosen") and has("rejected"):  # "unique within record" means chosen != rejected
        exps.append(
            gxe.ExpectSelectColumnValuesToBeUniqueWithinRecord(column_list=["chosen", "rejected"])
        )
    if has("pair_id"):
        exps.append(gxe.ExpectColumnValuesToBeUnique(column="pair_id"))
    if has("agreement"):
        exps.append(gxe.ExpectColumnValuesToBeBetween(column="agreement", min_value=0, max_value=1))
    if has("weight"):
        exps.append(
            # ingest makes weight = 2 * agreement - 1, so 1 at most (this also refuses inf)
            gxe.ExpectColumnValuesToBeBetween(
                column="weight", min_value=0, strict_min=True, max_value=1
            )
        )
    if has("n_votes"):
        exps.append(gxe.ExpectColumnValuesToBeBetween(column="n_votes", min_value=1))
    if has("split"):
        exps.append(gxe.ExpectColumnValuesToBeInSet(column="split", value_set=["train", "val"]))
    if has("annotator_kind"):
        exps += _annotator_expectations(config)
    if golden and has("prompt_hash"):
        note = {"note": "golden prompt in the dataset"}
        exps.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column="prompt_hash", value_set=sorted(golden), meta=note
            )
        )
    return exps


def _annotator_expectations(config: DataExpectationsConfig) -> list[Any]:
    import great_expectations.expectations as gxe

    column = "annotator_kind"
    kinds = list(config.allowed_annotator_kinds)
    exps: list[Any] = [gxe.ExpectColumnValuesToBeInSet(column=column, value_set=kinds)]
    if config.min_human_share > 0:  # `mostly`: the share of rows that must match
        note = {"note": f"human share >= {config.min_human_share}"}
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=["human"], mostly=config.min_human_share, meta=note
            )
        )
    if config.max_ai_share < 1:
        note = {"note": f"ai share <= {config.max_ai_share}"}
        exps.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column=column, value_set=["ai"], mostly=1 - config.max_ai_share, meta=note
            )
        )
    return exps


def _run_gx(frame: pd.DataFrame, expectations: list[Any]) -> list[ExpectationOutcome]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # A fresh ephemeral context per run: suite names cannot be re-added to a context.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("pairs")
        .add_dataframe_asset("snapshot")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(name="preference_pairs", expectations=expectations)
    )
    definition = gx.ValidationDefinition(name="preference_pairs", data=batch, suite=suite)
    run = context.validation_definitions.add(definition).run(
        batch_parameters={"dataframe": frame}, result_format="SUMMARY"
    )
    return [_outcome(r) for r in run.results]


def _outcome(result: Any) -> ExpectationOutcome:
    cfg = result.expectation_config
    kwargs = cfg.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or None
    info = result.result or {}
    details: dict[str, Any] = {}
    if cfg.meta and cfg.meta.get("note"):
        details["note"] = cfg.meta["note"]
    if "observed_value" in info:
        details["observed_value"] = str(info["observed_value"])
    if "unexpected_percent" in info:
        details["unexpected_percent"] = float(info["unexpected_percent"] or 0.0)
    if "partial_unexpected_index_list" in info:
        details["example_rows"] = [int(i) for i in info["partial_unexpected_index_list"][:5]]
    error = (result.exception_info or {}).get("exception_message")
    if error:
        details["error"] = str(error)
    unexpected = info.get("unexpected_count")
    return ExpectationOutcome(
        name=cfg.type,
        column=column,
        success=bool(result.success),
        unexpected_count=int(unexpected) if unexpected is not None else None,
        details=details,
    )


def validate_pairs(
    pairs: pd.DataFrame,
    config: DataExpectationsConfig | None = None,
    golden_prompt_hashes: Collection[str] = (),
    counts: Mapping[str, int] | None = None,
) -> DataValidationResult:
    """Run the dataset expectations on a frame of preference pairs.

    `golden_prompt_hashes`: prompt hashes of the golden set, which must not appear in the data.
    `counts`: optional event counts with keys 'events', 'ties', 'quarantined' for the shares.
    """
    config = config or DataExpectationsConfig()
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError(f"pairs: expected a DataFrame, got {type(pairs).__name__}")
    frame = pairs.reset_index(drop=True)
    return _result(frame, _outcomes(frame, config, golden_prompt_hashes, counts))


def _outcomes(
    frame: pd.DataFrame,
    config: DataExpectationsConfig,
    golden_prompt_hashes: Collection[str],
    counts: Mapping[str, int] | None,
) -> list[ExpectationOutcome]:
    present = [c for c in PAIR_COLUMNS if c in frame.columns]
    expectations = _schema_expectations(present, config)
    expectations += _content_expectations(present, config, set(golden_prompt_hashes))
    results = _run_gx(frame, expectations)
    results += frame_outcomes(frame)
    results += share_outcomes(counts or {}, config)
    return results


def _result(frame: pd.DataFrame, results: list[ExpectationOutcome]) -> DataValidationResult:
    failed = sum(not r.success for r in results)
    summary_counts = {"rows": len(frame), "expectations": len(results), "failed": failed}
    return DataValidationResult(passed=failed == 0, results=results, counts=summary_counts)


def validate_snapshot(
    datasets_root: Path | str,
    version: str,
    config: DataExpectationsConfig | None = None,
    golden_prompt_hashes: Collection[str] = (),
    counts: Mapping[str, int] | None = None,
) -> DataValidationResult:
    """Load snapshot `version` (train + val) and validate it, each row's `split` against the
    file it was read from too.

    The tie share comes from the manifest (ties among the events that built this version);
    `counts` from the caller (e.g. the ingest report's 'quarantined') override it.
    """
    from feedback_ingest.snapshots import load_snapshot, read_manifest

    root = Path(datasets_root)
    manifest_counts = read_manifest(root, version).get("counts") or {}
    merged = {
        ours: int(manifest_counts[theirs])
        for ours, theirs in (("events", "new_events"), ("ties", "ties"))
        if isinstance(manifest_counts.get(theirs), int)
    }
    merged.update(counts or {})
    train, val = load_snapshot(root, version)
    frame = pd.concat([train, val], ignore_index=True)
    results = _outcomes(frame, config or DataExpectationsConfig(), golden_prompt_hashes, merged)
    return _result(frame, [*results, split_file_outcome(train, val)])
