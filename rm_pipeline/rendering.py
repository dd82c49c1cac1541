"""How a (prompt, response) pair becomes model input, identically in training and scoring.

The settings (`InputTemplate.to_dict()`) are stored in the reward card as `input_template`, so
an exported model always renders and truncates the way it was trained.

Truncation keeps the END of the conversation (tokenizer `truncation_side="left"`): the final
response is what the reward judges, so it is never cut away and no pair is ever dropped. When a
response alone is longer than `max_length`, its last tokens are kept and the prompt is gone.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

HH_TURN = re.compile(r"\n\n(Human|Assistant|System):")
HH_ROLES = {"Human": "user", "Assistant": "assistant", "System": "system"}
TRUNCATION_SIDE = "left"


@dataclass(frozen=True)
class InputTemplate:
    """Rendering settings stored with the model."""

    chat_template: bool = False  # render through the tokenizer's chat template
    add_special_tokens: bool = True  # let the tokenizer add CLS/SEP/BOS (off for chat output)
    append_eos: bool = False  # causal LMs without chat template: end the text with EOS
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | InputTemplate) -> InputTemplate:
        if isinstance(data, InputTemplate):
            return data
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"input_template: unknown setting(s) {', '.join(unknown)}")
        return cls(**data)


def make_template(tokenizer: Any, use_chat_template: bool = True) -> InputTemplate:
    """Pick the rendering for a tokenizer: its chat template if it has one, else plain text."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        return InputTemplate(chat_template=True, add_special_tokens=False, append_eos=False)
    eos_id = getattr(tokenizer, "eos_token_id", None)
    ids = tokenizer("x")["input_ids"]
    adds_eos = eos_id is not None and ids and ids[-1] == eos_id
    return InputTemplate(append_eos=eos_id is not None and not adds_eos)


def parse_hh(text: str) -> list[dict[str, str]]:
    """Split HH-style text (`\\n\\nHuman: ...\\n\\nAssistant: ...`) into chat messages."""
    parts = HH_TURN.split(text)
    messages = []
    if parts[0].strip():
        messages.append({"role": "system", "content": parts[0].strip()})
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append({"role": HH_ROLES[role], "content": content.strip()})
    if messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
        messages.pop()  # the open "Assistant:" turn the response fills
    return messages


def _messages_to_text(messages: list[dict[str, str]]) -> str:
    # The ingest renderer: chat prompts scored later read exactly like the training prompts.
    from feedback_ingest.render import render_messages

    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"prompt message {i}: expected an object with 'role' and 'content'")
    return render_messages(messages)


def _join(prompt: str, response: str) -> str:
    if prompt and response and not prompt[-1].isspace() and not response[0].isspace():
        return f"{prompt} {response}"
    return prompt + response


def render_input(
    prompt: str | list[dict[str, str]],
    response: str,
    template_settings: dict[str, Any] | InputTemplate,
    tokenizer: Any = None,
) -> str:
    """Render one (prompt, response) as the text the model reads.

    `prompt` is HH-style rendered text (`\\n\\nHuman: ...\\n\\nAssistant:`) or a list of
    `{"role", "content"}` messages; with `chat_template` on, both go through the tokenizer's
    chat template (HH text is parsed into messages first).
    """
    settings = InputTemplate.from_dict(template_settings)
    if not isinstance(response, str):
        raise ValueError(f"response must be a string, got {type(response).__name__}")
    if settings.chat_template:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("input_template uses a chat template but the tokenizer has none")
        messages = list(prompt) if isinstance(prompt, list) else parse_hh(prompt)
        messages.append({"role": "assistant", "content": response.strip()})
        return tokenizer.apply_chat_template(messages, tokenize=False)
    if isinstance(prompt, list):
        prompt = _messages_to_text(prompt)
    elif not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string or a list of messages, not {type(prompt)}")
    text = _join(prompt, response)
    if settings.append_eos:
        if tokenizer is None or tokenizer.eos_token is None:
            raise ValueError("input_template appends EOS but the tokenizer has no eos_token")
        text += tokenizer.eos_token
    return text


def encode_texts(
    tokenizer: Any, texts: list[str], max_length: int, template_settings: dict | InputTemplate
) -> list[list[int]]:
    """Token ids of rendered texts, truncated on the left to `max_length` (never dropped)."""
    settings = InputTemplate.from_dict(template_settings)
    previous = tokenizer.truncation_side
    tokenizer.truncation_side = TRUNCATION_SIDE
    try:
        encoded = tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            add_special_tokens=settings.add_special_tokens,
            return_attention_mask=False,
        )
    finally:
        tokenizer.truncation_side = previous
    return [list(ids) for ids in encoded["input_ids"]]


def encode_pairs(
    tokenizer: Any,
    prompts: list,
    responses: list[str],
    max_length: int,
    template_settings: dict | InputTemplate,
) -> list[list[int]]:
    """Render and encode (prompt, response) pairs in one batched tokenizer call."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    texts = [
        render_input(p, r, template_settings, tokenizer)
        for p, r in zip(prompts, responses, strict=True)
    ]
    return encode_texts(tokenizer, texts, max_length, template_settings)
