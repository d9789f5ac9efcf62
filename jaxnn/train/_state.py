"""`TrainState`: everything that changes during training, and its constructor."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.train._types import PyTree


class TrainState(NamedTuple):
    """Everything that changes during training.

    Attributes:
      params: trainable parameters (any pytree).
      model_state: non-trainable variables (BatchNorm statistics); `()` if none.
      opt_state: the optimizer's state.
      step: number of updates applied so far (int32 scalar).
      key: PRNG key; split once per step to draw the step's dropout key.
    """

    params: PyTree  # trainable parameters
    model_state: PyTree  # non-trainable variables, () if none
    opt_state: PyTree  # the optimizer's state
    step: jax.Array  # updates applied so far, int32 scalar
    key: jax.Array  # PRNG key, split once per step


def init_train_state(
    params: PyTree, optimizer: Any, key: jax.Array, model_state: PyTree = ()
) -> TrainState:
    """Initialise the optimizer and pack a `TrainState` with `step = 0`.

    Args:
      params: initial parameters.
      optimizer: any optax-protocol `(init, update)` pair.
      key: PRNG key carried by the state.
      model_state: initial model state (`()` if none).

    Returns:
      `TrainState(params, model_state, optimizer.init(params), 0, key)`.
    """
    return TrainState(
        params=params,
        model_state=model_state,
        opt_state=optimizer.init(params),
        step=jnp.zeros((), jnp.int32),
        key=key,
    )
