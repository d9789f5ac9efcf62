"""`FitResult` and the bookkeeping of a `fit` run in progress."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn.train._state import TrainState
from jaxnn.train._types import PyTree


class FitResult(NamedTuple):
    """What `fit` returns.

    Attributes:
      params: the final parameters -- or, when `patience` is set, those of the
        epoch with the lowest validation loss; or, when training diverged, the
        last finite parameters (from before the step that went non-finite).
      model_state: the model state that goes with `params`.
      opt_state: the optimizer state that goes with `params`.
      history: dict of lists: `"loss"` and `"grad_norm"` per step (a diverged
        run ends with the entry of the step that went non-finite),
        `"epoch_loss"` (mean training loss per completed epoch), `"val_loss"`
        and `"val_accuracy"` per completed epoch (empty without validation data).
      diverged: True when a non-finite loss, gradient or update stopped training.
      message: one sentence saying how training ended.
      stopped_early: True when early stopping ended training.
      diverged_step: index (0-based, in steps of the whole run) of the step
        that went non-finite, or None.
    """

    params: PyTree  # final (or best-epoch, or last finite) parameters
    model_state: PyTree  # the model state that goes with params
    opt_state: PyTree  # the optimizer state that goes with params
    history: dict  # per-step and per-epoch lists
    diverged: bool  # a non-finite step stopped training
    message: str  # how training ended
    stopped_early: bool  # early stopping ended training
    diverged_step: int | None = None  # index of the non-finite step, or None


def empty_history() -> dict[str, list]:
    """The lists `FitResult.history` holds, empty."""
    return {"loss": [], "grad_norm": [], "epoch_loss": [], "val_loss": [], "val_accuracy": []}


@dataclasses.dataclass
class Run:
    """A `fit` run in progress (mutable; saved whole in a checkpoint)."""

    state: TrainState  # current state
    ok: jax.Array  # False once a step went non-finite (sticky)
    history: dict = dataclasses.field(default_factory=empty_history)  # FitResult.history
    epochs_done: int = 0  # completed epochs
    best_loss: float = np.inf  # lowest validation loss so far
    best_epoch: int = -1  # its epoch, -1 before the first validation
    best_state: TrainState | None = None  # the state of that epoch
    bad_epochs: int = 0  # epochs since the last improvement
    stopped_early: bool = False  # early stopping ended the run
    diverged_step: int | None = None  # the non-finite step, or None
    message: str = ""  # how the run ended ("" while it goes on)
    start_step: int = 0  # steps already run when this fit call started (resume)
    fingerprint: dict = dataclasses.field(default_factory=dict)  # what identifies the run

    @property
    def ended(self) -> bool:
        """True once divergence or early stopping ended the run for good."""
        return self.stopped_early or self.diverged_step is not None

    def arrays(self) -> dict:
        """The device arrays a checkpoint saves."""
        best = self.state if self.best_state is None else self.best_state
        return {"state": self.state, "best": best, "ok": self.ok}

    def meta(self) -> dict:
        """The JSON-able part a checkpoint saves."""
        fields = ("history", "epochs_done", "best_loss", "best_epoch", "bad_epochs")
        out: dict[str, Any] = {f: getattr(self, f) for f in fields}
        out.update(stopped_early=self.stopped_early, diverged_step=self.diverged_step)
        out.update(message=self.message, has_best=self.best_state is not None)
        return out

    def load(self, arrays: dict, meta: dict) -> None:
        """Continue from a checkpoint's `arrays` and `meta`."""
        self.state, self.ok = arrays["state"], arrays["ok"]
        self.best_state = arrays["best"] if meta["has_best"] else None
        for f in ("history", "epochs_done", "best_epoch", "bad_epochs", "stopped_early"):
            setattr(self, f, meta[f])
        self.best_loss = float(meta["best_loss"])
        self.diverged_step, self.message = meta["diverged_step"], meta["message"]
