"""The reward model as an MLflow model, and the evaluation that travels with its run.

Why a custom pyfunc and not `mlflow.transformers`: the transformers flavour wraps a
`text-classification` pipeline that scores ONE text, applies a sigmoid to `num_labels=1` unless
told otherwise, truncates on the right and knows nothing of our prompt/response template or the
card's normalisation, so its scores would silently differ from training; its default requirements
also pull torchvision (no CPU build here). This pyfunc keeps the exported folder (merged
safetensors model, tokenizer, `reward_card.json` with file hashes) as an artifact and scores
through `rm_pipeline.scoring.RewardScorer`, exactly as training and the PPO loader do.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow.pyfunc

from rm_pipeline.card import CARD_FILE, RewardCard
from rm_pipeline.tracking import (
    MAX_TAG_CHARS,
    RegistryConfig,
    as_plain_dict,
    log_files,
    log_json,
    log_metrics,
    mlflow_client,
    param_value,
)

ARTIFACT_PATH = "reward_model"  # where the MLflow model lives inside the run's artifacts
FOLDER_ARTIFACT = "reward_model_folder"  # the exported HF folder inside the MLflow model
INPUT_COLUMNS = ("prompt", "response")
OUTPUT_COLUMNS = ("reward", "reward_normalized")


class RewardModelPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc over RewardScorer: (prompt, response) rows -> (reward, reward_normalized) rows."""

    # No predict() type hints: the explicit signature validates input. This flag (MLflow's own,
    # used by ChatModel) skips the hint wrapper that only warns about their absence.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from rm_pipeline.scoring import RewardScorer

        self.scorer = RewardScorer.load(Path(context.artifacts[FOLDER_ARTIFACT]))

    def predict(self, context, model_input, params=None):
        import pandas as pd

        frame = pd.DataFrame(model_input)
        missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"reward model input: missing column(s) {', '.join(missing)}")
        # Checked cell by cell: a cast to str would score None as "None" and a message list as
        # its Python repr, answering 200 with a reward for text nobody sent.
        prompts = [_checked_prompt(v, i) for i, v in enumerate(frame["prompt"].tolist())]
        responses = [_checked_response(v, i) for i, v in enumerate(frame["response"].tolist())]
        raw, normalized = self.scorer.score_both(prompts, responses)
        return pd.DataFrame({"reward": raw, "reward_normalized": normalized}, index=frame.index)


def _invalid(row: int, column: str, expected: str, value: Any):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(
        f"reward model input: row {row}, column '{column}': expected {expected}, "
        f"got {type(value).__name__}",
        error_code=INVALID_PARAMETER_VALUE,  # the scoring endpoint answers 400
    )


def _checked_prompt(value: Any, row: int) -> str | list[dict[str, str]]:
    """A prompt as RewardScorer takes it: rendered text, or chat messages passed through."""
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist") and not isinstance(value, dict):
        value = value.tolist()  # a message list may arrive as a numpy array
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and all(isinstance(m[k], str) for k in m)
            for m in value
        )
    ):
        return [dict(m) for m in value]
    expected = "a string or a non-empty list of {role, content} messages (strings)"
    raise _invalid(row, "prompt", expected, value)


def _checked_response(value: Any, row: int) -> str:
    if not isinstance(value, str):
        raise _invalid(row, "response", "a string", value)
    return value


