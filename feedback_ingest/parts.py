"""Snapshot splits as folders of immutable parts: `vN/{split}.parquet/part-vNNNNNN-KKK.parquet`.

A new version hard-links the parent's untouched parts (no copy, no rewrite), rewrites only the
parts that lose rows (pairs re-decided by new votes, prompts now in the golden set) and adds one
part of new pairs per split, so an incremental snapshot costs in proportion to what changed.
The folder keeps the `train.parquet` name: pyarrow, pandas, DuckDB and Spark read it as one
table. Versions written before parts existed (`train.parquet` a single file) still read.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedback_ingest import part_keys
from feedback_ingest.schema import PAIR_SCHEMA, SPLITS
from feedback_ingest.wide import narrowed, widened

MAX_PARTS = 32
"""More parts than this in a split and the new version merges its smallest parts, so reads stay
cheap; the rewrite then happens once per ~MAX_PARTS incremental versions."""
MAX_COMPACT_BYTES = 512 * 1024 * 1024
"""Uncompressed bytes that one compaction merges at most: it never reads a whole large split
into memory (a split of parts this big simply keeps more than MAX_PARTS of them)."""
# Dictionary pages only pay for the low-cardinality columns; on unique texts they cost time.
_DICTIONARY_COLUMNS = ["annotator_kind", "split"]
_IDS = ["pair_id", "prompt_hash"]


def split_files(version_dir: Path, split: str) -> list[Path]:
    """The part files of one split of a version, in order."""
    path = Path(version_dir) / f"{split}.parquet"
    if path.is_file():  # a version from before parts
        return [path]
    return sorted(path.glob("part-*.parquet")) if path.is_dir() else []


def read_split(version_dir: Path, split: str) -> pa.Table:
    """One split of a version as one Arrow table in the pair schema."""
    tables = [_read_part(p) for p in split_files(version_dir, split)]
    return pa.concat_tables(tables) if tables else PAIR_SCHEMA.empty_table()


def pair_ids(version_dir: Path) -> pa.ChunkedArray:
    """The `pair_id` of every row of a version, both splits (only that column is read)."""
    columns = [
        pq.read_table(path, columns=["pair_id"])["pair_id"].cast(pa.string())
        for split in SPLITS
        for path in split_files(version_dir, split)
    ]
    return pa.chunked_array([c for column in columns for c in column.chunks], pa.string())


def _read_part(path: Path) -> pa.Table:
    return pq.read_table(path, schema=PAIR_SCHEMA)


@dataclass
class SplitPlan:
    """What one split of the new version is made of."""

    linked: list[Path] = field(default_factory=list)  # parent parts kept as they are
    linked_keys: list[part_keys.Keys] = field(default_factory=list)  # their rows' keys
    written: list[pa.Table] = field(default_factory=list)  # rewritten parts, then new pairs
    rows: int = 0

    def link(self, path: Path, keys: part_keys.Keys) -> None:
        self.linked.append(path)
        self.linked_keys.append(keys)
        self.rows += len(keys[0])

    def add_table(self, table: pa.Table) -> None:
        if len(table):
            self.written.append(widened(table))  # parent rows and new pairs concatenate
            self.rows += len(table)


@dataclass
class ParentScan:
    """The parent's parts split into kept-as-is and affected, and the affected rows."""

    plans: dict[str, SplitPlan]
    touched_rows: pa.Table  # parent pairs that new votes re-decide (golden ones left out)
    golden_rows: int  # parent pairs whose prompt is now in the golden set


def scan_parent(parent_dir: Path | None, touched_ids: pa.Array, golden: pa.Array) -> ParentScan:
    """Find the parent rows that new votes touch or that the golden set now excludes. Parts
    whose keys (`part_keys`) match neither are kept without being opened; the others are read,
    id columns first, and compared on the full ids."""
    plans = {split: SplitPlan() for split in SPLITS}
    touched_tables, golden_rows = [], 0
    files = {s: split_files(parent_dir, s) if parent_dir else [] for s in SPLITS}
    index = _parent_index(parent_dir, files)
    touched_keys, golden_keys = np.unique(part_keys.key64(touched_ids)), part_keys.key64(golden)
    golden_keys.sort()
    for split in SPLITS:
        for path in files[split]:
            keys = index.get(_part_name(path)) if index else None
            if keys is not None and not part_keys.hits(keys, touched_keys, golden_keys):
                plans[split].link(path, keys)
                continue
            # A key match is a near-certain hit: read the part whole at once. Unindexed parts
            # are mostly kept, so their id columns are read first.
            table = _read_part(path) if keys is not None else pq.read_table(path, columns=_IDS)
            touched = pc.is_in(table["pair_id"], value_set=touched_ids)
            is_golden = pc.is_in(table["prompt_hash"], value_set=golden)
            drop = pc.or_(touched, is_golden)
            if not pc.any(drop).as_py():
                plans[split].link(path, keys if keys is not None else part_keys.table_keys(table))
                continue
            rows = table if keys is not None else _read_part(path)
            golden_rows += pc.sum(is_golden.cast(pa.int64())).as_py() or 0
            touched_tables.append(rows.filter(pc.and_(touched, pc.invert(is_golden))))
            plans[split].add_table(rows.filter(pc.invert(drop)))
    touched_rows = pa.concat_tables(touched_tables) if touched_tables else PAIR_SCHEMA.empty_table()
    return ParentScan(plans, touched_rows, int(golden_rows))


