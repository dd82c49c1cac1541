"""Training benchmark: rm_pipeline's trainer vs TRL's RewardTrainer, measured in one run.

Same backbone (bundled MiniLM), same pairs (harmless-feedback-pool), same learning rate and
linear schedule with warmup, max_length 256, batch 8 (--batch), one epoch; TRL otherwise at its
defaults (bf16 autocast, gradient checkpointing, drops pairs over max_length).
Prints pairs/s of each (pairs actually trained), the ratio, and pairwise accuracy on
harmless-golden for both.
On CUDA it also prints tokens/s and bf16 MFU.

    python bench/train.py                 # full run (~10 min on 2 CPU cores)
    python bench/train.py --limit 200     # quick look on the first 200 pairs
    python bench/train.py --only ours     # tune our trainer without the TRL baseline
    python bench/train.py --checkpointing # ours with gradient checkpointing too (like for like)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from rm_pipeline.config import TrainConfig, default_backbone  # noqa: E402
from rm_pipeline.pairs_io import read_pairs_jsonl  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf"
MAX_LENGTH = 256


class TrainClock:
    """Wall and process-CPU seconds from the start of `Trainer.train()` to its last optimiser
    step (checkpoint writing, which only our trainer does here, is left out). CPU seconds per
    pair are the fairer measure when other jobs share the cores."""

    def __init__(self):
        from transformers import TrainerCallback

        clock = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.start = (time.perf_counter(), time.process_time())

            def on_step_end(self, args, state, control, **kwargs):
                clock.wall = time.perf_counter() - clock.start[0]
                clock.cpu = time.process_time() - clock.start[1]

        self.callback = _Callback()
        self.wall = self.cpu = float("nan")


def golden_accuracy_of(model, tokenizer, golden: pd.DataFrame, suffix: str, special: bool) -> float:
    """Accuracy (tie = wrong) of an in-memory model, keep-the-end truncation for both trainers."""
    import numpy as np

    from rm_pipeline.rendering import InputTemplate, encode_pairs
    from rm_pipeline.scoring import score_token_ids

    template = InputTemplate(add_special_tokens=special)
    prompts = list(golden["prompt"])
    ids = encode_pairs(
        tokenizer,
        prompts + prompts,
        [r + suffix for r in list(golden["chosen"]) + list(golden["rejected"])],
        MAX_LENGTH,
        template,
    )
    device = next(model.parameters()).device.type
    rewards = score_token_ids(model, ids, tokenizer.pad_token_id, 64, device=device)
    n = len(golden)
    return float(np.mean(rewards[:n] > rewards[n:]))


def run_ours(train: pd.DataFrame, golden: pd.DataFrame, args, workdir: Path) -> dict:
    from rm_pipeline.evaluate import evaluate_pairs
    from rm_pipeline.scoring import RewardScorer
    from rm_pipeline.train import train_reward_model

    config = TrainConfig(
        backbone=default_backbone(),
        max_length=MAX_LENGTH,
        per_device_batch_size=args.batch,
        num_epochs=1,
        learning_rate=args.lr,
        warmup_ratio=args.warmup,
        precision=args.precision,
        seed=args.seed,
        progress_bar=False,
        early_stopping_patience=None,
        gradient_checkpointing=args.checkpointing,
    )
    clock = TrainClock()
    result = train_reward_model(
        config, train, train.iloc[:0], workdir / "ours", callbacks=[clock.callback], resume=False
    )
    scorer = RewardScorer.load(result.export_dir)
    accuracy = evaluate_pairs(scorer, golden).accuracy
    m = result.metrics
    return {
        "pairs": m["pairs_trained"],
        "seconds": clock.wall,
        "cpu_seconds": clock.cpu,
        "pairs_per_s": m["pairs_trained"] / clock.wall,
        "tokens_per_s": m["tokens_per_s"],
        "golden_accuracy": accuracy,
        "n_params": sum(p.numel() for p in scorer.model.parameters()),
        "precision": m["precision"],
        "gradient_checkpointing": config.gradient_checkpointing,
    }


def run_trl(train: pd.DataFrame, golden: pd.DataFrame, args, workdir: Path) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    backbone = default_backbone()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    dataset = datasets.Dataset.from_pandas(
        train[["prompt", "chosen", "rejected"]].reset_index(drop=True)
    )
    config = RewardConfig(
        output_dir=str(workdir / "trl"),
        max_length=MAX_LENGTH,
        per_device_train_batch_size=args.batch,
        num_train_epochs=1,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=args.warmup,
        seed=args.seed,
        eos_token=tokenizer.sep_token,  # BERT has no EOS (see STACK_NOTES)
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    clock = TrainClock()
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[clock.callback],
    )
    trained = len(trainer.train_dataset)
    tokens = sum(len(x["chosen_ids"]) + len(x["rejected_ids"]) for x in trainer.train_dataset)
    trainer.train()
    seconds = clock.wall
    accuracy = golden_accuracy_of(trainer.model, tokenizer, golden, tokenizer.sep_token, True)
    return {
        "pairs": trained,
        "dropped": len(train) - trained,
        "seconds": seconds,
        "cpu_seconds": clock.cpu,
        "pairs_per_s": trained / seconds,
        "tokens_per_s": tokens / seconds,
        "golden_accuracy": accuracy,
        "n_params": sum(p.numel() for p in trainer.model.parameters()),
        "precision": "bf16" if config.bf16 else "fp32",
        "gradient_checkpointing": config.gradient_checkpointing,
    }


def cuda_line(name: str, stats: dict) -> str:
    from rm_pipeline.perf import cuda_bf16_peak_flops, model_flops_utilisation

    device, peak = cuda_bf16_peak_flops()
    mfu = model_flops_utilisation(stats["n_params"], stats["tokens_per_s"], peak, training=True)
    mfu_text = f"{mfu:.1%}" if mfu is not None else "n/a (unknown peak)"
    return f"  {name}: {stats['tokens_per_s']:,.0f} tokens/s, MFU {mfu_text} on {device}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="train on the first N pairs")
    parser.add_argument("--golden-limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=8, help="per-device batch, both trainers")
    parser.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--warmup", type=float, default=TrainConfig.warmup_ratio)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--precision",
        default="bf16",
        help="ours: auto|fp32|bf16; bf16 by default to match TRL's default bf16 autocast",
    )
    parser.add_argument("--only", choices=["ours", "trl"], default=None)
    parser.add_argument(
        "--checkpointing",
        action="store_true",
        help="ours with gradient checkpointing too, as TRL runs by default (like for like)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads; 1 makes CPU-time figures immune to other jobs on the cores",
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    train = read_pairs_jsonl(DATA / "harmless-feedback-pool.jsonl.gz")
    golden = read_pairs_jsonl(DATA / "harmless-golden.jsonl.gz")
    train = train.head(args.limit) if args.limit else train
    golden = golden.head(args.golden_limit) if args.golden_limit else golden
    print(f"load average before: {os.getloadavg()}")
    print(
        f"pairs: {len(train)} train, {len(golden)} golden; MiniLM, max_length {MAX_LENGTH}, "
        f"batch {args.batch}, lr {args.lr}, warmup {args.warmup}, 1 epoch; "
        f"torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, runner in (("ours", run_ours), ("trl", run_trl)):
            if args.only and args.only != name:
                continue
            results[name] = runner(train, golden, args, Path(tmp))
            r = results[name]
            extra = f", dropped {r['dropped']}" if "dropped" in r else ""
            print(
                f"{name:>4}: {r['pairs']} pairs in {r['seconds']:.1f} s = "
                f"{r['pairs_per_s']:.2f} pairs/s, {r['pairs'] / r['cpu_seconds']:.2f} pairs per "
                f"CPU-second ({r['precision']}, gradient checkpointing "
                f"{'on' if r['gradient_checkpointing'] else 'off'}{extra}); "
                f"golden accuracy {r['golden_accuracy']:.3f}",
                flush=True,
            )
    if len(results) == 2:
        ratio = results["ours"]["pairs_per_s"] / results["trl"]["pairs_per_s"]
        delta = results["ours"]["golden_accuracy"] - results["trl"]["golden_accuracy"]
        cpu_ratio = (results["ours"]["pairs"] / results["ours"]["cpu_seconds"]) / (
            results["trl"]["pairs"] / results["trl"]["cpu_seconds"]
        )
        print(
            f"speed ratio ours/TRL: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU time (target >= 1.5x)"
        )
        print(f"golden accuracy ours - TRL: {delta:+.3f} (target >= 0)")
    print(f"load average after: {os.getloadavg()} (other jobs on the cores skew wall times)")
    for name, stats in results.items():  # tokens/s everywhere; MFU needs a known GPU peak
        print(cuda_line(name, stats) if torch.cuda.is_available() else
              f"  {name}: {stats['tokens_per_s']:,.0f} tokens/s (MFU: CUDA only)")  # fmt: skip


if __name__ == "__main__":
    main()
