"""Training: a jit-compiled step, a minibatch loop with safeguards, and a pure scan.

Three ways to train, from most to least Python:

* `fit` -- epochs of shuffled minibatches (`jaxnn.data.batches`) driven from
  Python, with validation each epoch, early stopping, a progress bar and a
  guard against non-finite losses. For interactive work and scripts. (It and
  `FitResult` are defined in the private `jaxnn._fit` and re-exported here.)
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
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.optim._tree import _global_norm
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
    r"""Global L2 norm :math:`\sqrt{\sum_\ell \|g_\ell\|_2^2}` over all leaves.

    optax's `global_norm`, computed by the same function (same summation order)
    as `jaxnn.optim.clip_by_global_norm`, so a reported `grad_norm` is exactly
    the norm a clip sees. A tree without leaves has norm `zeros(())`.
    """
    if not jax.tree.leaves(tree):
        return jnp.zeros(())
    return _global_norm(tree)


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
    record_params: bool = False,
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
      record_params: also return the parameters after every step (for
        trajectory plots, e.g. `jaxnn.landscape.pca_directions`). This stores
        `num_steps` copies of the parameters: `num_steps * P * itemsize` bytes
        for `P` parameters (1000 steps of a 100k-parameter float32 model take
        400 MB), times the batch size under `vmap`.

    Returns:
      `(final TrainState, history)` with `history["loss"]` and
      `history["grad_norm"]` of shape `(num_steps,)` and, with `record_params`,
      `history["params"]`: a pytree like `params` whose leaves are stacked on a
      new leading axis of length `num_steps`, entry `t` holding the parameters
      after `t + 1` updates (entry `-1` is the final state's; unlike
      `optimize`, the starting point is not included).
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
        state, metrics = step(state, tuple(a[idx] for a in data))
        if record_params:
            metrics = {**metrics, "params": state.params}
        return state, metrics

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


# `fit` and `FitResult` live in jaxnn/_fit.py, which imports the definitions above from
# this module; so it is imported last. (Importing jaxnn._fit directly first is safe too:
# the package's __init__ imports jaxnn.train, which gets here, before it.)
from jaxnn._fit import FitResult, fit  # noqa: E402

FitResult.__module__ = fit.__module__ = __name__  # documented (and pickled) as jaxnn.train's
