"""The Bradley-Terry reward trainer: a thin `transformers.Trainer` subclass, plus callbacks.

Building on `Trainer` gives multi-GPU (accelerate / torchrun, DeepSpeed, FSDP), mixed precision
and checkpoint resume from the library. This module adds what it lacks for reward models:

- the pairwise loss `-log sigmoid(r_c - r_r - margin)` weighted per pair, plus the centering
  term `coef * (r_c + r_r)^2`, with chosen and rejected in ONE forward pass;
- a length-grouped sampler fed with pre-computed pair lengths (dynamic padding stays small);
- training accuracy in the logs (and so in the progress bar);
- a hard stop on a NaN/inf loss (`NonFiniteLossError`): `Trainer` would otherwise filter the
  value out of its logs and keep training a broken model;
- `MetricsCallback`, the hook other parts (MLflow tracking) implement::

      class MyTracker:
          def on_metrics(self, metrics: dict[str, float], step: int, stage: str) -> None:
              ...  # stage: "train" (every logging_steps), "eval" (each evaluation), "epoch"

  Pass instances in `train_reward_model(..., callbacks=[MyTracker()])`; they run on the main
  process only. Eval metric names drop Trainer's `eval_` prefix (accuracy, loss, mean_margin).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.nn import functional as F
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler


@runtime_checkable
class MetricsCallback(Protocol):
    """Receives metrics during training (see the module docstring)."""

    def on_metrics(self, metrics: dict[str, float], step: int, stage: str) -> None: ...


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run is stopped, not silently continued."""


def pairwise_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    weight: torch.Tensor,
    margin: torch.Tensor,
    center_coefficient: float = 0.0,
) -> torch.Tensor:
    """Weighted Bradley-Terry loss with margin, plus optional reward centering."""
    per_pair = -F.logsigmoid(chosen - rejected - margin)
    loss = (weight * per_pair).mean()
    if center_coefficient:
        loss = loss + center_coefficient * torch.mean((chosen + rejected) ** 2)
    return loss


class RewardModelTrainer(Trainer):
    """`Trainer` with the pairwise loss; inputs come from `rm_pipeline.data.PairCollator`."""

    # compute_loss returns a per-batch mean: Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, center_rewards_coefficient: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.center_rewards_coefficient = center_rewards_coefficient
        self._correct = 0
        self._seen = 0
        self.pairs_trained = 0
        self.tokens_trained = torch.zeros((), dtype=torch.long)

    def _rewards(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor]):
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        rewards = outputs.logits.squeeze(-1).float()
        return rewards.chunk(2)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected = self._rewards(model, inputs)
        loss = pairwise_loss(
            chosen, rejected, inputs["weight"], inputs["margin"], self.center_rewards_coefficient
        )
        if model.training:
            # One host sync per step; Trainer's own NaN filter syncs as often.
            if not torch.isfinite(loss).item():
                raise NonFiniteLossError(
                    f"training loss became {loss.item()} at step {self.state.global_step + 1} "
                    f"(epoch {self.state.epoch or 0:.2f}); lower the learning rate or check the "
                    "pairs' weight/margin values"
                )
            self._correct += int((chosen > rejected).sum().item())
            self._seen += chosen.shape[0]
            self.pairs_trained += chosen.shape[0]
            self.tokens_trained = self.tokens_trained + inputs["attention_mask"].sum().cpu()
        if return_outputs:
            return loss, {"rewards": torch.stack([chosen, rejected], dim=1)}
        return loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        rewards = outputs["rewards"].detach()
        if prediction_loss_only:
            return loss.detach(), None, None
        labels = torch.zeros(rewards.shape[0], device=rewards.device)
        return loss.detach(), rewards, labels

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        group = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return LengthGroupedSampler(group, lengths=dataset.lengths)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._seen:
            logs["accuracy"] = round(self._correct / self._seen, 4)
            self._correct = self._seen = 0
        super().log(logs, start_time)


def pair_metrics(eval_prediction) -> dict[str, float]:
    """Accuracy (a tie counts as wrong), mean margin and the model-selection score.

    `selection_score` is accuracy with the unweighted pairwise loss as a tie-break (1e-3 of
    it): on small val sets accuracy plateaus, and the best checkpoint / early stopping should
    then prefer the better-separated model instead of the earliest one.
    """
    rewards = np.asarray(eval_prediction.predictions, dtype=np.float64)
    margin = rewards[:, 0] - rewards[:, 1]
    accuracy = float(np.mean(margin > 0))
    pair_loss = float(np.mean(np.logaddexp(0.0, -margin)))
    return {
        "accuracy": accuracy,
        "mean_margin": float(np.mean(margin)),
        "selection_score": accuracy - 1e-3 * pair_loss,
    }


class MetricsBridge(TrainerCallback):
    """Forwards Trainer logs to `MetricsCallback`s on the main process."""

    def __init__(self, targets: list[MetricsCallback]):
        self.targets = targets

    def _emit(self, metrics: dict[str, float], step: int, stage: str) -> None:
        for target in self.targets:
            target.on_metrics(metrics, step, stage)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        numbers = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
        if any(k.startswith("eval_") for k in numbers):
            stripped = {k.removeprefix("eval_"): v for k, v in numbers.items()}
            self._emit(stripped, state.global_step, "eval")
        elif "loss" in numbers:
            self._emit(numbers, state.global_step, "train")

    def on_epoch_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._emit({"epoch": float(state.epoch or 0.0)}, state.global_step, "epoch")
