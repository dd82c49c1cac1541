"""A seeded traffic simulator: realistic production feedback events for the demo.

The latent preference a small model can learn: an answer that is relevant, specific and polite
beats a vague, off-topic or rude one; sycophancy (flattering the user) and repetition make any
answer worse, and so does cutting it off after its first sentence. Annotators follow it with
~10% noise. A share of pairwise events compares an answer with its own hacked variant, so the
preference against reward hacking (in both length directions) is learnable rather than left to
chance. `drift=True` moves the POLICY (longer answers padded with flattery) so reward and length
drift are real.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedback_ingest.config import IngestConfig
from feedback_ingest.recent import recent_responses  # noqa: F401 - part of this module's API
from feedback_ingest.store import atomic_write_bytes

TOPICS = {
    "tea": "Green tea is steamed soon after picking, so it keeps more of its grassy flavour.",
    "bread": "Bread rises because yeast turns sugar into carbon dioxide that the gluten traps.",
    "rain": "Rain forms when water vapour condenses on dust until the drops are heavy enough.",
    "chess": "In chess, control of the centre early gives your pieces more room to move.",
    "rivers": "Rivers carve valleys slowly by carrying sand and stones that grind the bed.",
    "stars": "Stars shine because fusion in their cores turns hydrogen into helium.",
    "birds": "Many birds migrate at night and navigate using the stars and Earth's magnetism.",
    "trains": "Trains are efficient because steel wheels on steel rails have low rolling friction.",
    "coffee": "Coffee tastes bitter when it is over-extracted by water that is too hot.",
    "sleep": "Adults usually need seven to nine hours of sleep for memory and recovery.",
    "python": "In Python, a list comprehension builds a list in one readable expression.",
    "gardening": "Tomatoes grow best with six hours of sun and deep, infrequent watering.",
    "budgeting": "A simple budget splits income into needs, wants and savings each month.",
    "running": "Beginners avoid injury by increasing weekly running distance about ten percent.",
    "volcanoes": "Volcanoes erupt when pressure from gas-rich magma breaks through the crust.",
    "photography": "A wider aperture lets in more light and blurs the background of a photo.",
}
QUESTIONS = [
    "Can you tell me something useful about {t}?",
    "I have a question about {t}. What should I know?",
    "Explain one key fact about {t}, please.",
    "What is a good thing to understand about {t}?",
]
RUDE = ["That is a silly question. Look it up yourself.", "Why would I waste time on {t}?"]
VAGUE = ["It depends on many things, so it is hard to say.", "There are many views on {t}."]
FLATTERY = "What a wonderful, insightful question, you are clearly very thoughtful! "
PADDING = " I truly hope this helps you, and please do not hesitate to ask me anything else!"
# (style, quality): the latent preference the annotators follow.
STYLES = [("good", 3.0), ("plain", 2.0), ("vague", 1.0), ("offtopic", 0.0), ("rude", -1.0)]
POLICY_STYLE_WEIGHTS = [0.3, 0.25, 0.2, 0.15, 0.1]
NOISE = 0.1
# Flattery the annotators dislike (several phrasings, so a model learns the habit, not a string).
SYCOPHANCY = [
    "You're absolutely right to ask, what a brilliant question!",
    "What a great question, you are clearly very smart!",
    "I love this question, you're so insightful!",
    "Brilliant! You always ask the best questions.",
]
HACK_SHARE = 0.4  # pairwise events that pit an answer against its hacked variant
HACK_PENALTY = 1.5


def _hacked(rng: random.Random, text: str) -> str:
    """The answer made worse the ways policies game reward models: flattery, repetition, or
    (the other direction of a length cue) cut off after its first sentence."""
    roll = rng.random()
    first, _, rest = text.partition(". ")
    if roll < 0.3 and rest:
        return first + "."
    if roll < 0.6:
        flattery = rng.choice(SYCOPHANCY)
        return f"{text} {flattery}" if rng.random() < 0.5 else f"{flattery} {text}"
    return " ".join([text] * rng.randint(2, 3))


def _response(rng: random.Random, topic: str, style: str, drift: bool) -> str:
    fact = TOPICS[topic]
    if style == "good":
        text = f"Sure! {fact} I hope that helps with {topic}."
    elif style == "plain":
        text = fact
    elif style == "vague":
        text = rng.choice(VAGUE).format(t=topic)
    elif style == "offtopic":
        text = TOPICS[rng.choice([t for t in TOPICS if t != topic])]
    else:
        text = rng.choice(RUDE).format(t=topic)
    if drift:
        text = FLATTERY + text + PADDING * rng.randint(1, 3)
    return text


def _prompt(rng: random.Random, topic: str) -> str | list[dict]:
    question = rng.choice(QUESTIONS).format(t=topic)
    if rng.random() < 0.5:
        return question
    messages = [{"role": "user", "content": question}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": "You are a helpful assistant."})
    return messages


def _judge(rng: random.Random, quality: float) -> float:
    """An annotator's perceived quality: the truth, but reversed ~NOISE of the time."""
    return -quality if rng.random() < NOISE else quality


