"""The epochs of a `fit` run: steps, history, validation, early stopping, checkpoints, callbacks.

`train_epochs` runs epoch after epoch: `_run_epoch` feeds the batches to the
guarded step (and the step callbacks), `_end_epoch` records the history and
validates (early stopping), then `_save` writes a checkpoint when due and the
epoch callbacks are told.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _devices
from jaxnn import data as data_lib
from jaxnn.train import _callbacks
from jaxnn.train._batches import Arrays, Batches, iterate
from jaxnn.train._evaluate import evaluate
from jaxnn.train._result import Run
from jaxnn.train._setup import Setup

_CHECK_EVERY = 100  # steps between host syncs of the divergence flag


def _epoch_batches(setup: Setup, epoch: int) -> Iterator:
    if isinstance(setup.train, Batches):
        return iterate(setup.train)
    k = jax.random.fold_in(setup.data_key, epoch)
    xy = (setup.train.x, setup.train.y)
    batch_size = cast(int, setup.batch_size)  # never None when `train` holds arrays (_setup)
    return data_lib.batches(k, xy, batch_size, shuffle=True, drop_remainder=True)


def _run_epoch(setup: Setup, run: Run, epoch: int, bar: Any) -> tuple[np.ndarray, ...]:
    """The epoch's steps; returns `(losses, grad_norms, step_oks)` as float64/bool arrays."""
    losses, norms, oks = [], [], []
    done = len(run.history["loss"])
    for i, batch in enumerate(_epoch_batches(setup, epoch)):
        batch = _devices.shard_batch(batch, setup.mesh)
        run.state, run.ok, step_ok, metrics = setup.step_fn(run.state, run.ok, batch)
        losses.append(metrics["loss"])
        norms.append(metrics["grad_norm"])
        oks.append(step_ok)
        bar.update(1)
        _step_events(setup, run, epoch, done + i + 1, metrics)
        if (i + 1) % _CHECK_EVERY == 0 and not bool(run.ok):
            break
    if not losses:
        raise ValueError(f"`data` yielded no batches in epoch {epoch}; it must yield (x, y) pairs.")
    out = [np.asarray(jax.device_get(jnp.stack(v))) for v in (losses, norms, oks)]
    return out[0].astype(np.float64), out[1].astype(np.float64), out[2]


def _notify(setup: Setup, run: Run, event: str, epoch: int, step: int, metrics: dict) -> None:
    start = run.start_step
    for cb in setup.callbacks:
        if event == "step" and (_callbacks.every_steps(cb) is None or step % cb.every_steps):
            continue
        info = _callbacks.CallbackInfo(
            event, epoch, step, metrics, run.state.params, run.state.model_state,
            run.state.opt_state, start,
        )  # fmt: skip
        cb(info)


def _step_events(setup: Setup, run: Run, epoch: int, step: int, metrics: dict) -> None:
    intervals = [_callbacks.every_steps(cb) for cb in setup.callbacks]
    if any(n is not None and step % n == 0 for n in intervals):
        values = {k: float(v) for k, v in metrics.items()}
        _notify(setup, run, "step", epoch, step, values)


def _record_divergence(run: Run, epoch: int, losses, norms, oks) -> None:
    first = int(np.argmin(oks))
    run.history["loss"].extend(losses[: first + 1].tolist())
    run.history["grad_norm"].extend(norms[: first + 1].tolist())
    run.diverged_step = len(run.history["loss"]) - 1
    what = (
        f"the loss was {losses[first]:.6g} and the gradient norm {norms[first]:.6g}"
        if not (np.isfinite(losses[first]) and np.isfinite(norms[first]))
        else "the update made the parameters non-finite (or a gradient entry was)"
    )
    run.message = (
        f"Training diverged at step {run.diverged_step} (epoch {epoch}, batch {first}): "
        f"{what}; stopped and returned the last finite parameters, from before that step."
    )


def _validate(setup: Setup, run: Run, epoch: int) -> dict:
    """Validation metrics of the epoch and the early-stopping bookkeeping."""
    val = setup.val
    assert val is not None  # only called with validation data
    data = (val.x, val.y) if isinstance(val, Arrays) else val.source
    params, model_state = run.state.params, run.state.model_state
    m = evaluate(setup.model, params, model_state, data, loss=setup.loss,
                 batch_size=setup.eval_batch_size if isinstance(val, Arrays) else None)  # fmt: skip
    run.history["val_loss"].append(m["loss"])
    run.history["val_accuracy"].append(m["accuracy"])
    if m["loss"] < run.best_loss:
        run.best_loss, run.best_epoch, run.best_state, run.bad_epochs = (
            m["loss"],
            epoch,
            run.state,
            0,
        )
    else:
        run.bad_epochs += 1
    if setup.patience is not None and run.bad_epochs >= setup.patience:
        run.stopped_early = True
        run.message = (
            f"Stopped early after epoch {epoch}: the validation loss did not improve "
            f"for {setup.patience} epochs; restored the parameters of epoch {run.best_epoch} "
            f"(validation loss {run.best_loss:.6g})."
        )
    return {"val_loss": m["loss"], "val_accuracy": m["accuracy"]}


def _end_epoch(setup: Setup, run: Run, epoch: int, losses, norms, bar: Any) -> dict:
    run.history["loss"].extend(losses.tolist())
    run.history["grad_norm"].extend(norms.tolist())
    run.history["epoch_loss"].append(float(np.mean(losses)))
    metrics = {"epoch_loss": run.history["epoch_loss"][-1]}
    if setup.val is not None:
        metrics.update(_validate(setup, run, epoch))
    bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
    run.epochs_done = epoch + 1
    return metrics


def _save(setup: Setup, run: Run, *, final: bool) -> None:
    ckpt = setup.checkpointer
    if ckpt is None:
        return
    ident = run.epochs_done + (1 if run.diverged_step is not None else 0)
    due = final or run.epochs_done % setup.checkpoint_every == 0
    if due and ckpt.latest() != ident:
        ckpt.save(ident, run.arrays(), {**run.meta(), "fingerprint": run.fingerprint})


def train_epochs(setup: Setup, run: Run, bar: Any) -> None:
    """Run the remaining epochs; Ctrl-C restores the state of the last complete epoch."""
    for epoch in range(run.epochs_done, setup.epochs):
        start = (run.state, run.ok)
        try:
            losses, norms, oks = _run_epoch(setup, run, epoch, bar)
        except KeyboardInterrupt:
            run.state, run.ok = start
            raise
        if not bool(run.ok):
            _record_divergence(run, epoch, losses, norms, oks)
            _save(setup, run, final=True)
            return
        metrics = _end_epoch(setup, run, epoch, losses, norms, bar)
        _save(setup, run, final=run.stopped_early or epoch + 1 == setup.epochs)
        _notify(setup, run, "epoch", epoch, len(run.history["loss"]), metrics)
        if run.stopped_early:
            return


def interrupted(setup: Setup, run: Run) -> None:
    """Set the message of a run stopped by KeyboardInterrupt (how to resume)."""
    steps = len(run.history["loss"])
    how = (
        f"call fit again with the same arguments and checkpoint_dir="
        f"{str(setup.checkpointer.directory)!r} to resume from the last checkpoint"
        if setup.checkpointer is not None
        else "pass checkpoint_dir=... to make a run resumable"
    )
    run.message = (
        f"Interrupted (KeyboardInterrupt) after {run.epochs_done} complete epochs ({steps} "
        f"steps); returned the state at the end of the last complete epoch. To continue, {how}."
    )
