"""`fit`: the Python-driven minibatch loop with its safeguards, checkpoints and callbacks.

`fit` is a sequence of named steps: `prepare` checks the arguments and builds
the guarded step (`_setup`); `start` creates the run or resumes it from the
newest checkpoint (`_setup`); `train_epochs` runs the epochs (`_loop`);
`_finish` packs the `FitResult`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
from jax.sharding import Mesh
from tqdm.auto import tqdm

from jaxnn.train._batches import Arrays, Batches
from jaxnn.train._loop import interrupted, train_epochs
from jaxnn.train._progress import show_progress
from jaxnn.train._result import FitResult, Run
from jaxnn.train._setup import Setup, prepare, start
from jaxnn.train._types import PyTree


def _finish(setup: Setup, run: Run) -> FitResult:
    state = run.state
    diverged = run.diverged_step is not None
    steps = len(run.history["loss"])
    if setup.patience is not None and not diverged and run.best_state is not None:
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


def _progress_bar(setup: Setup, run: Run, progress: bool | None) -> Any:
    per_epoch: int | None = None
    if isinstance(setup.train, Arrays) and setup.batch_size is not None:
        per_epoch = setup.train.n // setup.batch_size
    elif isinstance(setup.train, Batches) and hasattr(setup.train.source, "__len__"):
        per_epoch = len(setup.train.source)
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
    checkpoint_dir: str | os.PathLike | None = None,
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
    setup = prepare(model, optimizer, data, key, kw)
    try:
        run = start(setup, params, optimizer, key, model_state)
        bar = _progress_bar(setup, run, progress)
        try:
            if not run.ended:
                train_epochs(setup, run, bar)
        except KeyboardInterrupt:
            interrupted(setup, run)
        finally:
            bar.close()
    finally:
        if setup.checkpointer is not None:
            setup.checkpointer.close()
    return _finish(setup, run)
