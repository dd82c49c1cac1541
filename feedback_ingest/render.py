"""Render a prompt (text or chat messages) into HH-RLHF transcript text.

One renderer for every source, so that the golden exclusion by `prompt_hash` matches prompts
whether they arrived as HH transcripts, plain text or chat messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
HUMAN_BARE = HUMAN.strip()
ROLE_LABELS = {"user": "Human", "human": "Human", "assistant": "Assistant", "system": "System"}


def render_messages(messages: Sequence[Mapping[str, str]]) -> str:
    """`[{"role", "content"}, ...]` -> `\\n\\nHuman: ...\\n\\nAssistant:` (awaiting the reply)."""
    parts = []
    for message in messages:
        label = ROLE_LABELS.get(str(message["role"]).lower())
        if label is None:
            raise ValueError(f"unknown role {message['role']!r}")
        parts.append(f"\n\n{label}: {str(message['content']).strip()}")
    parts.append(ASSISTANT)
    return "".join(parts)


def render_prompt(prompt: str | Sequence[Mapping[str, str]]) -> str:
    """The rendered prompt text: HH transcripts kept as they are, plain text as one Human turn."""
    if isinstance(prompt, str):
        text = prompt.strip()
        # Judged on the stripped text: " \n\nHuman: hi" is the transcript "\n\nHuman: hi" (and
        # must hash as its golden copy does), not a plain prompt rendered "Human: Human: hi".
        if text.startswith(HUMAN_BARE):
            rendered = prompt if prompt.startswith(HUMAN) else "\n\n" + prompt.lstrip()
            rendered = rendered.rstrip()
            return rendered if rendered.endswith(ASSISTANT) else rendered + ASSISTANT
        return f"{HUMAN} {text}{ASSISTANT}"
    return render_messages(prompt)
