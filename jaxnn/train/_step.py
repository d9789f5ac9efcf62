"""One training step: the update rule shared by `make_train_step`, `train_scan` and `fit`.

Optimizers that take optax's extra arguments (`optax.GradientTransformationExtraArgs`,
e.g. `optax.lbfgs`, `optax.contrib.reduce_on_plateau`) receive, at every step,
`value` (the loss before the update), `grad` (its gradient) and `value_fn`
(the loss as a function of the parameters on the same batch and key). Plain
optimizers are wrapped with `optax.with_extra_args_support`, which drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxnn.optim._tree import _global_norm
from jaxnn.optim.base import apply_updates
from jaxnn.train._state import TrainState
from jaxnn.train._types import Batch, LossFn, PyTree


def global_norm(tree: PyTree) -> jax.Array:
    r"""Global L2 norm :math:`\sqrt{\sum_\ell \|g_\ell\|_2^2}` over all leaves.

    optax's `global_norm`, computed by the same function (same summation order)
    as `jaxnn.optim.clip_by_global_norm`, so a reported `grad_norm` is exactly
    the norm a clip sees.

    Args:
      tree: any pytree of arrays.

    Returns:
      A scalar; a tree without leaves has norm `zeros(())`.
    """
    if not jax.tree.leaves(tree):
        return jnp.zeros(())
    return _global_norm(tree)


def with_extra_args(optimizer: Any) -> optax.GradientTransformationExtraArgs:
    """`optimizer` as an extra-args transformation (plain ones ignore the extras)."""
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return optimizer
    return optax.with_extra_args_support(optimizer)


def step_and_grads(loss_fn: LossFn, optimizer: Any) -> Callable:
    """Un-jitted `(state, batch) -> (new_state, metrics, grads)`: the one update rule."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    opt = with_extra_args(optimizer)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, dict, PyTree]:
        key, subkey = jax.random.split(state.key)
        (loss, model_state), grads = grad_fn(state.params, state.model_state, batch, subkey)

        def value_fn(params: PyTree) -> jax.Array:
            return loss_fn(params, state.model_state, batch, subkey)[0]

        updates, opt_state = opt.update(
            grads, state.opt_state, state.params, value=loss, grad=grads, value_fn=value_fn
        )
        params = apply_updates(state.params, updates)
        new_state = TrainState(params, model_state, opt_state, state.step + 1, key)
        return new_state, {"loss": loss, "grad_norm": global_norm(grads)}, grads

    return step


def raw_step(loss_fn: LossFn, optimizer: Any) -> Callable:
    """Un-jitted `(state, batch) -> (new_state, metrics)`."""
    step = step_and_grads(loss_fn, optimizer)

    def raw(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        new_state, metrics, _ = step(state, batch)
        return new_state, metrics

    return raw


def make_train_step(loss_fn: LossFn, optimizer: Any, *, jit: bool = True) -> Callable:
    """Build `step(train_state, batch) -> (train_state, metrics)`.

    One step with learning signal :math:`g_t = \\nabla L(\\theta_t; B_t, k_t)`:

    ```python
    key, k_t     = split(key)
    u_t, s_{t+1} = update(g_t, s_t, theta_t, value=L_t, grad=g_t, value_fn=L(.; B_t, k_t))
    theta_{t+1}  = theta_t + u_t
    ```

    (the extra arguments only reach optimizers that take them). `metrics` is
    `{"loss": L(theta_t), "grad_norm": ||g_t||}` -- the loss before the update
    and the global norm of the raw gradient (before any clipping the optimizer
    applies).

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`.
      optimizer: any optax-protocol `(init, update)` pair, with or without
        extra arguments.
      jit: compile the step with `jax.jit` (turn off to debug with prints).

    Returns:
      The step function.

    Example:
      ```python
      step = make_train_step(supervised_loss(model), optax.adam(1e-3))
      state = init_train_state(params, optax.adam(1e-3), jax.random.key(0))
      state, metrics = step(state, (x, y))
      ```
    """
    step = raw_step(loss_fn, optimizer)
    return jax.jit(step) if jit else step
