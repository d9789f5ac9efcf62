"""`fit`: the Python-driven minibatch loop with its safeguards (private module).

`fit` and `FitResult` are public as `jaxnn.train.fit` and
`jaxnn.train.FitResult` (re-exported there; see that module's docstring for the
conventions). This module holds the loop and what only it needs: the guarded
step that discards non-finite updates, the progress-bar switch, and the
`Dataset`-or-`(x, y)` argument handling. It builds on `jaxnn.train`'s step,
loss and evaluation, and is imported at the end of `jaxnn.train`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.train import (
    LossFn,
    PyTree,
    _check_batch_size,
    _check_xy,
    _default_loss,
    _step_and_grads,
    evaluate,
    init_train_state,
    supervised_loss,
)

__all__ = ["FitResult", "fit"]


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
      diverged_step: index (0-based, in steps of this `fit` call) of the step
        that went non-finite, or None.
    """

    params: PyTree
    model_state: PyTree
    opt_state: PyTree
    history: dict
    diverged: bool
    message: str
    stopped_early: bool
    diverged_step: int | None = None


def _split_data(data: Any) -> tuple[Any, Any]:
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        return data.x_train, data.y_train
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(
        "`data` must be a jaxnn.data.Dataset or a tuple (x, y); "
        f"got {type(data).__name__}"
        + (f" of length {len(data)}" if hasattr(data, "__len__") else "")
        + "."
    )


def _make_guarded_step(loss_fn: LossFn, optimizer: Any) -> Callable:
    """Jitted step that discards a step whose loss, gradient or new parameters
    are non-finite (any NaN/inf entry; a gradient norm that overflows while
    every entry is finite does not count).

    Returns `(state, ok, step_ok, metrics)`. `ok` is sticky: once False, no
    later update is applied either, so the returned state is exactly the one
    from before the first bad step.
    """
    raw = _step_and_grads(loss_fn, optimizer)

    @jax.jit
    def step(state, ok, batch):
        new_state, metrics, grads = raw(state, batch)
        step_ok = jnp.isfinite(metrics["loss"]) & _all_finite(grads) & _all_finite(new_state.params)
        keep = ok & step_ok
        state = jax.lax.cond(keep, lambda: new_state, lambda: state)
        return state, keep, step_ok, metrics

    return step


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


_CHECK_EVERY = 100  # steps between host syncs of the divergence flag


