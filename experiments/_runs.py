"""What the training experiments share: a `train_scan` run as a function of its learning rate,
and MNIST-1D cut into the splits an experiment uses.

Seven experiments train with `jaxnn.train.train_scan` inside a closure over a
(traced) learning rate, so that one `jax.vmap` runs a whole grid of rates.
`lr_run` writes that closure once::

    run = lr_run(loss_fn, optim.adam, splits["train"], key=jax.random.key(1),
                 num_steps=500, batch_size=100, model_state=state)
    final, hist = jax.jit(jax.vmap(run, (0, None)))(lrs, params)   # one program

`run(lr, params, key=None, loss_fn=None)` is a pure function: `lr` may be a
traced scalar, a schedule, or any value `make_optimizer` accepts (a tuple of
hyperparameters, say); `key` and `loss_fn` override the defaults per run (a
vmapped seed, a traced dropout rate). The same arguments give the same
program, so folding an experiment onto it leaves its numbers unchanged.

`mnist1d(num_train, num_val=0)` is `experiments._common.mnist1d_splits` for
every experiment: the first `num_train` training signals, optionally the last
`num_val` of them for validation, and the official test split.

`mnist1d_mlp(width, num_train, seed)` is the problem the landscape papers
share (a two-hidden-layer ReLU MLP on MNIST-1D with its full-data train and
test losses), and `barrier(alphas, curve)` the height of a loss curve above
the chord between its endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import mnist1d_splits
from jaxnn import data, landscape, layers, losses, train

__all__ = ["MLPProblem", "barrier", "lr_run", "mnist1d", "mnist1d_mlp", "stack"]


def lr_run(
    loss_fn: Callable,
    make_optimizer: Callable[[Any], Any],
    data: tuple,
    *,
    key: jax.Array,
    num_steps: int,
    batch_size: int,
    model_state: Any = (),
) -> Callable[..., tuple[train.TrainState, dict]]:
    """`run(lr, params, key=None, loss_fn=None) -> (final TrainState, history)`.

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`.
      make_optimizer: `lr -> optimizer` (e.g. `jaxnn.optim.adam`), called inside
        the traced function so that `lr` may be a traced scalar.
      data: tuple of arrays with a common leading dimension, e.g. `(x, y)`.
      key: default PRNG key of `train_scan` (shuffling and per-step keys).
      num_steps, batch_size: static ints passed to `train_scan`.
      model_state: initial model state.

    Returns:
      A pure function running `train.train_scan(loss_fn, make_optimizer(lr),
      params, data, ...)`; vmap it over `lr`, `params` or `key`.
    """
    default_key, default_loss = key, loss_fn

    def run(lr, params, key=None, loss_fn=None):
        return train.train_scan(
            default_loss if loss_fn is None else loss_fn,
            make_optimizer(lr),
            params,
            data,
            key=default_key if key is None else key,
            num_steps=num_steps,
            batch_size=batch_size,
            model_state=model_state,
        )

    return run


def mnist1d(num_train: int, num_val: int = 0) -> dict:
    """MNIST-1D as `{"train", "test"}` (plus `"val"` when `num_val > 0`) `(x, y)` device arrays.

    `train` is the first `num_train` training signals, `val` the last
    `num_val` (disjoint while `num_train + num_val <= 4000`), `test` the
    official 1000-signal test split.
    """
    splits = mnist1d_splits(num_train, max(num_val, 1))
    if num_val <= 0:
        del splits["val"]
    return splits


class MLPProblem(NamedTuple):
    """A two-hidden-layer MLP on MNIST-1D and its full-data losses."""

    model: Any  # layers.mlp([width, width, 10])
    state: Any  # its (empty) model state
    train: tuple  # (x, y): the first num_train training signals
    test: tuple  # (x, y): the official test split
    loss_fn: Callable  # params -> mean training cross-entropy (landscape.model_loss)
    test_fn: Callable  # params -> mean test cross-entropy


def mnist1d_mlp(width: int, num_train: int, seed: int) -> MLPProblem:
    """The shared problem of the landscape papers (see the module docstring)."""
    ds = data.mnist1d()
    xy = (jnp.asarray(ds.x_train[:num_train]), jnp.asarray(ds.y_train[:num_train]))
    test = (jnp.asarray(ds.x_test), jnp.asarray(ds.y_test))
    model = layers.mlp([width, width, 10])
    _, _, state = model.init(jax.random.key(seed), (-1, xy[0].shape[-1]))
    loss_fn = landscape.model_loss(model, state, xy, losses.softmax_cross_entropy)
    test_fn = landscape.model_loss(model, state, test, losses.softmax_cross_entropy)
    return MLPProblem(model, state, xy, test, loss_fn, test_fn)


def barrier(alphas: np.ndarray, curve: np.ndarray) -> float:
    """max over alpha in [0, 1] of the loss above the chord between the endpoint losses."""
    inside = (alphas >= 0) & (alphas <= 1)
    a, c = alphas[inside], curve[inside]
    i0, i1 = np.argmin(np.abs(alphas)), np.argmin(np.abs(alphas - 1))
    chord = (1 - a) * curve[i0] + a * curve[i1]
    return float(np.max(c - chord))


def stack(trees: Any) -> Any:
    """Stack a sequence of pytrees with the same structure leaf by leaf (a new leading axis).

    `stack([p_0, ..., p_{n-1}])` holds `p_i` at index `i` of every leaf: the
    parameters of `n` seeds as one batch for `jax.vmap`.
    """
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)
