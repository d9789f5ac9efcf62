"""Loss functions in the canonical form `loss_fn(params, model_state, batch, key)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jaxnn import losses
from jaxnn.train._types import Batch, LossFn, PyTree


def default_loss(loss: Callable | None) -> Callable:
    """`loss`, or softmax cross-entropy when it is None."""
    return losses.softmax_cross_entropy if loss is None else loss


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
    loss = default_loss(loss)

    def loss_fn(params, model_state, batch, key):
        x, y = batch
        out, new_state = model.apply(params, model_state, x, key=key, train=True)
        value = loss(out, y)
        if penalty is not None:
            value = value + penalty(params)
        return value, new_state

    return loss_fn


def stateless(f: Callable[[PyTree, Batch], jax.Array]) -> LossFn:
    """Wrap `f(params, batch) -> loss` into the canonical form.

    .. math:: L(\\theta; B, k) = f(\\theta, B)

    The model state is passed through unchanged and the key is ignored.

    Args:
      f: `f(params, batch) -> scalar loss`.

    Returns:
      `loss_fn(params, model_state, batch, key) -> (f(params, batch), model_state)`.
    """

    def loss_fn(params, model_state, batch, key):
        del key
        return f(params, batch), model_state

    return loss_fn
