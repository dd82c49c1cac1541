"""What the reward endpoint refuses: bodies or row counts over its limits (413), input it cannot
parse or score (400), each before any scoring and without a 500."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient
from rm_helpers import add_version

from rm_pipeline.promotion import promote
from rm_pipeline.serving import ChampionModel, build_app

PROMPT = "\n\nHuman: Name a river in France.\n\nAssistant:"


@pytest.fixture(scope="module")
def champion(store):
    """The endpoint's model: the module's tiny model, champion of its own registered name."""
    cfg = dataclasses.replace(store[0], model_name="rm-serving-requests")
    add_version(cfg, store)
    promote(cfg, "1", expected_champion=None)
    model = ChampionModel(cfg)
    assert model.refresh()
    yield model
    model.close()


def _records(n: int, prompt=PROMPT, response=" The Loire.") -> dict:
    return {"dataframe_records": [{"prompt": prompt, "response": response}] * n}


def test_bodies_and_row_counts_over_the_limits_are_refused_413(champion):
    client = TestClient(build_app(champion, max_body_bytes=4096, max_rows=3))
    assert client.post("/invocations", json=_records(3)).status_code == 200
    rows = client.post("/invocations", json=_records(4))
    assert rows.status_code == 413 and "4 rows" in rows.json()["message"], rows.text
    split = {"dataframe_split": {"columns": ["prompt", "response"], "data": [[PROMPT, " x"]] * 4}}
    assert client.post("/invocations", json=split).status_code == 413
    big = json.dumps(_records(1, response=" x" * 4096)).encode()
    assert client.post("/invocations", content=big,
                       headers={"content-type": "application/json"}).status_code == 413  # fmt: skip
    chunked = client.post(  # no Content-Length: the limit holds while reading
        "/invocations",
        content=iter([big[:2000], big[2000:]]),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413 and "4096 bytes" in chunked.json()["message"]


def test_unparseable_or_unscorable_input_is_answered_400(champion):
    client = TestClient(build_app(champion), raise_server_exceptions=False)
    deep = b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    nested = client.post("/invocations", content=deep, headers={"content-type": "application/json"})
    assert nested.status_code == 400 and "RecursionError" in nested.json()["message"]
    null = client.post("/invocations", json=_records(1, prompt=None))
    assert null.status_code == 400 and "row 0, column 'prompt'" in null.json()["message"]


@pytest.mark.parametrize("limits", [{"max_rows": 0}, {"max_body_bytes": 1.5}])
def test_limits_must_be_positive_integers(champion, limits):
    with pytest.raises(ValueError, match=next(iter(limits))):
        build_app(champion, **limits)