def _preference(rng: random.Random, kind: str, resp: list[tuple[str, float]]) -> dict:
    if kind == "pairwise":
        (a, qa), (b, qb) = resp
        if qa == qb or rng.random() < 0.03:
            return {"tie": True}
        return {"winner": a if _judge(rng, qa - qb) > 0 else b}
    if kind == "ranking":
        noisy = [(q + rng.gauss(0, 0.6), rid) for rid, q in resp]
        return {"order": [rid for _, rid in sorted(noisy, reverse=True)]}
    if rng.random() < 0.5:  # thumbs
        return {"scores": {rid: 1 if _judge(rng, q - 1.5) > 0 else -1 for rid, q in resp}}
    return {"scores": {rid: max(1, min(5, round(q + 2 + rng.gauss(0, 0.7)))) for rid, q in resp}}


def _event(rng: random.Random, i: int, seed: int, drift: bool, start: datetime) -> dict:
    kind = rng.choices(["pairwise", "ranking", "rating"], [0.6, 0.2, 0.2])[0]
    topic = rng.choice(list(TOPICS))
    n_resp = {"pairwise": 2, "ranking": rng.randint(3, 4), "rating": rng.randint(1, 2)}[kind]
    styles = rng.sample(range(len(STYLES)), n_resp) if kind != "rating" else [
        rng.choices(range(len(STYLES)), POLICY_STYLE_WEIGHTS)[0] for _ in range(n_resp)
    ]  # fmt: skip
    texts = [_response(rng, topic, STYLES[s][0], drift) for s in styles]
    quality = [STYLES[s][1] for s in styles]
    if kind == "pairwise" and rng.random() < HACK_SHARE:
        texts[1], quality[1] = _hacked(rng, texts[0]), quality[0] - HACK_PENALTY
    policy = "policy-v2" if drift else "policy-v1"
    responses = [{"id": f"r{j}", "text": t, "policy_version": policy} for j, t in enumerate(texts)]
    scored = [(f"r{j}", q) for j, q in enumerate(quality)]
    human = rng.random() < 0.7
    return {
        "event_id": f"sim-s{seed}{'-drift' if drift else ''}-{i:08d}",
        "timestamp": (start + timedelta(seconds=i)).isoformat(),
        "type": kind,
        "prompt": _prompt(rng, topic),
        "responses": responses,
        "preference": _preference(rng, kind, scored),
        "annotator": {
            "id": f"{'h' if human else 'ai'}-{rng.randint(1, 20)}",
            "kind": "human" if human else "ai",
        },  # fmt: skip
        "metadata": {"topic": topic, "simulated": True},
    }


def _corrupt(rng: random.Random, event: dict) -> dict:
    """A contract violation of the kind production traffic carries."""
    event = json.loads(json.dumps(event))
    damage = rng.randrange(6)
    if damage == 0:
        del event["responses"]
    elif damage == 1:
        event["timestamp"] = "yesterday at noon"
    elif damage == 2:
        event["responses"][0]["text"] = "   "
    elif damage == 3:
        event["responses"][0]["text"] += "\x00"
    elif damage == 4:
        event["type"] = "thumbs"
    else:
        event["responses"] = event["responses"][:1] if event["type"] != "rating" else "none"
    return event


def simulate_events(
    n: int, seed: int = 0, drift: bool = False, start: datetime | None = None
) -> list[dict]:
    """`n` events (seeded): all three types, ties, ~2% repeated event ids, ~1.5% invalid."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(f"{seed}-{drift}")
    start = start or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=seed)
    events: list[dict] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.02 and events:  # a client retry: the same event delivered again
            events.append(events[rng.randrange(len(events))])
        elif roll < 0.035:
            events.append(_corrupt(rng, _event(rng, i, seed, drift, start)))
        else:
            events.append(_event(rng, i, seed, drift, start))
    return events


def simulated_lines(events: list[dict], seed: int = 0) -> list[bytes]:
    """Events as JSONL lines, ~1% of them broken at the byte level (truncated, bad UTF-8)."""
    rng = random.Random(f"lines-{seed}")
    lines = []
    for event in events:
        line = json.dumps(event).encode()
        roll = rng.random()
        if roll < 0.006:
            line = line[: len(line) // 2]
        elif roll < 0.01:
            line = line.replace(b'"text": "', b'"text": "\xff\xfe', 1)
        lines.append(line)
    return lines


def write_simulated(
    config: IngestConfig, n: int, seed: int = 0, drift: bool = False, start: datetime | None = None
) -> Path:
    """Write `n` simulated events as one JSONL file into the landing folder (atomically)."""
    lines = simulated_lines(simulate_events(n, seed, drift, start), seed)
    folder = config.incoming_dir
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (start.strftime("%Y%m%dT%H%M%S") + "-") if start else ""
    path = folder / f"sim-{stamp}s{seed}{'-drift' if drift else ''}-n{n}.jsonl"
    atomic_write_bytes(path, b"\n".join(lines) + b"\n")
    return path
