"""`fit`: the Python-driven minibatch loop with its safeguards, checkpoints and callbacks.

The loop is a sequence of named steps: `_prepare` checks the arguments and
builds the guarded step; `_start` creates the run or resumes it from the
newest checkpoint; `_train` runs epochs (`_run_epoch` for the steps,
`_end_epoch` for the history, validation and early stopping, then the
checkpoint and the epoch callbacks); `_finish` packs the `FitResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from tqdm.auto import tqdm

from jaxnn import _devices
from jaxnn import data as data_lib
from jaxnn.train import _callbacks
from jaxnn.train._batches import Arrays, Batches, as_data, check_reiterable, iterate
from jaxnn.train._checkpoint import Checkpointer, fingerprint
from jaxnn.train._checks import check_batch_size, check_finite, check_int
from jaxnn.train._evaluate import evaluate
from jaxnn.train._guard import guarded_step_for
from jaxnn.train._loss import default_loss
from jaxnn.train._progress import show_progress
from jaxnn.train._result import FitResult, Run
from jaxnn.train._state import init_train_state
from jaxnn.train._types import PyTree

_CHECK_EVERY = 100  # steps between host syncs of the divergence flag


class _Setup(NamedTuple):
    """The fixed ingredients of one `fit` call."""

    model: Any  # the layer
    loss: Callable  # loss(outputs, targets)
    train: Arrays | Batches  # training data
    val: Arrays | Batches | None  # validation data
    batch_size: int | None  # minibatch size (None: the iterable's batches)
    step_fn: Callable  # the guarded, jitted step
    mesh: Mesh | None  # data mesh, None on one device
    callbacks: tuple  # callables taking a CallbackInfo
    patience: int | None  # early-stopping patience
    eval_batch_size: int | None  # batch size for validation
    epochs: int  # epochs of the whole run
    checkpointer: Checkpointer | None  # None: no checkpoints
    checkpoint_every: int  # epochs between checkpoints
    data_key: jax.Array  # key of the epochs' shuffles


def _check_data(data: Any, batch_size: Any, name: str) -> tuple[Arrays | Batches, int | None]:
    source = as_data(data, name)
    if isinstance(source, Batches):
        check_reiterable(source)
        return source, None if batch_size is None else check_int(
            batch_size, "batch_size", minimum=1
        )
    if batch_size is None:
        raise TypeError("`batch_size` is required when `data` holds arrays (x, y).")
    check_finite(source.x, f"The training inputs x of `{name}`")
    check_finite(source.y, f"The training targets y of `{name}`")
    return source, check_batch_size(batch_size, source.n)


def _check_val(val_data: Any, patience: Any, eval_batch_size: Any) -> Arrays | Batches | None:
    if patience is not None and val_data is None:
        raise ValueError("`patience` (early stopping) needs `val_data` to monitor; pass both.")
    if patience is not None:
        check_int(patience, "patience", minimum=1)
    if eval_batch_size is not None:
        check_int(eval_batch_size, "eval_batch_size", minimum=1)
    if val_data is None:
        return None
    val = as_data(val_data, "val_data")
    if isinstance(val, Arrays):
        check_finite(val.x, "The validation inputs x of `val_data`")
    return val


def _prepare(model, optimizer, data, key, kw: dict) -> _Setup:
    train, batch_size = _check_data(data, kw["batch_size"], "data")
    epochs = kw["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative Python int, got {epochs!r}.")
    val = _check_val(kw["val_data"], kw["patience"], kw["eval_batch_size"])
    every = kw["checkpoint_every"]
    every = 1 if every is None else check_int(every, "checkpoint_every", minimum=1)
    directory = kw["checkpoint_dir"]
    loss = default_loss(kw["loss"])
    data_key, _ = jax.random.split(key)
    return _Setup(
        model=model, loss=loss, train=train, val=val, batch_size=batch_size,
        step_fn=guarded_step_for(model, loss, kw["penalty"], optimizer),
        mesh=_devices.data_mesh(kw["mesh"]),
        callbacks=_callbacks.check_callbacks(kw["callbacks"]),
        patience=kw["patience"], eval_batch_size=kw["eval_batch_size"], epochs=int(epochs),
        checkpointer=None if directory is None else Checkpointer(directory),
        checkpoint_every=every, data_key=data_key,
    )  # fmt: skip


def _key_list(key: jax.Array) -> list:
    is_typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return np.asarray(jax.random.key_data(key) if is_typed else key).tolist()


def _start(setup: _Setup, params, optimizer, key, model_state) -> Run:
    """A fresh run, or the newest checkpoint's (refused if it is another run's)."""
    _, train_key = jax.random.split(key)
    state = _devices.replicate(
        init_train_state(params, optimizer, train_key, model_state), setup.mesh
    )
    run = Run(state=state, ok=jnp.asarray(True))
    n = setup.train.n if isinstance(setup.train, Arrays) else None
    config = {"batch_size": setup.batch_size, "num_examples": n, "key": _key_list(key)}
    run.fingerprint = fingerprint(run.arrays()["state"], **config)
    ckpt = setup.checkpointer
    if ckpt is not None and ckpt.latest() is not None:
        arrays, meta = ckpt.restore(run.arrays(), run.fingerprint)
        run.load(arrays, meta)
        run.start_step = len(run.history["loss"])
    return run


def _epoch_batches(setup: _Setup, epoch: int) -> Iterator:
    if isinstance(setup.train, Batches):
        return iterate(setup.train)
    k = jax.random.fold_in(setup.data_key, epoch)
    xy = (setup.train.x, setup.train.y)
    return data_lib.batches(k, xy, setup.batch_size, shuffle=True, drop_remainder=True)


def _run_epoch(setup: _Setup, run: Run, epoch: int, bar: Any) -> tuple[np.ndarray, ...]:
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


def _notify(setup: _Setup, run: Run, event: str, epoch: int, step: int, metrics: dict) -> None:
    start = run.start_step
    for cb in setup.callbacks:
        if event == "step" and (_callbacks.every_steps(cb) is None or step % cb.every_steps):
            continue
        info = _callbacks.CallbackInfo(
            event, epoch, step, metrics, run.state.params, run.state.model_state,
            run.state.opt_state, start,
        )  # fmt: skip
        cb(info)


def _step_events(setup: _Setup, run: Run, epoch: int, step: int, metrics: dict) -> None:
    wanted = [cb for cb in setup.callbacks if _callbacks.every_steps(cb)]
    if any(step % _callbacks.every_steps(cb) == 0 for cb in wanted):
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


def _validate(setup: _Setup, run: Run, epoch: int) -> dict:
    """Validation metrics of the epoch and the early-stopping bookkeeping."""
    val = setup.val
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


def _end_epoch(setup: _Setup, run: Run, epoch: int, losses, norms, bar: Any) -> dict:
    run.history["loss"].extend(losses.tolist())
    run.history["grad_norm"].extend(norms.tolist())
    run.history["epoch_loss"].append(float(np.mean(losses)))
    metrics = {"epoch_loss": run.history["epoch_loss"][-1]}
    if setup.val is not None:
        metrics.update(_validate(setup, run, epoch))
    bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
    run.epochs_done = epoch + 1
    return metrics


def _save(setup: _Setup, run: Run, *, final: bool) -> None:
    ckpt = setup.checkpointer
    if ckpt is None:
        return
    ident = run.epochs_done + (1 if run.diverged_step is not None else 0)
    due = final or run.epochs_done % setup.checkpoint_every == 0
    if due and ckpt.latest() != ident:
        ckpt.save(ident, run.arrays(), {**run.meta(), "fingerprint": run.fingerprint})


def _train(setup: _Setup, run: Run, bar: Any) -> None:
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


def _interrupted(setup: _Setup, run: Run) -> None:
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


def _finish(setup: _Setup, run: Run) -> FitResult:
    state = run.state
    diverged = run.diverged_step is not None
    steps = len(run.history["loss"])
    if setup.patience is not None and not diverged and run.best_epoch >= 0:
        if not run.message:
            run.message = (
                f"Finished {setup.epochs} epochs ({steps} steps); returned the parameters of "
                f"the best epoch {run.best_epoch} (validation loss {run.best_loss:.6g})."
            )
        state = run.best_state
    elif not run.message:
        run.message = f"Finished {setup.epochs} epochs ({steps} steps)."
    return FitResult(
        params=state.params,
        model_state=state.model_state,
        opt_state=state.opt_state,
        history=run.history,
        diverged=diverged,
        message=run.message,
        stopped_early=run.stopped_early,
        diverged_step=run.diverged_step,
    )


def _progress_bar(setup: _Setup, run: Run, progress: bool | None) -> Any:
    if isinstance(setup.train, Arrays):
        per_epoch = setup.train.n // setup.batch_size
    else:
        per_epoch = len(setup.train.source) if hasattr(setup.train.source, "__len__") else None
    total = None if per_epoch is None else setup.epochs * per_epoch
    bar = tqdm(total=total, disable=not show_progress(progress), desc="fit")
    bar.update(len(run.history["loss"]))
    return bar


def fit(
    model: Any,
    params: PyTree,
    optimizer: Any,
    data: Any,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int | None = None,
    model_state: PyTree = (),
    loss: Callable | None = None,
    penalty: Callable | None = None,
    val_data: Any = None,
    patience: int | None = None,
    eval_batch_size: int | None = None,
    progress: bool | None = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int | None = None,
    callbacks: Any = (),
    mesh: Mesh | None = None,
) -> FitResult:
    """Train `model` for `epochs` epochs of shuffled minibatches.

    Each epoch draws minibatches with `jaxnn.data.batches(k_e, (x, y),
    batch_size, shuffle=True, drop_remainder=True)` with `k_e = fold_in(k_data,
    e)` (`k_data, k_train = split(key)`), applies the jit-compiled step of
    `make_train_step` to each, then evaluates on `val_data` (if given) with
    `train=False`. With a re-iterable of batches, each epoch is one fresh pass.

    Safeguards:

    * **Bad data.** NaN/inf in array data is refused before training (and in
      each batch of an iterable before its step).
    * **Divergence.** A step whose loss, gradient norm or updated parameters
      are NaN/inf is discarded (its update is never applied) and training
      stops: `diverged=True`, `diverged_step` is the step's index, `message`
      names it, and `params` are the last finite parameters. The check runs
      inside the compiled step; the host reads the flag every 100 steps and
      at each epoch end, and steps run in between are no-ops.
    * **Early stopping.** With `patience=p` (requires `val_data`), training
      stops after `p` consecutive epochs without a strictly lower validation
      loss, and the returned params/model_state/opt_state are **restored from
      the best epoch** -- with `patience` set they are the best epoch's even if
      training ran to the end.
    * **Interruption.** With `checkpoint_dir`, every `checkpoint_every`-th
      epoch (and the last) saves the whole run with orbax-checkpoint (atomic,
      the last 2 kept). Calling `fit` again with the same `checkpoint_dir`
      resumes from the newest checkpoint; a larger `epochs` continues the
      run. The result is bit-identical to an uninterrupted run (for array
      data; an iterable must replay the same batches). A checkpoint of
      another run (other trees, shapes, dtypes, batch size, data size or key)
      is refused. Ctrl-C returns the partial result with a message on how to
      resume.

    With several devices each batch is split over a data `Mesh` of all of
    them (or `mesh`), the state is replicated and XLA reduces the gradients.

    Args:
      model: a layer (`init`, `apply`); `params`/`model_state` its variables.
      optimizer: any optax-protocol `(init, update)` pair; extra-args
        optimizers get `value`, `grad` and `value_fn`.
      data: a `jaxnn.data.Dataset` (its train split), `(x, y)`, or a
        re-iterable of `(x, y)` batches (a list, a DataLoader-like object, a
        zero-argument function returning a fresh iterator).
      key: PRNG key for shuffling and dropout.
      epochs: number of passes over the training data (of the whole run).
      batch_size: minibatch size for arrays (the remainder of each epoch is
        dropped; at most the number of examples); unused for iterables.
      loss: `loss(outputs, targets) -> scalar`; default softmax cross-entropy.
      penalty: optional `penalty(params) -> scalar` added to the training loss.
      val_data: `(x_val, y_val)` or a re-iterable of batches, evaluated after
        every epoch.
      patience: epochs without validation improvement before stopping.
      eval_batch_size: batch size for validation arrays (None: all at once).
      progress: show a tqdm bar; None shows it only on a terminal.
      checkpoint_dir: folder of the run's checkpoints (None: none).
      checkpoint_every: epochs between checkpoints (None: every epoch).
      callbacks: callables taking a `CallbackInfo` after every epoch (and
        every `cb.every_steps` steps), e.g. `CSVLogger`, `JSONLogger`.
      mesh: a `jax.sharding.Mesh` to split batches over (None: all devices).

    Returns:
      a `FitResult`.
    """
    kw = dict(
        epochs=epochs, batch_size=batch_size, loss=loss, penalty=penalty, val_data=val_data,
        patience=patience, eval_batch_size=eval_batch_size, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, callbacks=callbacks, mesh=mesh,
    )  # fmt: skip
    setup = _prepare(model, optimizer, data, key, kw)
    try:
        run = _start(setup, params, optimizer, key, model_state)
        bar = _progress_bar(setup, run, progress)
        try:
            if not run.ended:
                _train(setup, run, bar)
        except KeyboardInterrupt:
            _interrupted(setup, run)
        finally:
            bar.close()
    finally:
        if setup.checkpointer is not None:
            setup.checkpointer.close()
    return _finish(setup, run)
