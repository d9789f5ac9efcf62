"""`evaluate`: mean loss and accuracy of a model in inference mode."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import losses
from jaxnn.train._batches import Arrays, array_batches, as_data, iterate
from jaxnn.train._checks import check_finite, check_int
from jaxnn.train._loss import default_loss
from jaxnn.train._types import PyTree


def _correct(out: jax.Array, y: jax.Array) -> jax.Array:
    """Number of correct argmax predictions, by `jaxnn.losses.accuracy`; NaN for regression.

    Integer targets are class ids and floating targets of the outputs' shape
    with more than one class are one-hot/probabilities; both go through
    `losses.accuracy` (which raises on a shape mismatch). Other targets are
    regression targets: NaN. The count is the accuracy times the number of
    predictions, rounded (exact below 2**22 predictions per batch).
    """
    is_ids = jnp.issubdtype(y.dtype, jnp.integer)
    is_probs = y.shape == out.shape and out.ndim >= 1 and out.shape[-1] > 1
    if not (is_ids or is_probs):
        return jnp.full((), jnp.nan)
    count = 1
    for d in out.shape[:-1]:
        count *= d
    return jnp.round(losses.accuracy(out, y) * count)


def _make_eval_batch(apply: Callable, loss: Callable) -> Callable:
    def eval_batch(params, model_state, x, y):
        out, _ = apply(params, model_state, x, train=False)
        return loss(out, y), _correct(out, y)

    return jax.jit(eval_batch)


@functools.lru_cache(maxsize=64)
def _cached_eval_batch(apply: Callable, loss: Callable) -> Callable:
    return _make_eval_batch(apply, loss)


def _eval_batch_fn(model: Any, loss: Callable) -> Callable:
    try:
        return _cached_eval_batch(model.apply, loss)
    except TypeError:  # unhashable apply/loss: compile without the cache
        return _make_eval_batch(model.apply, loss)


def _batches_of(x: Any, y: Any, batch_size: int | None) -> Iterator[tuple[Any, Any]]:
    data = as_data(x if y is None else (x, y), "data" if y is None else "x, y")
    if not isinstance(data, Arrays):
        return iterate(data)
    if data.n == 0:
        raise ValueError(
            f"`evaluate` got no examples: x has shape {tuple(jnp.shape(data.x))}; pass at "
            "least one example."
        )
    check_finite(data.x, "The evaluation inputs x")
    bs = data.n if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
    return array_batches(data.x, data.y, bs)


def evaluate(
    model: Any,
    params: PyTree,
    model_state: PyTree,
    x: Any,
    y: Any = None,
    *,
    loss: Callable | None = None,
    batch_size: int | None = None,
) -> dict:
    r"""Mean loss and accuracy of `model` on `(x, y)`, with `train=False`.

    .. math::
       \text{loss} = \frac{1}{n}\sum_b |b|\,\ell_b, \qquad
       \text{accuracy} = \frac{1}{n}\sum_i [\arg\max_c f_\theta(x_i)_c = y_i]

    where :math:`\ell_b` is `loss` (a batch mean) on batch `b`. Accuracy is
    `jaxnn.losses.accuracy` for integer class ids or one-hot / probability
    targets (same shape as the outputs, more than one class); for other
    targets (regression) it is NaN.

    Args:
      model: a layer; `params`/`model_state` its variables.
      x: inputs with the same leading dimension as `y`; or, with `y=None`,
        any data `fit` accepts: a pair `(x, y)` or a re-iterable of `(x, y)`
        batches (a list, a DataLoader, a function returning an iterator; then
        `batch_size` is the loader's).
      y: targets, or `None` when `x` holds the whole data.
      loss: `loss(outputs, targets) -> scalar mean`; defaults to softmax
        cross-entropy.
      batch_size: evaluate arrays in batches of this size (the last one may be
        smaller); None evaluates everything at once.

    Returns:
      `{"loss": float, "accuracy": float}`.
    """
    eval_batch = _eval_batch_fn(model, default_loss(loss))
    total_loss, total_correct, n = 0.0, 0.0, 0
    for xb, yb in _batches_of(x, y, batch_size):
        value, correct = eval_batch(params, model_state, jnp.asarray(xb), jnp.asarray(yb))
        size = int(jnp.shape(xb)[0])
        total_loss += float(value) * size
        total_correct += float(correct)
        n += size
    if n == 0:
        raise ValueError("`evaluate` got no examples: the batches of the data were empty.")
    return {"loss": total_loss / n, "accuracy": total_correct / n}
