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

Data parallelism. With several devices (`jax.device_count() > 1`, or an
explicit `mesh=`) each batch is split along its example axis over the
devices of a one-axis `"data"` mesh (`jaxnn._devices`): the data are placed
sharded once, every batch carries a sharding constraint, and XLA computes
each shard's part of the batch mean where it lives and all-reduces it. The
result equals one device's within float32 reduction-order tolerance, and so
do `grad`, `hvp` and the Krylov curvature functions of the loss (they only
differentiate it). A batch whose size does not divide by the number of
devices is replicated instead (same numbers, no speed-up for that batch), so
choose `batch_size` (and `n % batch_size`) as multiples of the device count.
With one device nothing changes (no mesh, no copies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn._devices import data_mesh
from jaxnn.landscape._validate import check_positive_int, describe

__all__ = ["dataset_loss", "model_loss"]

PyTree = Any
_BN_MODES = ("running", "batch")


def _num_examples(data: PyTree) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data holds no arrays; pass e.g. a tuple (x, y) of arrays.")
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if len(sizes) != 1 or None in sizes:
        shapes = ", ".join(describe(a) for a in leaves)
        raise ValueError(
            f"every array in data must have the same leading (example) dimension; got {shapes}."
        )
    n = int(np.shape(leaves[0])[0])
    if n == 0:
        raise ValueError("data is empty (0 examples).")
    return n


def _scalar(value: Any, what: str) -> Any:
    if jnp.shape(value) != ():
        raise ValueError(
            f"{what} must return a scalar (the mean over the batch), but it returned "
            f"shape {jnp.shape(value)}; reduce it with .mean()."
        )
    return value


def _batch_spec(mesh: Mesh | None, size: int) -> NamedSharding | None:
    """Sharding of a batch of `size` examples: split over `mesh` when it divides."""
    if mesh is None or size % mesh.size:
        return None
    return NamedSharding(mesh, P(mesh.axis_names[0]))


def _place(tree: PyTree, spec: NamedSharding | None, stacked: bool) -> PyTree:
    """Put `tree` on the mesh: the example axis (1 when `stacked`, else 0) split."""
    if spec is None:
        return tree
    names = (None, *spec.spec) if stacked else tuple(spec.spec)
    return jax.device_put(tree, NamedSharding(spec.mesh, P(*names)))


def _constrain(batch: PyTree, spec: NamedSharding | None) -> PyTree:
    return batch if spec is None else jax.lax.with_sharding_constraint(batch, spec)


def dataset_loss(
    per_batch_loss: Callable[[PyTree, PyTree], jax.Array],
    data: PyTree,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
) -> Callable[[PyTree], jax.Array]:
    """Exact dataset mean of a per-batch mean loss, as one `params -> scalar` function.

    Args:
      per_batch_loss: `(params, batch) -> scalar`, the mean loss over `batch`;
        `batch` has the structure of `data` with a leading axis of size
        `batch_size` (or the remainder size).
      data: a pytree of arrays (e.g. `(x, y)`) sharing the leading dimension n.
      batch_size: examples per forward pass; `None` for one pass over all n.
      mesh: a `jax.sharding.Mesh` to split each batch over (its first axis);
        default all devices when there are several (see the module docstring).

    Returns:
      `loss_fn(params) = (1/n) * sum_b |B_b| * per_batch_loss(params, B_b)`,
      traceable (jit/vmap/grad all work; `grad` of it is the full-data gradient).

    Examples:
      >>> x = jnp.arange(10.0)
      >>> f = dataset_loss(lambda w, b: jnp.mean((w * b[0]) ** 2), (x,), batch_size=4)
      >>> float(f(1.0)), float(jnp.mean(x**2))
      (28.5, 28.5)
    """
    n = _num_examples(data)
    check_positive_int("batch_size", batch_size)
    mesh = data_mesh(mesh)
    batch_size = n if batch_size is None else min(int(batch_size), n)
    num_full, rem = divmod(n, batch_size)
    data = jax.tree.map(jnp.asarray, data)
    full = jax.tree.map(
        lambda a: a[: num_full * batch_size].reshape((num_full, batch_size) + a.shape[1:]), data
    )
    full_spec, tail_spec = _batch_spec(mesh, batch_size), _batch_spec(mesh, rem)
    full = _place(full, full_spec, stacked=True)
    tail = _place(jax.tree.map(lambda a: a[num_full * batch_size :], data), tail_spec, False)

    def batch_value(params, batch, spec):
        value = per_batch_loss(params, _constrain(batch, spec))
        return _scalar(value, "per_batch_loss(params, batch)")

    def loss_fn(params):
        first = jax.tree.map(lambda a: a[0], full)
        out = jax.eval_shape(per_batch_loss, params, first)
        _scalar(out, "per_batch_loss(params, batch)")

        def body(acc, batch):
            return acc + batch_value(params, batch, full_spec).astype(acc.dtype), None

        if num_full == 1:
            total = batch_value(params, first, full_spec).astype(out.dtype)
        else:
            total, _ = jax.lax.scan(body, jnp.zeros((), out.dtype), full)
        total = total * batch_size
        if rem:
            total = total + rem * batch_value(params, tail, tail_spec).astype(out.dtype)
        return total / n

    return loss_fn


def _check_model(model: Any, data: Any, bn_mode: Any) -> Callable:
    apply = getattr(model, "apply", None)
    if not callable(apply):
        raise TypeError(
            "model must have an apply(params, state, x, *, key=None, train=False) method "
            f"(a jaxnn.layers.Layer or a model from jaxnn.adapters); got {type(model).__name__}."
        )
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"data must be a pair (x, y) of arrays; got {type(data).__name__}.")
    if bn_mode not in _BN_MODES:
        raise ValueError(
            f"bn_mode must be 'running' (inference mode: BatchNorm's running statistics) or "
            f"'batch' (each batch's own statistics, as in Li et al.'s code); got {bn_mode!r}."
        )
    return apply


