"""`optimize`: full-batch steps on a deterministic objective, as a pure `lax.scan`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn.optim.base import apply_updates
from jaxnn.train._checks import check_int
from jaxnn.train._step import global_norm, with_extra_args
from jaxnn.train._types import PyTree


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
    hyperparameters) freely. Optimizers that take optax's extra arguments
    (`optax.lbfgs`, line searches, `reduce_on_plateau`) receive
    `value=L(theta_t)`, `grad=grad L(theta_t)` and `value_fn=loss_fn`.

    Args:
      loss_fn: `loss_fn(params) -> scalar`.
      optimizer: any optax-protocol `(init, update)` pair.
      params: the starting point.
      num_steps: number of steps (a non-negative Python int).

    Returns:
      `(theta_T, history)` with `history["loss"]` of shape `(num_steps + 1,)`
      (`L(theta_0)` first, `L(theta_T)` last), `history["params"]` the
      trajectory `theta_0 .. theta_T` stacked on a new leading axis of length
      `num_steps + 1`, and `history["grad_norm"]` of shape `(num_steps,)`.

    Example:
      ```python
      obj = jaxnn.objectives.rosenbrock()
      x, hist = optimize(obj.fn, optax.lbfgs(), obj.x0, 50)
      plt.plot(hist["params"][:, 0], hist["params"][:, 1])
      ```
    """
    num_steps = check_int(num_steps, "num_steps", minimum=0)
    grad_fn = jax.value_and_grad(loss_fn)
    opt = with_extra_args(optimizer)

    def body(carry, _):
        params, opt_state = carry
        loss, grads = grad_fn(params)
        updates, opt_state = opt.update(
            grads, opt_state, params, value=loss, grad=grads, value_fn=loss_fn
        )
        new_params = apply_updates(params, updates)
        return (new_params, opt_state), (loss, params, global_norm(grads))

    (final, _), (losses, traj, norms) = jax.lax.scan(
        body, (params, optimizer.init(params)), None, length=num_steps
    )
    final_loss = loss_fn(final)
    history = {
        "loss": jnp.concatenate([losses, jnp.reshape(final_loss, (1,)).astype(losses.dtype)]),
        "params": jax.tree.map(lambda t, p: jnp.concatenate([t, p[None]]), traj, final),
        "grad_norm": norms,
    }
    return final, history
