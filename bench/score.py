"""Scoring benchmark: `RewardScorer` vs naive batches, measured in one run.

Both score the same HH responses with the same exported MiniLM reward model under
`torch.inference_mode`; the naive baseline keeps the input order and pads every batch to
max_length (what a plain `tokenizer(..., padding="max_length")` loop does). RewardScorer sorts
by length and pads each batch to its own longest sequence. Prints responses/s of both, the
ratio (target >= 2x) and the largest reward difference (the two must agree). On CUDA it also
prints tokens/s and bf16 MFU.

    python bench/score.py               # 1024 responses
    python bench/score.py --limit 256   # quicker
    python bench/score.py --batch-size 128 --batch-tokens 32768   # the CUDA defaults
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rm_pipeline.config import default_backbone  # noqa: E402
from rm_pipeline.pairs_io import read_pairs_jsonl  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf"
MAX_LENGTH = 256


def export_untrained(folder: Path) -> Path:
    """An exported MiniLM reward model (random head: throughput does not depend on training)."""
    from transformers import set_seed

    from rm_pipeline.export import export_reward_model
    from rm_pipeline.modeling import load_reward_model, load_tokenizer
    from rm_pipeline.rendering import make_template

    set_seed(0)
    backbone = default_backbone()
    tokenizer = load_tokenizer(backbone)
    model = load_reward_model(backbone, tokenizer.pad_token_id)
    export_reward_model(
        model,
        tokenizer,
        folder,
        template=make_template(tokenizer),
        max_length=MAX_LENGTH,
        base_model=backbone,
        stats=(0.0, 1.0),
    )
    return folder


def naive_scores(scorer, prompts, responses, batch_size: int) -> np.ndarray:
    """Input order, every batch padded to max_length; same model, inference_mode, autocast."""
    import torch

    from rm_pipeline.rendering import render_input
    from rm_pipeline.scoring import _autocast

    template = scorer.card.input_template
    out = []
    with torch.inference_mode(), _autocast(scorer.device, scorer.autocast_dtype):
        for start in range(0, len(prompts), batch_size):
            texts = [
                render_input(p, r, template, scorer.tokenizer)
                for p, r in zip(
                    prompts[start : start + batch_size],
                    responses[start : start + batch_size],
                    strict=True,
                )
            ]
            scorer.tokenizer.truncation_side = "left"
            batch = scorer.tokenizer(
                texts,
                padding="max_length",
                truncation=True,
                max_length=MAX_LENGTH,
                return_tensors="pt",
            ).to(scorer.device)
            logits = scorer.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            out.append(logits.squeeze(-1).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def budget_text(max_tokens: int | None) -> str:
    if max_tokens is None:
        return "no token budget"
    return f"RewardScorer also <= {max_tokens:,} padded tokens per batch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1024, help="responses to score")
    parser.add_argument("--batch-size", type=int, help="rows per batch (default: by device)")
    parser.add_argument(
        "--batch-tokens", type=int, help="padded tokens per batch (default: by device)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (best counts)")
    args = parser.parse_args()

    import torch

    from rm_pipeline.scoring import RewardScorer

    pairs = read_pairs_jsonl(DATA / "harmless-feedback-pool.jsonl.gz")
    prompts = list(pairs["prompt"]) * 2
    responses = list(pairs["chosen"]) + list(pairs["rejected"])
    prompts, responses = prompts[: args.limit], responses[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_untrained(Path(tmp) / "model")
        scorer = RewardScorer.load(
            folder, batch_size=args.batch_size, max_batch_tokens=args.batch_tokens
        )
        batch = scorer.batch_size
        scorer.score_raw(prompts[:8], responses[:8])  # warm-up
        ours_s = naive_s = float("inf")
        for _ in range(args.repeats):  # interleaved, best of each: robust to a busy machine
            ours, seconds = timed(scorer.score_raw, prompts, responses)
            ours_s = min(ours_s, seconds)
            naive, seconds = timed(naive_scores, scorer, prompts, responses, batch)
            naive_s = min(naive_s, seconds)
        tokens = sum(len(ids) for ids in scorer.encode(prompts, responses))
        n_params = sum(p.numel() for p in scorer.model.parameters())
    n = len(responses)
    print(
        f"{n} responses, MiniLM, max_length {MAX_LENGTH}, batch {batch} "
        f"({budget_text(scorer.max_batch_tokens)}), "
        f"device {scorer.device}, torch threads {torch.get_num_threads()}, "
        f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', '(unset: on)')}"
    )
    print(f"RewardScorer (sorted, dynamic padding): {n / ours_s:.1f} responses/s")
    print(f"naive (input order, padded to max_length): {n / naive_s:.1f} responses/s")
    print(f"ratio: {naive_s / ours_s:.2f}x (target >= 2x)")
    print(f"max |reward difference|: {np.max(np.abs(ours - naive)):.2e}")
    mfu_text = "CUDA only"
    if torch.cuda.is_available():
        from rm_pipeline.perf import cuda_bf16_peak_flops, model_flops_utilisation

        device, peak = cuda_bf16_peak_flops()
        mfu = model_flops_utilisation(n_params, tokens / ours_s, peak, training=False)
        mfu_text = f"{mfu:.1%} on {device}" if mfu is not None else f"n/a on {device}"
    print(f"RewardScorer: {tokens / ours_s:,.0f} tokens/s, MFU {mfu_text}")


if __name__ == "__main__":
    main()
