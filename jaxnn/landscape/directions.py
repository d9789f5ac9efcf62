"""Random directions in parameter space, normalized as in Li et al. (2018).

A direction is a pytree with the structure, leaf shapes and leaf dtypes of the
parameters. Conventions (see `docs/design.md`):

* A *filter* is a slice along the **filter axis** of a leaf with `ndim >= 2`.
  The default `filter_axis=-1` is the output axis of jaxnn, flax and haiku
  kernels (Dense `(in, out)`, conv `HWIO`): filter `j` of `w` is `w[..., j]`.
  `filter_axis=0` is the output axis of equinox and PyTorch weights (Linear
  `(out, in)`, conv `OIHW`): filter `j` is `w[j]`, exactly the slices Li et
  al.'s code iterates over. `filter_axis` is one int for every leaf or a
  pytree of ints like the parameters (`jaxnn.adapters` builds it for flax,
  nnx and equinox models as `layer.filter_axis`).
* Biases and normalization scales/offsets. A leaf with `ndim <= 1` is one.
  With a filter axis other than the last one (the `(out, in)` layouts) a leaf
  whose every axis but the filter axis has size 1 is one as well: equinox
  stores conv biases as `(C, 1, 1)`. In the `(in, out)` layouts biases are
  always 1-D, so there a `(1, out)` kernel (a Dense with one input) stays a
  kernel and `filter_axis=-1` behaves exactly as it always did. The one shape
  both readings fit is the `(out, 1)` weight of a one-input `(out, in)` layer,
  which is read as a bias. `ignore="biasbn"` sets the direction to zero on
  biases. With `ignore=None` they get Gaussian noise rescaled like a filter:
  a 1-D (or scalar) leaf is **one filter** rescaled to the norm of the
  matching parameter leaf (a scalar leaf `p` gets `±|p|`); an `(out, in)`
  layout bias of shape `(C, 1, 1)` is normalized per filter like any other
  leaf. Li et al.'s reference code instead copies the parameters into the
  direction there; elementwise rescaling would give `±|p_i|`, a random-sign
  copy of the parameters, which is no better.
* `norm`:
  - `"filter"`: `d_j <- d_j * ||p_j|| / ||d_j||` for every filter `j`;
  - `"layer"`:  `d <- d * ||p|| / ||d||` per leaf;
  - `"model"`:  the whole direction is scaled to the norm of the parameters
    it covers, `||d|| = ||p restricted to the non-ignored leaves||` (with
    `ignore=None` that is the norm of all parameters);
  - `None`: the raw Gaussian (ignored leaves still zeroed).
  A direction filter whose norm is zero, or whose parameter filter is zero,
  is left at zero.
* Norms are accumulated in at least float32; the result is cast back to each
  leaf's dtype. Non-floating leaves (integer counters) get a zero direction.
* Works on any pytree: jaxnn tuples/dicts, flax (Frozen)dicts and nnx states,
  equinox modules filtered to their arrays (`eqx.filter(model, eqx.is_array)`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.landscape._validate import check_same_tree, describe, short

__all__ = ["normalize_direction", "random_direction"]

PyTree = Any

_NORMS = ("filter", "layer", "model", None)
_IGNORES = ("biasbn", None)


def _check_options(norm: Any, ignore: Any) -> None:
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}.")
    if ignore not in _IGNORES:
        raise ValueError(f"ignore must be one of {_IGNORES}, got {ignore!r}.")


def _is_axis(a: Any) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


def _filter_axes(filter_axis: Any, params: PyTree) -> tuple[int, ...]:
    """One filter axis per leaf of `params`, resolved to `0 <= axis < ndim` for `ndim >= 2`."""
    p_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    if _is_axis(filter_axis):
        axes = [int(filter_axis)] * len(p_leaves)
    else:
        is_leaf = jax.tree_util.treedef_is_leaf(jax.tree.structure(filter_axis))
        if isinstance(filter_axis, jax.core.Tracer) or is_leaf or not jax.tree.leaves(filter_axis):
            raise TypeError(
                "filter_axis must be a Python int or a pytree of ints like params (e.g. "
                f"layer.filter_axis from jaxnn.adapters); got {type(filter_axis).__name__}."
            )
        if jax.tree.structure(filter_axis) != jax.tree.structure(params):  # type: ignore[operator]
            raise ValueError(
                "filter_axis must be an int or a pytree of ints with the tree structure of "
                f"params, but filter_axis is {short(jax.tree.structure(filter_axis))} and "
                f"params is {short(jax.tree.structure(params))}; build it with e.g. "
                "jax.tree.map(lambda p: 0, params)."
            )
        axes = jax.tree.leaves(filter_axis)
    out = []
    for (path, p), a in zip(p_leaves, axes, strict=True):
        where = jax.tree_util.keystr(path)
        if not _is_axis(a):
            raise TypeError(
                f"filter_axis{where} must be a Python int (the output axis of the leaf), "
                f"got {a!r} ({type(a).__name__})."
            )
        ndim = np.ndim(p)
        if ndim >= 2 and not -ndim <= a < ndim:
            raise ValueError(
                f"filter_axis{where} is {a}, but params{where} has {describe(p)}; the "
                f"filter axis must be in [-{ndim}, {ndim})."
            )
        out.append(int(a) % ndim if ndim >= 2 else 0)
    return tuple(out)


def _acc_dtype(dtype: Any) -> Any:
    return jnp.promote_types(dtype, jnp.float32)


def _norm(x: jax.Array, axes: tuple[int, ...] | None = None) -> jax.Array:
    x = x.astype(_acc_dtype(x.dtype))
    return jnp.sqrt(jnp.sum(x * x, axis=axes, keepdims=axes is not None))


def _rescale(d: jax.Array, target_norm: jax.Array, d_norm: jax.Array) -> jax.Array:
    safe = jnp.where(d_norm > 0, d_norm, 1)
    ratio = jnp.where(d_norm > 0, target_norm / safe, 0)
    return (d.astype(ratio.dtype) * ratio).astype(d.dtype)


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def _is_bias(p: jax.Array, axis: int) -> bool:
    """`ndim <= 1`, or (filter axis not last) every axis but the filter axis has size 1."""
    if p.ndim <= 1:
        return True
    return axis != p.ndim - 1 and all(s == 1 for i, s in enumerate(p.shape) if i != axis)


def normalize_direction(
    direction: PyTree,
    params: PyTree,
    norm: str | None = "filter",
    ignore: str | None = "biasbn",
    filter_axis: int | PyTree = -1,
) -> PyTree:
    """Rescale `direction` against `params` (filter / layer / model normalization).

    Math (filter norm): `d_j <- d_j * ||p_j|| / ||d_j||` for each filter `j`
    (the slices along `filter_axis`); see the module docstring for the others.

    Args:
      direction: pytree like `params` (same structure and leaf shapes).
      params: the parameters the direction is normalized against.
      norm: `"filter" | "layer" | "model" | None` (see the module docstring).
      ignore: `"biasbn"` zeroes biases and normalization leaves; `None`
        rescales them too, each 1-D leaf as a whole.
      filter_axis: the output axis of each leaf: an int for all leaves (`-1`:
        `(in, out)` / HWIO, jaxnn, flax, haiku; `0`: `(out, in)` / OIHW,
        equinox, PyTorch) or a pytree of ints like `params`.

    Returns:
      The normalized direction, in the dtypes of `direction`.
    """
    _check_options(norm, ignore)
    check_same_tree("direction", direction, params)
    axes = _filter_axes(filter_axis, params)
    return _normalize(direction, params, norm=norm, ignore=ignore, axes=axes)


@functools.partial(jax.jit, static_argnames=("norm", "ignore", "axes"))
def _normalize(direction, params, *, norm, ignore, axes):
    d_leaves, treedef = jax.tree.flatten(direction)
    p_leaves = jax.tree.leaves(params)
    skip = [
        not _is_float(d) or (ignore == "biasbn" and _is_bias(p, a))
        for d, p, a in zip(d_leaves, p_leaves, axes, strict=True)
    ]
    out = []
    for d, p, a, skipped in zip(d_leaves, p_leaves, axes, skip, strict=True):
        if skipped:
            out.append(jnp.zeros_like(d))
        elif norm == "filter" and p.ndim >= 2:
            other = tuple(i for i in range(p.ndim) if i != a)
            out.append(_rescale(d, _norm(p, other), _norm(d, other)))
        elif norm in ("filter", "layer"):
            out.append(_rescale(d, _norm(p), _norm(d)))
        else:
            out.append(d)
    if norm == "model":
        kept = [(d, p) for d, p, s in zip(out, p_leaves, skip, strict=True) if not s]
        d_sq = sum((jnp.sum(_norm(d) ** 2) for d, _ in kept), jnp.zeros((), jnp.float32))
        p_sq = sum((jnp.sum(_norm(p) ** 2) for _, p in kept), jnp.zeros((), jnp.float32))
        out = [_rescale(d, jnp.sqrt(p_sq), jnp.sqrt(d_sq)) for d in out]
    return jax.tree.unflatten(treedef, out)


def random_direction(
    key: jax.Array,
    params: PyTree,
    norm: str | None = "filter",
    ignore: str | None = "biasbn",
    filter_axis: int | PyTree = -1,
) -> PyTree:
    """A Gaussian direction like `params`, normalized as in Li et al. (2018).

    `d ~ N(0, I)`, drawn in each leaf's dtype (one draw per dtype, from
    `jax.random.fold_in(key, i)` for the i-th dtype name in sorted order, cut
    into the leaves in tree order), then `normalize_direction`. Same key, same
    direction, bit for bit (the draw does not depend on `filter_axis`).

    Args:
      key: a PRNG key (typed `jax.random.key` or raw uint32 `PRNGKey`).
      params: any pytree of arrays.
      norm: `"filter"` (default) | `"layer"` | `"model"` | `None`.
      ignore: `"biasbn"` (default) zeroes biases/normalization leaves; `None`.
      filter_axis: output axis per leaf, an int or a pytree of ints like
        `params` (`-1` for jaxnn/flax, `0` for equinox/PyTorch layouts).

    Returns:
      A pytree with the structure, shapes and dtypes of `params`.

    Examples:
      >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
      >>> d = random_direction(jax.random.key(0), params)
      >>> jnp.linalg.norm(d["w"], axis=0)  # each filter has the norm of params' filter
      Array([1.7320508, 1.7320508], dtype=float32)
    """
    _check_options(norm, ignore)
    axes = _filter_axes(filter_axis, params)
    return _random(key, params, norm=norm, ignore=ignore, axes=axes)


@functools.partial(jax.jit, static_argnames=("norm", "ignore", "axes"))
def _random(key, params, *, norm, ignore, axes):
    leaves, treedef = jax.tree.flatten(params)
    raw = [jnp.zeros_like(p) for p in leaves]
    dtypes = sorted({str(p.dtype) for p in leaves if _is_float(p)})
    for g, dtype in enumerate(dtypes):  # one draw per dtype: compiles far faster than per leaf
        idx = [i for i, p in enumerate(leaves) if str(p.dtype) == dtype]
        sizes = [leaves[i].size for i in idx]
        flat = jax.random.normal(jax.random.fold_in(key, g), (sum(sizes),), dtype)
        offsets = [sum(sizes[:j]) for j in range(len(sizes))]
        for i, start, size in zip(idx, offsets, sizes, strict=True):
            raw[i] = flat[start : start + size].reshape(leaves[i].shape)
    direction = jax.tree.unflatten(treedef, raw)
    return _normalize(direction, params, norm=norm, ignore=ignore, axes=axes)
