"""Build `loss_fn(params) -> scalar` over a whole dataset, for slices and curvature.

The landscape functions take a loss of the parameters alone. These helpers
close over the data and average a per-batch loss with `lax.scan`, so a
dataset too big for one forward pass is still one compiled program:

    loss_fn(params) = (1 / n) * sum_b |B_b| * batch_loss(params, B_b)

where `batch_loss` is the **mean** over its batch. The `n // batch_size` full
batches go through one `lax.scan`; a remainder batch of `n % batch_size`
examples is evaluated once more at its own size and weighted by its size, so
the result is the mean over all `n` examples (equal to the full-batch mean up
to float rounding), not a mean of batch means.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.landscape._validate import check_positive_int, describe

__all__ = ["dataset_loss", "model_loss"]


def _num_examples(data) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data holds no arrays; pass e.g. a tuple (x, y) of arrays.")
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if len(sizes) != 1 or None in sizes:
        shapes = ", ".join(describe(a) for a in leaves)
        raise ValueError(
            f"every array in data must have the same leading (example) dimension; got {shapes}."
        )
    (n,) = sizes
    if n == 0:
        raise ValueError("data is empty (0 examples).")
    return n


def _scalar(value, what: str):
    if jnp.shape(value) != ():
        raise ValueError(
            f"{what} must return a scalar (the mean over the batch), but it returned "
            f"shape {jnp.shape(value)}; reduce it with .mean()."
        )
    return value


def dataset_loss(per_batch_loss, data, batch_size=None):
    """Exact dataset mean of a per-batch mean loss, as one `params -> scalar` function.

    Args:
      per_batch_loss: `(params, batch) -> scalar`, the mean loss over `batch`;
        `batch` has the structure of `data` with a leading axis of size
        `batch_size` (or the remainder size).
      data: a pytree of arrays (e.g. `(x, y)`) sharing the leading dimension n.
      batch_size: examples per forward pass; `None` for one pass over all n.

    Returns:
      `loss_fn(params) = (1/n) * sum_b |B_b| * per_batch_loss(params, B_b)`,
      traceable (jit/vmap/grad all work; `grad` of it is the full-data gradient).

    Example:
      >>> x = jnp.arange(10.0)
      >>> f = dataset_loss(lambda w, b: jnp.mean((w * b[0]) ** 2), (x,), batch_size=4)
      >>> float(f(1.0)), float(jnp.mean(x**2))
      (28.5, 28.5)
    """
    n = _num_examples(data)
    check_positive_int("batch_size", batch_size)
    batch_size = n if batch_size is None else min(int(batch_size), n)
    num_full, rem = divmod(n, batch_size)
    data = jax.tree.map(jnp.asarray, data)
    full = jax.tree.map(
        lambda a: a[: num_full * batch_size].reshape((num_full, batch_size) + a.shape[1:]), data
    )
    tail = jax.tree.map(lambda a: a[num_full * batch_size :], data) if rem else None

    def loss_fn(params):
        first = jax.tree.map(lambda a: a[0], full)
        out = jax.eval_shape(per_batch_loss, params, first)
        _scalar(out, "per_batch_loss(params, batch)")

        def body(acc, batch):
            value = _scalar(per_batch_loss(params, batch), "per_batch_loss(params, batch)")
            return acc + value.astype(acc.dtype), None

        if num_full == 1:
            total = per_batch_loss(params, first).astype(out.dtype)
        else:
            total, _ = jax.lax.scan(body, jnp.zeros((), out.dtype), full)
        total = total * batch_size
        if rem:
            last = _scalar(per_batch_loss(params, tail), "per_batch_loss(params, batch)")
            total = total + rem * last.astype(out.dtype)
        return total / n

    return loss_fn


def model_loss(model, model_state, data, loss, batch_size=None):
    """Dataset loss of a jaxnn `Layer` model in **inference mode** (`train=False`).

    `loss_fn(params) = mean_i loss(model.apply(params, model_state, x_i, train=False), y_i)`
    evaluated with `dataset_loss`. Layers with state use their *running*
    statistics (BatchNorm's running mean/variance), Dropout is the identity,
    and the state is never updated, so the landscape is that of the model a
    user would deploy.

    Args:
      model: anything with `apply(params, state, x, *, key=None, train=False)
        -> (y, new_state)` (a `jaxnn.layers.Layer`).
      model_state: the model's state (`()` for stateless models).
      data: `(x, y)` arrays with the same leading dimension.
      loss: `(predictions, targets) -> loss`; either the batch mean (jaxnn's
        default `reduction="mean"`) or per-example losses
        (`reduction="none"`), which are averaged. Each batch is then weighted
        by its size, so the result is the mean over all examples.
      batch_size: examples per forward pass (`None`: all at once).

    Returns:
      `loss_fn(params) -> scalar`.
    """
    apply = getattr(model, "apply", None)
    if not callable(apply):
        raise TypeError(
            "model must have an apply(params, state, x, *, key=None, train=False) method "
            f"(a jaxnn.layers.Layer); got {type(model).__name__}."
        )
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"data must be a pair (x, y) of arrays; got {type(data).__name__}.")

    def per_batch(params, batch):
        x, y = batch
        pred, _ = apply(params, model_state, x, train=False)
        return jnp.mean(loss(pred, y))

    return dataset_loss(per_batch, tuple(data), batch_size)