@dataclass
class LoggedRewardModel:
    """Where `log_reward_model` put the model, and the card it carries."""

    model_uri: str  # runs:/RUN/reward_model: what register_candidate registers
    run_id: str
    artifact_path: str
    card: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_signature():
    """Input: prompt and response strings; output: raw and normalised reward."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", name) for name in INPUT_COLUMNS]),
        outputs=Schema([ColSpec("double", name) for name in OUTPUT_COLUMNS]),
    )


def pip_requirements() -> list[str]:
    """Explicit requirements: the inferred ones add torchvision, which has no CPU build here."""
    from importlib.metadata import version

    pinned = ["torch", "transformers", "safetensors", "pandas", "numpy", "mlflow"]
    return [f"{name}=={version(name).split('+')[0]}" for name in pinned]


def log_reward_model(
    config: RegistryConfig,
    run_id: str,
    export_dir: Path,
    input_example: Any = None,
) -> LoggedRewardModel:
    """Log the exported folder as an MLflow pyfunc model under the run (no fluent-API state)."""
    import pandas as pd

    export_dir = Path(export_dir)
    if not (export_dir / CARD_FILE).is_file():
        raise FileNotFoundError(f"export_dir {export_dir}: no {CARD_FILE}; not an exported model")
    card = RewardCard.load(export_dir)
    if input_example is None:
        input_example = pd.DataFrame(
            {"prompt": ["\n\nHuman: Say hello.\n\nAssistant:"], "response": [" Hello!"]}
        )
    metadata = {"reward_card": {k: v for k, v in card.to_dict().items() if k != "file_hashes"}}
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / ARTIFACT_PATH
        mlflow.pyfunc.save_model(
            path=str(local),
            python_model=RewardModelPyfunc(),
            artifacts={FOLDER_ARTIFACT: str(export_dir)},
            signature=model_signature(),
            input_example=input_example,
            pip_requirements=pip_requirements(),
            metadata=metadata,
        )
        mlflow_client(config).log_artifacts(run_id, str(local), ARTIFACT_PATH)
    return LoggedRewardModel(
        f"runs:/{run_id}/{ARTIFACT_PATH}", run_id, ARTIFACT_PATH, card.to_dict()
    )


def verdict_fields(verdict: Any) -> dict[str, Any]:
    """A gate verdict (GateVerdict, its dict, or a look-alike object) as plain values."""
    data = (
        as_plain_dict(verdict)
        if not hasattr(verdict, "passed")
        else {
            name: getattr(verdict, name, None)
            for name in ("passed", "reasons", "metrics", "golden_hash", "reliability_plot")
        }
    )
    if "passed" not in data or not isinstance(data["passed"], bool):
        raise ValueError("gate verdict: field 'passed' must be a bool")
    reasons = data.get("reasons") or []
    if isinstance(reasons, str) or not isinstance(reasons, list | tuple):
        raise ValueError("gate verdict: field 'reasons' must be a list of strings")
    return {
        "passed": data["passed"],
        "reasons": [str(r) for r in reasons],
        "metrics": dict(data.get("metrics") or {}),
        "golden_hash": data.get("golden_hash") or "",
        "reliability_plot": data.get("reliability_plot"),
    }


def log_evaluation(
    config: RegistryConfig, run_id: str, verdict: Any, artifacts: Iterable[Path] = ()
) -> dict[str, Any]:
    """Log the golden evaluation: `golden/*` metrics, verdict tags, report JSON, plots."""
    fields = verdict_fields(verdict)
    client = mlflow_client(config)
    log_metrics(client, run_id, {f"golden/{k}": v for k, v in fields["metrics"].items()})
    client.set_tag(run_id, "gate_verdict", "passed" if fields["passed"] else "failed")
    client.set_tag(run_id, "gate_reasons", param_value(fields["reasons"], MAX_TAG_CHARS))
    client.set_tag(run_id, "golden_hash", fields["golden_hash"])
    log_json(config, run_id, fields, "evaluation/golden_report.json")
    files = [Path(p) for p in artifacts]
    if fields["reliability_plot"]:
        files.append(Path(fields["reliability_plot"]))
    log_files(config, run_id, files, "evaluation")
    return fields


def log_reward_histogram(
    config: RegistryConfig, run_id: str, rewards: Any, title: str = "reward distribution"
) -> str:
    """Plot a histogram of `rewards` and log it as `evaluation/reward_histogram.png`."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on training machines
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.asarray(rewards, dtype=float).ravel()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values[np.isfinite(values)], bins=40)
    ax.set(title=title, xlabel="reward", ylabel="count")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reward_histogram.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        log_files(config, run_id, [path], "evaluation")
    return "evaluation/reward_histogram.png"
