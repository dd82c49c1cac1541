"""Input rendering and keep-the-end truncation."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from feedback_ingest.render import render_messages
from rm_pipeline.rendering import (
    InputTemplate,
    encode_pairs,
    make_template,
    parse_hh,
    render_input,
)

PROMPT = "\n\nHuman: What is tea?\n\nAssistant:"
CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone_dir):
    return AutoTokenizer.from_pretrained(tiny_backbone_dir)


def test_text_prompt_and_response_are_joined_with_one_space(tokenizer):
    text = InputTemplate()
    assert render_input(PROMPT, " A drink.", text, tokenizer) == PROMPT + " A drink."
    assert render_input(PROMPT, "A drink.", text, tokenizer) == PROMPT + " A drink."
    assert render_input(PROMPT, "A drink.", text.to_dict()) == PROMPT + " A drink."


def test_chat_messages_render_like_ingest_when_tokenizer_has_no_template(tokenizer):
    messages = [{"role": "user", "content": "What is tea?"}]
    template = make_template(tokenizer)
    assert template == InputTemplate()  # BERT: no chat template, CLS/SEP added by tokenizer
    assert render_input(messages, " A drink.", template, tokenizer) == (
        render_messages(messages) + " A drink."
    )
    assert render_input(messages, " A drink.", template) == render_input(
        PROMPT, " A drink.", template
    )


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_backbone_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone_dir)
    tokenizer.chat_template = CHAT_TEMPLATE
    template = make_template(tokenizer)
    assert template.chat_template and not template.add_special_tokens
    expected = "<|user|>What is tea?\n<|assistant|>A drink.\n"
    assert render_input(PROMPT, " A drink.", template, tokenizer) == expected
    messages = [{"role": "user", "content": "What is tea?"}]
    assert render_input(messages, "A drink.", template, tokenizer) == expected
    assert make_template(tokenizer, use_chat_template=False) == InputTemplate()
    with pytest.raises(ValueError, match="tokenizer has none"):
        render_input(PROMPT, "x", template, None)


def test_parse_hh_splits_turns_and_drops_the_open_assistant_turn():
    text = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: tea?\n\nAssistant:"
    assert parse_hh(text) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "tea?"},
    ]


def test_bad_inputs_name_the_problem(tokenizer):
    with pytest.raises(ValueError, match="unknown setting"):
        InputTemplate.from_dict({"chat_template": False, "colour": "red"})
    with pytest.raises(ValueError, match="response must be a string"):
        render_input(PROMPT, None, InputTemplate())
    with pytest.raises(ValueError, match="'role' and 'content'"):
        render_input([{"text": "hi"}], "x", InputTemplate())
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        encode_pairs(tokenizer, [PROMPT, PROMPT], ["x"], 16, InputTemplate())


def test_long_inputs_keep_the_end_and_are_never_dropped(tokenizer):
    long_prompt = "\n\nHuman: " + " ".join(f"filler{i}" for i in range(400)) + "?\n\nAssistant:"
    responses = [" The answer is apples.", " The answer is bread.", " Short."]
    ids = encode_pairs(tokenizer, [long_prompt] * 3, responses, 24, InputTemplate())
    assert len(ids) == 3 and all(len(x) == 24 for x in ids)
    tokens = [tokenizer.convert_ids_to_tokens(x) for x in ids]
    assert all(t[0] == "[CLS]" and t[-1] == "[SEP]" for t in tokens)
    assert tokens[0][-3:-1] == ["apples", "."] and tokens[1][-3:-1] == ["bread", "."]
    assert ids[0] != ids[1]  # pairs that differ at the end stay different after truncation
    text = tokenizer.decode(ids[0])
    assert "filler399?" in text.replace(" ", "") and "filler0filler1" not in text.replace(" ", "")


def test_a_response_longer_than_max_length_keeps_its_end(tokenizer):
    response = " " + " ".join(f"step{i}" for i in range(100)) + " done"
    ids = encode_pairs(tokenizer, [PROMPT], [response], 16, InputTemplate())[0]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == 16 and tokens[-2] == "done" and "tea" not in tokens


def test_truncation_side_of_the_tokenizer_is_restored(tokenizer):
    tokenizer.truncation_side = "right"
    encode_pairs(tokenizer, [PROMPT], [" x"], 8, InputTemplate())
    assert tokenizer.truncation_side == "right"


def test_causal_tokenizer_without_chat_template_appends_eos(tiny_backbone_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone_dir)
    tokenizer.eos_token = "[SEP]"
    tokenizer.add_special_tokens({"eos_token": "[unused1]"})
    template = make_template(tokenizer)
    assert template.append_eos
    assert render_input(PROMPT, " ok", template, tokenizer).endswith(" ok[unused1]")