def _part_name(path: Path) -> str:
    """A part's path within its version (a pre-parts split file is its own name)."""
    return path.name if path.parent.suffix != ".parquet" else f"{path.parent.name}/{path.name}"


def _parent_index(parent_dir: Path | None, files: dict[str, list[Path]]) -> dict | None:
    names = [_part_name(p) for paths in files.values() for p in paths]
    return part_keys.read_index(parent_dir, names) if parent_dir and names else None


def compact(plan: SplitPlan) -> SplitPlan:
    """When the split has grown past MAX_PARTS parts: its smallest parts merged into one, up to
    MAX_COMPACT_BYTES in all; the other parts stay as they are (linked parts not even read)."""
    n_linked = len(plan.linked)
    if n_linked + len(plan.written) <= MAX_PARTS:
        return plan
    sizes = [_part_bytes(p) for p in plan.linked] + [t.nbytes for t in plan.written]
    chosen, total = set(), 0
    for i in sorted(range(len(sizes)), key=sizes.__getitem__):
        if total + sizes[i] > MAX_COMPACT_BYTES:
            break
        chosen.add(i)
        total += sizes[i]
    if len(chosen) < 2:
        return plan
    merged, tables = SplitPlan(), []
    for i, (path, keys) in enumerate(zip(plan.linked, plan.linked_keys, strict=True)):
        if i in chosen:
            tables.append(widened(_read_part(path)))
        else:
            merged.link(path, keys)
    for i, table in enumerate(plan.written, start=n_linked):
        if i in chosen:
            tables.append(table)
        else:
            merged.add_table(table)
    merged.add_table(pa.concat_tables(tables))
    return merged


def _part_bytes(path: Path) -> int:
    """A part's uncompressed size, from its footer (nothing else is read)."""
    meta = pq.ParquetFile(path).metadata
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def materialise(
    plans: dict[str, SplitPlan], version: str, tmp: Path, parent_hashes: dict[str, str]
) -> dict[str, str]:
    """Write the splits into the temporary version folder `tmp`: parent parts hard-linked (a
    copy where links are impossible), new parts written, then the keys of every part. Returns
    the known SHA-256 of the linked files by their path in the new version (the parent's
    manifest vouches for them)."""
    known, keys = {}, {}
    for split, plan in plans.items():
        folder = tmp / f"{split}.parquet"
        folder.mkdir(parents=True, exist_ok=True)
        for source, source_keys in zip(plan.linked, plan.linked_keys, strict=True):
            legacy = source.name == f"{split}.parquet"  # the parent's whole split in one file
            target = folder / (f"part-{source.parent.name}-000.parquet" if legacy else source.name)
            _link_or_copy(source, target)
            name, parent_name = _part_name(target), _part_name(source)
            if parent_name in parent_hashes:
                known[name] = parent_hashes[parent_name]
            keys[name] = source_keys
        for k, table in enumerate(plan.written):
            target = folder / f"part-{version}-{k:03d}.parquet"
            _write_part(table, target)
            keys[_part_name(target)] = part_keys.table_keys(table)
    part_keys.write_index(keys, tmp / part_keys.KEYS_FILE)
    return known


def _write_part(table: pa.Table, path: Path) -> None:
    """One part file in PAIR_SCHEMA, written slice by slice (texts may pass 2 GB in memory)."""
    options = {"compression": "snappy", "use_dictionary": _DICTIONARY_COLUMNS}
    with pq.ParquetWriter(path, PAIR_SCHEMA, **options) as writer:
        for piece in narrowed(table, PAIR_SCHEMA):
            writer.write_table(piece)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, target)
