"""The reward pyfunc: what it scores, and the input it refuses (the endpoint answers 400)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModelContext

from rm_pipeline.card import RewardCard, hash_folder
from rm_pipeline.mlflow_model import FOLDER_ARTIFACT, RewardModelPyfunc

PROMPT = "\n\nHuman: Name a river in France.\n\nAssistant:"
MESSAGES = [{"role": "user", "content": "Name a river in France."}]


@pytest.fixture(scope="module")
def pyfunc(tmp_path_factory, tiny_backbone_dir):
    """The pyfunc loaded from a tiny exported model, as MLflow loads it."""
    export = Path(shutil.copytree(tiny_backbone_dir, tmp_path_factory.mktemp("pyfunc") / "m"))
    card = RewardCard(base_model="tiny-bert", input_template={}, max_length=48)
    card.file_hashes = hash_folder(export)
    card.save(export)
    model = RewardModelPyfunc()
    model.load_context(PythonModelContext({FOLDER_ARTIFACT: str(export)}, {}))
    return model


def _predict(model, prompts, responses):
    return model.predict(None, pd.DataFrame({"prompt": prompts, "response": responses}))


def test_chat_message_prompts_are_scored_as_the_scorer_scores_them(pyfunc):
    served = _predict(pyfunc, [MESSAGES], [" The Loire."])["reward"]
    assert np.allclose(served, pyfunc.scorer.score_raw([MESSAGES], [" The Loire."]))
    # ... and not as the Python repr of the list (what a cast to str scored)
    as_repr = pyfunc.scorer.score_raw([str(MESSAGES)], [" The Loire."])
    assert not np.allclose(served, as_repr)


@pytest.mark.parametrize(
    ("prompt", "response", "named"),
    [
        (None, " The Loire.", "row 1, column 'prompt'"),
        (PROMPT, None, "row 1, column 'response'"),
        (PROMPT, 42, "row 1, column 'response'"),
        ([{"role": "user"}], " The Loire.", "row 1, column 'prompt'"),
        ([], " The Loire.", "row 1, column 'prompt'"),
        ({"role": "user", "content": "hi"}, " x", "row 1, column 'prompt'"),
    ],
)
def test_cells_that_are_not_text_or_messages_are_refused_naming_row_and_column(
    pyfunc, prompt, response, named
):
    with pytest.raises(MlflowException, match=named) as err:
        _predict(pyfunc, [PROMPT, prompt], [" The Seine.", response])
    assert err.value.get_http_status_code() == 400
