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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from experiments._common import mnist1d_splits
from jaxnn import train

__all__ = ["lr_run", "mnist1d"]


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