def model_loss(
    model: Any,
    model_state: PyTree,
    data: tuple,
    loss: Callable[[jax.Array, jax.Array], jax.Array],
    batch_size: int | None = None,
    *,
    bn_mode: str = "running",
    key: jax.Array | None = None,
    mesh: Mesh | None = None,
) -> Callable[[PyTree], jax.Array]:
    """Dataset loss of a model, in inference mode or with batch statistics.

    `loss_fn(params) = (1/n) sum_b |B_b| mean_{i in B_b} loss(f(params, x_i), y_i)`,
    evaluated with `dataset_loss`, where `f` is

    * `bn_mode="running"` (default): `model.apply(params, model_state, x,
      train=False)`. Layers with state use their *running* statistics
      (BatchNorm's running mean/variance) and Dropout is the identity: the
      landscape of the model a user would deploy.
    * `bn_mode="batch"`: `model.apply(params, model_state, x, key=key,
      train=True)`. BatchNorm normalizes each batch `B_b` with that batch's
      own mean and variance, as Li et al.'s code does (their loss is taken
      with the network in training mode), so the value depends on
      `batch_size`. The updated running statistics are discarded. `train=True`
      also turns Dropout on: pass `key` to fix its masks (the same key for
      every batch, so the landscape is still a function of the parameters
      alone) or use a model without Dropout.

    In both modes `model_state` is never updated.

    Args:
      model: anything with `apply(params, state, x, *, key=None, train=False)
        -> (y, new_state)` (a `jaxnn.layers.Layer`, or a flax/nnx/equinox
        model wrapped by `jaxnn.adapters`).
      model_state: the model's state (`()` for stateless models).
      data: `(x, y)` arrays with the same leading dimension.
      loss: `(predictions, targets) -> loss`; either the batch mean (jaxnn's
        default `reduction="mean"`) or per-example losses
        (`reduction="none"`), which are averaged. Each batch is then weighted
        by its size, so the result is the mean over all examples.
      batch_size: examples per forward pass (`None`: all at once); with
        `bn_mode="batch"` also the set of examples each statistic is taken over.
      bn_mode: `"running"` or `"batch"` (see above).
      key: PRNG key passed to `apply` when `bn_mode="batch"` (for Dropout).
      mesh: passed on to `dataset_loss` (data parallelism over devices).

    Returns:
      `loss_fn(params) -> scalar`.
    """
    apply = _check_model(model, data, bn_mode)
    train = bn_mode == "batch"

    def per_batch(params, batch):
        x, y = batch
        if train:
            pred, _ = apply(params, model_state, x, key=key, train=True)
        else:
            pred, _ = apply(params, model_state, x, train=False)
        return jnp.mean(loss(pred, y))

    return dataset_loss(per_batch, tuple(data), batch_size, mesh=mesh)
