"""Training: a jit-compiled step, a minibatch loop with safeguards, and a pure scan.

Three ways to train, from most to least Python:

* `fit` -- epochs of shuffled minibatches (`jaxnn.data.batches`) driven from
  Python, with validation each epoch, early stopping, a progress bar and a
  guard against non-finite losses. For interactive work and scripts.
* `train_scan` -- the same update rule as one pure function on `lax.scan`
  (minibatches drawn by a fresh permutation per epoch from the key, remainder
  dropped). No Python side effects, so `jax.vmap` over keys and
  hyperparameters trains many models in one call.
* `optimize` -- full-batch, deterministic objectives `loss_fn(params) -> scalar`
  (the 2-D test functions of `jaxnn.objectives`), returning the trajectory.

Conventions:

* The canonical loss function is
  `loss_fn(params, model_state, batch, key) -> (loss, new_model_state)`;
  `supervised_loss(model)` builds one from a layer and `stateless(f)` wraps
  `f(params, batch) -> loss`.
* An optimizer is any `(init, update)` pair with optax's protocol
  (`jaxnn.optim` or optax itself); `update` receives `params` as its third
  argument so that weight decay works.
* One step with learning signal `g_t = grad L(theta_t; B_t, k_t)` is::

      u_t, s_{t+1} = update(g_t, s_t, theta_t)
      theta_{t+1}  = theta_t + u_t

  and reports `loss = L(theta_t; B_t, k_t)` (the loss *before* the update)
  and `grad_norm = ||g_t||_2` (global norm over all leaves).
* The key in `TrainState` is split once per step: `key, k_t = split(key)`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.optim.base import apply_updates

PyTree = Any
Batch = Any
LossFn = Callable[[PyTree, PyTree, Batch, jax.Array], tuple[jax.Array, PyTree]]

__all__ = [
    "TrainState",
    "FitResult",
    "supervised_loss",
    "stateless",
    "make_train_step",
    "init_train_state",
    "evaluate",
    "fit",
    "train_scan",
    "optimize",
    "global_norm",
]


class TrainState(NamedTuple):
    """Everything that changes during training.

    Attributes:
      params: trainable parameters (any pytree).
      model_state: non-trainable variables (BatchNorm statistics); `()` if none.
      opt_state: the optimizer's state.
      step: number of updates applied so far (int32 scalar).
      key: PRNG key; split once per step to draw the step's dropout key.
    """

    params: PyTree
    model_state: PyTree
    opt_state: PyTree
    step: jax.Array
    key: jax.Array


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


# ---------------------------------------------------------------------------
# Loss functions in canonical form.
# ---------------------------------------------------------------------------


def _default_loss(loss: Callable | None) -> Callable:
    if loss is not None:
        return loss
    from jaxnn import losses

    return losses.softmax_cross_entropy


def supervised_loss(
    model: Any, loss: Callable | None = None, penalty: Callable | None = None
) -> LossFn:
    r"""Build the canonical loss of a layer on `(x, y)` batches.

    .. math:: L(\theta; (x, y), k) = \ell(f_\theta(x; k), y) + P(\theta)

    The model is applied with `train=True` and the step's key (for Dropout);
    its new state (BatchNorm statistics) is returned as the auxiliary output.

    Args:
      model: a `jaxnn.layers.Layer` (anything with `apply(params, state, x, *,
        key, train)`).
      loss: `loss(outputs, targets) -> scalar`; defaults to
        `jaxnn.losses.softmax_cross_entropy`.
      penalty: optional `penalty(params) -> scalar` added to the loss, e.g.
        `lambda p: 1e-4 * jaxnn.losses.l2_penalty(p)`.

    Returns:
      `loss_fn(params, model_state, batch, key) -> (loss, new_model_state)`.
    """
    loss = _default_loss(loss)

    def loss_fn(params, model_state, batch, key):
        x, y = batch
        out, new_state = model.apply(params, model_state, x, key=key, train=True)
        value = loss(out, y)
        if penalty is not None:
            value = value + penalty(params)
        return value, new_state

    return loss_fn


def stateless(f: Callable[[PyTree, Batch], jax.Array]) -> LossFn:
    """Wrap `f(params, batch) -> loss` into the canonical form (state passed through,
    key ignored)."""

    def loss_fn(params, model_state, batch, key):
        del key
        return f(params, batch), model_state

    return loss_fn


def global_norm(tree: PyTree) -> jax.Array:
    r"""Global L2 norm :math:`\sqrt{\sum_\ell \|g_\ell\|_2^2}` over all leaves (optax's)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros(())
    return jnp.sqrt(sum(jnp.sum(jnp.real(jnp.conj(g) * g)) for g in leaves))


# ---------------------------------------------------------------------------
# One step.
# ---------------------------------------------------------------------------


def init_train_state(
    params: PyTree, optimizer: Any, key: jax.Array, model_state: PyTree = ()
) -> TrainState:
    """Initialise the optimizer and pack a `TrainState` with `step = 0`."""
    return TrainState(
        params=params,
        model_state=model_state,
        opt_state=optimizer.init(params),
        step=jnp.zeros((), jnp.int32),
        key=key,
    )


def _step_and_grads(loss_fn: LossFn, optimizer: Any) -> Callable:
    """Un-jitted `(state, batch) -> (new_state, metrics, grads)`: the one update rule."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, dict, PyTree]:
        key, subkey = jax.random.split(state.key)
        (loss, model_state), grads = grad_fn(state.params, state.model_state, batch, subkey)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = apply_updates(state.params, updates)
        new_state = TrainState(params, model_state, opt_state, state.step + 1, key)
        return new_state, {"loss": loss, "grad_norm": global_norm(grads)}, grads

    return step


def _raw_step(loss_fn: LossFn, optimizer: Any) -> Callable:
    """The un-jitted step shared by `make_train_step` and `train_scan`."""
    step = _step_and_grads(loss_fn, optimizer)

    def raw(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        new_state, metrics, _ = step(state, batch)
        return new_state, metrics

    return raw


def make_train_step(loss_fn: LossFn, optimizer: Any, *, jit: bool = True) -> Callable:
    """Build `step(train_state, batch) -> (train_state, metrics)`.

    `metrics` is `{"loss": L(theta_t), "grad_norm": ||g_t||}` -- the loss before
    the update and the global norm of the raw gradient (before any clipping the
    optimizer applies). See the module docstring for the update rule.

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`.
      optimizer: any optax-protocol `(init, update)` pair.
      jit: compile the step with `jax.jit` (turn off to debug with prints).

    Example::

      step = make_train_step(supervised_loss(model), optax.adam(1e-3))
      state = init_train_state(params, optax.adam(1e-3), jax.random.key(0))
      state, metrics = step(state, (x, y))
    """
    step = _raw_step(loss_fn, optimizer)
    return jax.jit(step) if jit else step


# ---------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------


def _make_eval_batch(apply: Callable, loss: Callable) -> Callable:
    def eval_batch(params, model_state, x, y):
        out, _ = apply(params, model_state, x, train=False)
        value = loss(out, y)
        if jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == out.ndim - 1:
            correct = jnp.sum(jnp.argmax(out, axis=-1) == y)
        elif y.shape == out.shape and out.shape[-1] > 1:
            correct = jnp.sum(jnp.argmax(out, axis=-1) == jnp.argmax(y, axis=-1))
        else:
            correct = jnp.full((), jnp.nan)
        return value, correct

    return jax.jit(eval_batch)


@functools.lru_cache(maxsize=64)
def _cached_eval_batch(apply: Callable, loss: Callable) -> Callable:
    return _make_eval_batch(apply, loss)


def _eval_batch_fn(model: Any, loss: Callable) -> Callable:
    try:
        return _cached_eval_batch(model.apply, loss)
    except TypeError:  # unhashable apply/loss: compile without the cache
        return _make_eval_batch(model.apply, loss)


def evaluate(
    model: Any,
    params: PyTree,
    model_state: PyTree,
    x: Any,
    y: Any,
    *,
    loss: Callable | None = None,
    batch_size: int | None = None,
) -> dict:
    r"""Mean loss and accuracy of `model` on `(x, y)`, with `train=False`.

    .. math::
       \text{loss} = \frac{1}{n}\sum_b |b|\,\ell_b, \qquad
       \text{accuracy} = \frac{1}{n}\sum_i [\arg\max_c f_\theta(x_i)_c = y_i]

    where :math:`\ell_b` is `loss` (a batch mean) on batch `b`. Accuracy is
    computed for integer class ids (`y.ndim == outputs.ndim - 1`) or one-hot /
    probability targets (same shape as the outputs, more than one class); for
    other targets (regression) it is NaN.

    Args:
      model: a layer; `params`/`model_state` its variables.
      x, y: inputs and targets with the same leading dimension.
      loss: `loss(outputs, targets) -> scalar mean`; defaults to softmax
        cross-entropy.
      batch_size: evaluate in batches of this size (the last one may be
        smaller); None evaluates everything at once.

    Returns:
      `{"loss": float, "accuracy": float}`.
    """
    loss = _default_loss(loss)
    n = _check_xy(x, y)
    bs = n if batch_size is None else int(batch_size)
    if bs <= 0:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    eval_batch = _eval_batch_fn(model, loss)
    total_loss, total_correct = 0.0, 0.0
    for start in range(0, n, bs):
        xb, yb = x[start : start + bs], y[start : start + bs]
        value, correct = eval_batch(params, model_state, jnp.asarray(xb), jnp.asarray(yb))
        total_loss += float(value) * len(xb)
        total_correct += float(correct)
    return {"loss": total_loss / n, "accuracy": total_correct / n}


# ---------------------------------------------------------------------------
# Checks shared by fit and train_scan.
# ---------------------------------------------------------------------------


def _check_xy(x: Any, y: Any) -> int:
    x_shape, y_shape = np.shape(x), np.shape(y)
    if len(x_shape) == 0 or len(y_shape) == 0 or x_shape[0] != y_shape[0]:
        raise ValueError(
            "Inputs and targets must have the same leading (example) dimension; "
            f"got x with shape {x_shape} and y with shape {y_shape}."
        )
    return int(x_shape[0])


def _check_arrays(data: tuple) -> int:
    if not isinstance(data, (tuple, list)) or not data:
        raise TypeError(f"`data` must be a non-empty tuple of arrays, got {type(data).__name__}.")
    shapes = [np.shape(a) for a in data]
    if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise ValueError(
            f"Every array in `data` must have the same leading dimension; got shapes {shapes}."
        )
    return int(shapes[0][0])


def _check_batch_size(batch_size: Any, n: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"`batch_size` must be a Python int, got {batch_size!r}.")
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    if batch_size > n:
        raise ValueError(
            f"`batch_size` ({batch_size}) is larger than the number of training "
            f"examples ({n}); with the remainder dropped there would be no batch. "
            f"Use batch_size <= {n}."
        )
    return int(batch_size)


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


# ---------------------------------------------------------------------------
# fit: the Python-driven loop.
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Pure training and optimization on lax.scan.
# ---------------------------------------------------------------------------


def _batch_indices(key: jax.Array, n: int, batch_size: int, num_steps: int) -> jax.Array:
    """(num_steps, batch_size) example indices: one permutation per epoch,
    the remainder of each epoch dropped."""
    steps_per_epoch = n // batch_size
    num_epochs = -(-num_steps // steps_per_epoch)
    keys = jax.random.split(key, num_epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    perms = perms[:, : steps_per_epoch * batch_size]
    return perms.reshape(num_epochs * steps_per_epoch, batch_size)[:num_steps]


def train_scan(
    loss_fn: LossFn,
    optimizer: Any,
    params: PyTree,
    data: tuple,
    *,
    key: jax.Array,
    num_steps: int,
    batch_size: int,
    model_state: PyTree = (),
) -> tuple[TrainState, dict]:
    """Train for `num_steps` minibatch steps as one pure function on `lax.scan`.

    With `n` examples and `E = ceil(num_steps / (n // batch_size))` epochs:
    `key` splits into `(k_data, k_train)`; epoch `e` visits the examples in the
    order `permutation(split(k_data, E)[e], n)`, cut into `n // batch_size`
    batches (the remainder dropped); `k_train` is the `TrainState` key split at
    each step exactly as in `make_train_step`.

    The function has no Python side effects and no control flow on values, so
    `jax.jit` it and `jax.vmap` it over `key`, `params`, or hyperparameters
    (build the optimizer inside the vmapped function)::

      def run(lr, key):
          return train_scan(loss_fn, optax.sgd(lr), params, (x, y), key=key,
                            num_steps=500, batch_size=32)
      states, hist = jax.jit(jax.vmap(run))(lrs, keys)   # hist["loss"]: (len(lrs), 500)

    A non-finite loss is not caught here (no side effects): it propagates;
    inspect the history with `jaxnn.diagnostics.first_nonfinite`.

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`; `batch` is
        a tuple of arrays like `data`, each with leading dimension `batch_size`.
      optimizer: any optax-protocol `(init, update)` pair.
      params: initial parameters.
      data: tuple of arrays with the same leading dimension (e.g. `(x, y)`).
      key: PRNG key (shuffling and the per-step keys).
      num_steps, batch_size: static Python ints; `batch_size <= n`.
      model_state: initial model state.

    Returns:
      `(final TrainState, {"loss": (num_steps,), "grad_norm": (num_steps,)})`.
    """
    n = _check_arrays(data)
    batch_size = _check_batch_size(batch_size, n)
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"`num_steps` must be a positive Python int, got {num_steps!r}.")
    data = tuple(jnp.asarray(a) for a in data)
    data_key, train_key = jax.random.split(key)
    indices = _batch_indices(data_key, n, batch_size, int(num_steps))
    state = init_train_state(params, optimizer, train_key, model_state)
    step = _raw_step(loss_fn, optimizer)

    def body(state, idx):
        return step(state, tuple(a[idx] for a in data))

    state, history = jax.lax.scan(body, state, indices)
    return state, history


def optimize(
    loss_fn: Callable[[PyTree], jax.Array],
    optimizer: Any,
    params: PyTree,
    num_steps: int,
) -> tuple[PyTree, dict]:
    r"""Run `num_steps` full-batch steps on a deterministic `loss_fn(params) -> scalar`.

    .. math::
       u_t, s_{t+1} = \text{update}(\nabla L(\theta_t), s_t, \theta_t), \qquad
       \theta_{t+1} = \theta_t + u_t

    A pure `lax.scan`: jit and vmap it (over starting points or
    hyperparameters) freely. Optimizers whose `update` needs extra arguments
    (line searches such as optax's L-BFGS) are not supported.

    Returns:
      `(theta_T, history)` with `history["loss"]` of shape `(num_steps + 1,)`
      (`L(theta_0)` first, `L(theta_T)` last), `history["params"]` the
      trajectory `theta_0 .. theta_T` stacked on a new leading axis of length
      `num_steps + 1`, and `history["grad_norm"]` of shape `(num_steps,)`.

    Example::

      obj = jaxnn.objectives.rosenbrock()
      x, hist = optimize(obj.fn, optax.adam(1e-2), obj.x0, 1000)
      plt.plot(hist["params"][:, 0], hist["params"][:, 1])
    """
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"`num_steps` must be a non-negative Python int, got {num_steps!r}.")
    grad_fn = jax.value_and_grad(loss_fn)

    def body(carry, _):
        params, opt_state = carry
        loss, grads = grad_fn(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        new_params = apply_updates(params, updates)
        return (new_params, opt_state), (loss, params, global_norm(grads))

    (final, _), (losses, traj, norms) = jax.lax.scan(
        body, (params, optimizer.init(params)), None, length=int(num_steps)
    )
    final_loss = loss_fn(final)
    history = {
        "loss": jnp.concatenate([losses, jnp.reshape(final_loss, (1,)).astype(losses.dtype)]),
        "params": jax.tree.map(lambda t, p: jnp.concatenate([t, p[None]]), traj, final),
        "grad_norm": norms,
    }
    return final, history
