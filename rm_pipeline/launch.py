"""The training entry point that users launch, on one process or many.

One process (CPU or one GPU)::

    python -m rm_pipeline.launch --datasets-root HOME/datasets/preferences --version v000003 \\
        --output-dir runs/v3 --set learning_rate=3e-5 --set num_epochs=2

Several GPUs on one machine (DDP, NCCL): the same command under torchrun::

    torchrun --nproc_per_node 4 -m rm_pipeline.launch --datasets-root ... --output-dir ...

Every rank loads the snapshot and trains on its share of each batch (Trainer + accelerate set
up the process group from torchrun's environment; CPU processes use gloo). Rank 0 exports the
model to `OUTPUT/model` and writes `OUTPUT/launch_result.json`; every rank writes
`OUTPUT/ranks/rank-N.json` with the parameter fingerprints it saw. `RankSyncCallback` compares
those fingerprints across ranks during training and stops the run if the replicas diverge.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from rm_pipeline.fileio import atomic_write_text


class RanksDivergedError(RuntimeError):
    """The model replicas of a distributed run hold different weights."""


def parameter_fingerprint(model: Any) -> str:
    """SHA-256 (32 hex) over every parameter's name and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        digest.update(name.removeprefix("module.").encode())
        digest.update(param.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


@dataclass
class RankSyncCallback(TrainerCallback):
    """Checks that all ranks hold identical weights every `every` steps and at the last step.

    A mismatch raises `RanksDivergedError` on every rank, so a broken DDP setup stops instead of
    exporting one replica's weights as if they were the model.
    """

    every: int = 0
    """Check every this many optimiser steps (0: only at epoch ends and the last step)."""
    checks: list[dict[str, Any]] = field(default_factory=list)

    def _check(self, model: Any, step: int) -> None:
        mine = parameter_fingerprint(model)
        dist = _dist()
        gathered = [mine]
        if dist is not None:
            gathered = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, mine)
        self.checks.append({"step": step, "fingerprint": mine, "ranks": gathered})
        if len(set(gathered)) != 1:
            raise RanksDivergedError(f"ranks hold different weights at step {step}: {gathered}")

    def on_step_end(self, args, state, control, model=None, **kwargs):
        last = state.max_steps and state.global_step >= state.max_steps
        if model is not None and (last or (self.every and state.global_step % self.every == 0)):
            self._check(model, state.global_step)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if model is not None and not any(c["step"] == state.global_step for c in self.checks):
            self._check(model, state.global_step)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings -> a dict; values are JSON when they parse (numbers, true, null)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected key=value")
        try:
            overrides[key.strip()] = json.loads(raw)
        except ValueError:
            overrides[key.strip()] = raw
    return overrides


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def launch(
    datasets_root: Path,
    version: str,
    output_dir: Path,
    config: Any,
    sync_every: int = 0,
) -> dict[str, Any]:
    """Train on snapshot `version` with `config` (a TrainConfig); returns this rank's summary."""
    from feedback_ingest.snapshots import load_snapshot
    from rm_pipeline.train import train_reward_model

    train, val = load_snapshot(Path(datasets_root), version)
    sync = RankSyncCallback(every=sync_every)
    result = train_reward_model(config, train, val, Path(output_dir), version, callbacks=[sync])
    dist = _dist()
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)
    own = {"rank": rank, "world_size": world, "sync_checks": sync.checks}
    _atomic_json(Path(output_dir) / "ranks" / f"rank-{rank}.json", own)
    summary = {**result.to_dict(), "world_size": world, "sync_checks": len(sync.checks)}
    if rank == 0:
        _atomic_json(Path(output_dir) / "launch_result.json", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rm_pipeline.launch", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--datasets-root", required=True, type=Path, help="datasets/preferences")
    parser.add_argument("--version", required=True, help="snapshot version, e.g. v000003")
    parser.add_argument("--output-dir", required=True, type=Path, help="checkpoints + model")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="TrainConfig field override (repeatable)")  # fmt: skip
    parser.add_argument("--sync-every", type=int, default=0,
                        help="compare rank weights every N steps (0: epoch ends)")  # fmt: skip
    args = parser.parse_args(argv)
    from feedback_ingest.snapshots import read_manifest
    from rm_pipeline.config import TrainConfig

    try:  # bad input is named before any process group or model is set up
        config = TrainConfig.from_dict(parse_overrides(args.set))
        read_manifest(args.datasets_root, args.version)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        parser.error(str(exc))
    launch(args.datasets_root, args.version, args.output_dir, config, args.sync_every)


if __name__ == "__main__":
    main()
