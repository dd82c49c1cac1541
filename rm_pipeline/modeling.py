"""Loading a backbone (or a champion to warm-start from) as a one-output reward model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_pipeline.card import RewardCard, verify_folder
from rm_pipeline.config import TrainConfig
from rm_pipeline.rendering import InputTemplate, make_template


@dataclass
class LoadedBackbone:
    """A model ready to train, with what the export needs to know about its origin."""

    model: Any
    tokenizer: Any
    template: InputTemplate
    base_model: str  # the original backbone (kept through warm starts)


def load_tokenizer(source: str) -> Any:
    """Tokenizer with a pad token (causal LMs: pad = eos)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"backbone {source}: tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_reward_model(source: str, pad_token_id: int) -> Any:
    """`AutoModelForSequenceClassification(num_labels=1)`, safetensors only, no remote code."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    # The freshly initialised score head is expected; its warning would only alarm users.
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity(logging.ERROR)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=1, use_safetensors=True, trust_remote_code=False
        )
    finally:
        hf_logging.set_verbosity(level)
    model.config.pad_token_id = pad_token_id
    return model


def _disable_dropout(model: Any) -> None:
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        task_type="SEQ_CLS",  # trains and saves the score head too (modules_to_save)
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
    )
    return get_peft_model(model, lora)


def load_backbone(config: TrainConfig) -> LoadedBackbone:
    """The model to train: `config.init_from` (a verified exported folder) or `config.backbone`."""
    if config.init_from:
        folder = Path(config.init_from)
        card = RewardCard.load(folder)
        verify_folder(folder, card)
        source, base_model = str(folder), card.base_model
        template = InputTemplate.from_dict(card.input_template)
    else:
        source, base_model, template = config.backbone, config.backbone, None
    tokenizer = load_tokenizer(source)
    if template is None:
        template = make_template(tokenizer, config.use_chat_template)
    model = load_reward_model(source, tokenizer.pad_token_id)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions and config.max_length > max_positions:
        raise ValueError(
            f"TrainConfig.max_length={config.max_length} exceeds the backbone's "
            f"max_position_embeddings={max_positions}"
        )
    if config.disable_dropout:
        _disable_dropout(model)
    if config.use_lora:  # after: LoRA's own dropout stays as configured
        model = _with_lora(model, config)
    return LoadedBackbone(model, tokenizer, template, base_model)


def merged(model: Any) -> Any:
    """A plain transformers model: LoRA adapters merged in, score head kept."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model