def fit(
    model: Any,
    params: PyTree,
    optimizer: Any,
    data: Any,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    model_state: PyTree = (),
    loss: Callable | None = None,
    penalty: Callable | None = None,
    val_data: tuple | None = None,
    patience: int | None = None,
    eval_batch_size: int | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Train `model` for `epochs` epochs of shuffled minibatches.

    Each epoch draws minibatches with `jaxnn.data.batches(k_e, (x, y),
    batch_size, shuffle=True, drop_remainder=True)` with `k_e = fold_in(k_data,
    e)`, applies the jit-compiled step of `make_train_step` to each, then
    evaluates on `val_data` (if given) with `train=False`.

    Safeguards:

    * **Divergence.** A step whose loss, gradient norm or updated parameters
      are NaN/inf is discarded (its update is never applied) and training
      stops: `diverged=True`, `diverged_step` is the step's index, `message`
      names it, and `params` are the last finite parameters. The check runs
      inside the compiled step (no host sync per step); the host reads the flag
      every 100 steps and at each epoch end, and steps run in between are
      no-ops.
    * **Early stopping.** With `patience=p` (requires `val_data`), training
      stops after `p` consecutive epochs without a strictly lower validation
      loss, and the returned params/model_state/opt_state are **restored from
      the best epoch** -- with `patience` set they are the best epoch's even if
      training ran to the end.

    Args:
      model: a layer (`init`, `apply`); `params`/`model_state` its variables.
      optimizer: any optax-protocol `(init, update)` pair.
      data: a `jaxnn.data.Dataset` (its train split is used) or `(x, y)`.
      key: PRNG key for shuffling and dropout.
      epochs: number of passes over the training data.
      batch_size: minibatch size (the remainder of each epoch is dropped);
        must not exceed the number of examples.
      loss: `loss(outputs, targets) -> scalar`; default softmax cross-entropy.
      penalty: optional `penalty(params) -> scalar` added to the training loss.
      val_data: `(x_val, y_val)` evaluated after every epoch.
      patience: epochs without validation improvement before stopping.
      eval_batch_size: batch size for validation (None: all at once).
      progress: show a tqdm bar; None shows it only when stdout and stderr
        are terminals.

    Returns:
      a `FitResult`.
    """
    from jaxnn import data as data_lib

    x, y = _split_data(data)
    n = _check_xy(x, y)
    batch_size = _check_batch_size(batch_size, n)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative Python int, got {epochs!r}.")
    if patience is not None and val_data is None:
        raise ValueError("`patience` (early stopping) needs `val_data` to monitor; pass both.")
    if patience is not None and int(patience) < 1:
        raise ValueError(f"`patience` must be a positive integer, got {patience!r}.")
    if val_data is not None:
        _check_xy(*val_data)
    loss = _default_loss(loss)
    step_fn = _make_guarded_step(supervised_loss(model, loss, penalty), optimizer)

    data_key, train_key = jax.random.split(key)
    state = init_train_state(params, optimizer, train_key, model_state)
    ok = jnp.asarray(True)
    steps_per_epoch = n // batch_size
    history: dict[str, list] = {
        "loss": [],
        "grad_norm": [],
        "epoch_loss": [],
        "val_loss": [],
        "val_accuracy": [],
    }
    best = (np.inf, -1, state)  # (val loss, epoch, state)
    bad_epochs = 0
    stopped_early = False
    diverged_step = None
    message = ""

    from tqdm.auto import tqdm

    bar = tqdm(total=epochs * steps_per_epoch, disable=not _show_progress(progress), desc="fit")
    try:
        for epoch in range(epochs):
            batches: Iterable = data_lib.batches(
                jax.random.fold_in(data_key, epoch),
                (x, y),
                batch_size,
                shuffle=True,
                drop_remainder=True,
            )
            losses, norms, oks = [], [], []
            for i, batch in enumerate(batches):
                state, ok, step_ok, metrics = step_fn(state, ok, batch)
                losses.append(metrics["loss"])
                norms.append(metrics["grad_norm"])
                oks.append(step_ok)
                bar.update(1)
                if (i + 1) % _CHECK_EVERY == 0 and not bool(ok):
                    break
            losses_np, norms_np, oks_np = (
                np.asarray(jax.device_get(jnp.stack(v))) for v in (losses, norms, oks)
            )
            losses_np, norms_np = losses_np.astype(np.float64), norms_np.astype(np.float64)
            if not bool(ok):
                first = int(np.argmin(oks_np))
                history["loss"].extend(losses_np[: first + 1].tolist())
                history["grad_norm"].extend(norms_np[: first + 1].tolist())
                diverged_step = len(history["loss"]) - 1
                what = (
                    f"the loss was {losses_np[first]:.6g} and the gradient norm "
                    f"{norms_np[first]:.6g}"
                    if not (np.isfinite(losses_np[first]) and np.isfinite(norms_np[first]))
                    else "the update made the parameters non-finite (or a gradient entry was)"
                )
                message = (
                    f"Training diverged at step {diverged_step} (epoch {epoch}, batch {first}): "
                    f"{what}; stopped and returned the last finite parameters, from before "
                    "that step."
                )
                break
            history["loss"].extend(losses_np.tolist())
            history["grad_norm"].extend(norms_np.tolist())
            history["epoch_loss"].append(float(np.mean(losses_np)))
            postfix = {"loss": f"{history['epoch_loss'][-1]:.4g}"}
            if val_data is not None:
                metrics = evaluate(
                    model,
                    state.params,
                    state.model_state,
                    *val_data,
                    loss=loss,
                    batch_size=eval_batch_size,
                )
                history["val_loss"].append(metrics["loss"])
                history["val_accuracy"].append(metrics["accuracy"])
                postfix.update(
                    val_loss=f"{metrics['loss']:.4g}", val_acc=f"{metrics['accuracy']:.3f}"
                )
                if metrics["loss"] < best[0]:
                    best = (metrics["loss"], epoch, state)
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            bar.set_postfix(postfix, refresh=False)
            if patience is not None and bad_epochs >= patience:
                stopped_early = True
                message = (
                    f"Stopped early after epoch {epoch}: the validation loss did not improve "
                    f"for {patience} epochs; restored the parameters of epoch {best[1]} "
                    f"(validation loss {best[0]:.6g})."
                )
                break
    finally:
        bar.close()

    diverged = diverged_step is not None
    if patience is not None and not diverged and best[1] >= 0:
        if not stopped_early:
            message = (
                f"Finished {epochs} epochs ({len(history['loss'])} steps); returned the "
                f"parameters of the best epoch {best[1]} (validation loss {best[0]:.6g})."
            )
        state = best[2]
    elif not message:
        message = f"Finished {epochs} epochs ({len(history['loss'])} steps)."
    return FitResult(
        params=state.params,
        model_state=state.model_state,
        opt_state=state.opt_state,
        history=history,
        diverged=diverged,
        message=message,
        stopped_early=stopped_early,
        diverged_step=diverged_step,
    )
