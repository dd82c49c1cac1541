"""`train_reward_model`: Bradley-Terry training of a reward model on preference pairs.

Layout under `output_dir`: `checkpoints/` (Trainer checkpoints; a re-run resumes from the last
one) and `model/` (the exported, self-contained folder; see `rm_pipeline.export`).

Multi-GPU: the same call runs under a distributed launcher, e.g.
`torchrun --nproc_per_node 4 my_train_script.py` or `accelerate launch my_train_script.py`
(DeepSpeed / FSDP through an accelerate config). Every process trains on its shard; rank 0
exports. `per_device_batch_size` is per process, so the effective batch is
`per_device_batch_size * gradient_accumulation_steps * world_size`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rm_pipeline import run_state
from rm_pipeline.card import RewardCard
from rm_pipeline.config import TrainConfig, resolve_device, resolve_precision
from rm_pipeline.perf import attention_for, device_kind, pad_multiple


@dataclass
class TrainResult:
    """What one training run produced."""

    export_dir: Path
    metrics: dict[str, Any]
    card: RewardCard
    checkpoint_dir: Path
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "export_dir": str(self.export_dir),
            "checkpoint_dir": str(self.checkpoint_dir),
            "metrics": dict(self.metrics),
            "card": self.card.to_dict(),
            "config": dict(self.config),
        }


def _training_arguments(
    config: TrainConfig, checkpoint_dir: Path, device: str, precision: str, has_val: bool
):
    from transformers import TrainingArguments

    strategy = "no"
    if has_val:
        strategy = "epoch" if config.save_steps is None else "steps"
    save_strategy = "epoch" if config.save_steps is None else "steps"
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of all updates
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        eval_strategy=strategy,
        save_strategy=save_strategy,
        eval_steps=config.save_steps,
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_val,
        metric_for_best_model="selection_score" if has_val else None,
        greater_is_better=True,
        logging_steps=config.logging_steps,
        logging_nan_inf_filter=False,  # our guard raises instead of hiding NaN
        report_to="none",
        disable_tqdm=not config.progress_bar,
        use_cpu=device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        remove_unused_columns=False,  # our collator's keys are not model arguments
        dataloader_num_workers=config.dataloader_num_workers,
        activation_checkpointing=config.gradient_checkpointing,  # transformers 5's name
        # Non-reentrant: works with frozen inputs (LoRA) and is what torch recommends.
        activation_checkpointing_kwargs={"use_reentrant": False},
    )


def _build_trainer(config, loaded, train_ds, val_ds, checkpoint_dir, device, precision, callbacks):
    from transformers import EarlyStoppingCallback, TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from rm_pipeline.data import PairCollator
    from rm_pipeline.trainer import MetricsBridge, RewardModelTrainer, pair_metrics

    has_val = val_ds is not None
    args = _training_arguments(config, checkpoint_dir, device, precision, has_val)
    trainer_callbacks = [c for c in callbacks if isinstance(c, TrainerCallback)]
    hooks = [c for c in callbacks if not isinstance(c, TrainerCallback)]
    for hook in hooks:
        if not callable(getattr(hook, "on_metrics", None)):
            raise ValueError(f"callback {hook!r} has no on_metrics(metrics, step, stage) method")
    if hooks:
        trainer_callbacks.append(MetricsBridge(hooks))
    if has_val and config.early_stopping_patience:
        trainer_callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    trainer = RewardModelTrainer(
        model=loaded.model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=PairCollator(
            loaded.tokenizer.pad_token_id,
            pad_multiple(device),
            max_width=config.max_length,
        ),
        processing_class=loaded.tokenizer,
        compute_metrics=pair_metrics,
        callbacks=trainer_callbacks,
        center_rewards_coefficient=config.center_rewards_coefficient,
    )
    if not config.progress_bar:
        trainer.remove_callback(PrinterCallback)
    return trainer


def _scoring_dtype(device: str):
    import torch

    if device_kind(device) == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def _val_metrics(rewards: np.ndarray, val_ds) -> dict[str, float]:
    """Accuracy (tie = wrong), loss and margin of the exported model on the val pairs."""
    n = len(val_ds)
    if n == 0:
        return {}
    margin = rewards[:n] - rewards[n:]
    per_pair = np.logaddexp(0.0, -(margin - val_ds.margins))  # -log sigmoid(x)
    return {
        "val_accuracy": float(np.mean(margin > 0)),
        "val_loss": float(np.mean(val_ds.weights * per_pair)),
        "val_mean_margin": float(np.mean(margin)),
    }


def last_complete_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest checkpoint that was fully written. A kill during a save leaves a folder
    without `trainer_state.json` (written last by the Trainer); resuming from it would crash
    every rerun, so it is skipped."""
    if not Path(checkpoint_dir).is_dir():
        return None
    done = [
        p
        for p in Path(checkpoint_dir).glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def train_reward_model(
    config: TrainConfig,
    train: pd.DataFrame,
    val: pd.DataFrame,
    output_dir: Path,
    dataset_version: str | None = None,
    callbacks: list | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train on `train`, early-stop on `val`, export to `output_dir/model`.

    `train`/`val` are pair frames (at least prompt, chosen, rejected; weight and margin used
    when present). `callbacks` takes `MetricsCallback` objects and/or transformers
    `TrainerCallback`s. With `resume`, a run restarts from the last checkpoint in
    `output_dir/checkpoints` (after a crash or kill), and re-running a finished run returns
    its stored result without training; without `resume`, it starts from scratch.
    """
    from transformers import set_seed

    from rm_pipeline.data import check_pairs_frame
    from rm_pipeline.modeling import load_backbone

    config.validate()
    check_pairs_frame(train, "train")
    check_pairs_frame(val, "val", allow_empty=True)
    output_dir = Path(output_dir)
    checkpoint_dir = output_dir / "checkpoints"
    config_dict = dataclasses.asdict(config)
    digest = run_state.fingerprint(
        {k: v for k, v in config_dict.items() if k not in run_state.COSMETIC_FIELDS}, train, val
    )
    if resume and (done := run_state.finished_result(output_dir, digest)) is not None:
        return TrainResult(
            Path(done["export_dir"]), done["metrics"], done["card"], checkpoint_dir, config_dict
        )
    run_state.prepare(output_dir, digest, resume)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)

    set_seed(config.seed)  # before loading: the new score head's init must be reproducible
    loaded = load_backbone(config)
    train_ds, val_ds = _encoded(config, loaded, train, val)
    trainer = _build_trainer(
        config, loaded, train_ds, val_ds, checkpoint_dir, device, precision, list(callbacks or [])
    )

    last = last_complete_checkpoint(checkpoint_dir) if resume else None
    start = time.perf_counter()
    with attention_for(device):
        output = trainer.train(resume_from_checkpoint=last)
    metrics = _run_metrics(trainer, output, time.perf_counter() - start, last, train_ds, val_ds)
    metrics.update(device=device, precision=precision)
    export_dir = output_dir / "model"
    card = None
    if trainer.is_world_process_zero():
        card = _export_model(
            trainer, loaded, train_ds, val_ds, config, export_dir, metrics, dataset_version
        )
        result = TrainResult(export_dir, metrics, card, checkpoint_dir, config_dict)
        run_state.record_result(output_dir, digest, result.to_dict())
    trainer.accelerator.wait_for_everyone()
    if card is None:
        card = RewardCard.load(export_dir)
    return TrainResult(export_dir, metrics, card, checkpoint_dir, config_dict)


def _encoded(config: TrainConfig, loaded, train: pd.DataFrame, val: pd.DataFrame):
    """(train dataset, val dataset sorted by length or None), tokenized as the model reads."""
    from rm_pipeline.data import encode_pair_frame

    encode = dict(
        tokenizer=loaded.tokenizer,
        max_length=config.max_length,
        template=loaded.template,
        use_margin=config.use_margin,
    )
    train_ds = encode_pair_frame(train, **encode)
    val_ds = encode_pair_frame(val, **encode).sorted_by_length() if len(val) else None
    return train_ds, val_ds


def _run_metrics(trainer, output, seconds: float, last: str | None, train_ds, val_ds) -> dict:
    """Throughput and progress of a finished `trainer.train()` (summed over processes)."""
    state = trainer.state
    world = max(1, trainer.args.world_size)
    pairs = trainer.pairs_trained * world
    tokens = int(trainer.tokens_trained.item()) * world
    return {
        "train_loss": float(output.training_loss),
        "pairs_trained": pairs,
        "tokens_trained": tokens,
        "pairs_per_s": pairs / seconds if seconds > 0 else 0.0,
        "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
        "epochs_run": float(state.epoch or 0.0),
        "steps": int(state.global_step),
        "stopped_early": bool(state.global_step < state.max_steps),
        "seconds": seconds,
        "resumed_from_step": int(Path(last).name.split("-")[-1]) if last else 0,
        "n_train": len(train_ds),
        "n_val": len(val_ds) if val_ds is not None else 0,
    }


def _export_model(trainer, loaded, train_ds, val_ds, config, export_dir, metrics, dataset_version):
    """Merge the adapters, score the val pairs (the train pairs without val) for the reward
    statistics and val metrics (added to `metrics`), and export; returns the card."""
    from rm_pipeline.export import export_reward_model, reward_stats
    from rm_pipeline.modeling import merged
    from rm_pipeline.scoring import score_token_ids

    model = merged(trainer.model)
    stat_ds = val_ds if val_ds is not None else train_ds
    rewards = score_token_ids(
        model,
        stat_ds.chosen_ids + stat_ds.rejected_ids,
        loaded.tokenizer.pad_token_id,
        config.eval_batch_size * 2,
        device=str(trainer.args.device).split(":")[0],
        autocast_dtype=_scoring_dtype(metrics["device"]),  # as RewardScorer will score
    )
    if val_ds is not None:
        metrics.update(_val_metrics(rewards, val_ds))
    return export_reward_model(
        model,
        loaded.tokenizer,
        export_dir,
        template=loaded.template,
        max_length=config.max_length,
        base_model=loaded.base_model,
        stats=reward_stats(rewards),
        dataset_version=dataset_version,
        train_metrics=metrics,
    )
