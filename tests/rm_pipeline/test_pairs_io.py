"""Reading pairs from JSONL: explicit pairs and HH transcripts."""

from __future__ import annotations

import gzip
import json
from itertools import islice

import pytest

from rm_pipeline.pairs_io import read_pairs_jsonl, split_hh_pair
from tests.conftest import SHARED_DATA


def test_hh_transcripts_split_at_the_last_shared_assistant_turn():
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: tea?\n\nAssistant: Yes, green."
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: tea?\n\nAssistant: No."
    prompt, c, r = split_hh_pair(chosen, rejected)
    assert prompt == "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: tea?\n\nAssistant:"
    assert (c, r) == (" Yes, green.", " No.")
    with pytest.raises(ValueError, match="no shared"):
        split_hh_pair("a", "b")


def test_reads_hh_gzip_and_explicit_jsonl(tmp_path):
    path = tmp_path / "pool.jsonl.gz"
    with gzip.open(SHARED_DATA / "harmless-golden.jsonl.gz", "rt") as src:
        lines = list(islice(src, 20))
    with gzip.open(path, "wt") as dst:
        dst.writelines(lines)
    frame = read_pairs_jsonl(path)
    assert len(frame) == 20
    assert frame["prompt"].str.endswith("\n\nAssistant:").all()
    assert (frame["prompt"] + frame["chosen"]).tolist() == [json.loads(x)["chosen"] for x in lines]

    explicit = tmp_path / "pairs.jsonl"
    explicit.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "weight": 2}))
    assert read_pairs_jsonl(explicit).iloc[0].to_dict() == {
        "prompt": "p",
        "chosen": "a",
        "rejected": "b",
        "weight": 2,
    }


def test_bad_lines_are_located(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not valid JSON"):
        read_pairs_jsonl(path)
    path.write_text('{"prompt": "p", "chosen": 1, "rejected": "b"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: field 'chosen' must be a string"):
        read_pairs_jsonl(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no pairs"):
        read_pairs_jsonl(path)
