"""Random directions in parameter space, normalized as in Li et al. (2018).

A direction is a pytree with the structure, leaf shapes and leaf dtypes of the
parameters. Conventions (see DESIGN.md):

* A *filter* is a slice along the **last** axis of a leaf with `ndim >= 2`
  (Dense kernels are `(in, out)`, conv kernels `HWIO`), so filter `j` of a
  leaf `w` is `w[..., j]`.
* Leaves with `ndim <= 1` are biases and normalization scales/offsets.
  `ignore="biasbn"` sets the direction to zero on them. With `ignore=None`
  they get Gaussian noise rescaled like a single filter: **the whole 1-D leaf
  is one filter** and is rescaled to the norm of the matching parameter leaf
  (a scalar leaf `p` gets `±|p|`). Li et al.'s reference code instead copies
  the parameters into the direction there; elementwise rescaling would give
  `±|p_i|`, a random-sign copy of the parameters, which is no better.
* `norm`:
  - `"filter"`: `d[..., j] <- d[..., j] * ||p[..., j]|| / ||d[..., j]||`;
  - `"layer"`:  `d <- d * ||p|| / ||d||` per leaf;
  - `"model"`:  the whole direction is scaled to the norm of the parameters
    it covers, `||d|| = ||p restricted to the non-ignored leaves||` (with
    `ignore=None` that is the norm of all parameters);
  - `None`: the raw Gaussian (ignored leaves still zeroed).
  A direction filter whose norm is zero, or whose parameter filter is zero,
  is left at zero.
* Norms are accumulated in at least float32; the result is cast back to each
  leaf's dtype. Non-floating leaves (integer counters) get a zero direction.
* Works on any pytree: jaxnn tuples/dicts, flax (Frozen)dicts, equinox
  modules filtered to their arrays (`eqx.filter(model, eqx.is_array)`).
"""

import functools

import jax
import jax.numpy as jnp

from jaxnn.landscape._validate import check_same_tree

__all__ = ["normalize_direction", "random_direction"]

_NORMS = ("filter", "layer", "model", None)
_IGNORES = ("biasbn", None)


def _check_options(norm, ignore) -> None:
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}.")
    if ignore not in _IGNORES:
        raise ValueError(f"ignore must be one of {_IGNORES}, got {ignore!r}.")


def _acc_dtype(dtype):
    return jnp.promote_types(dtype, jnp.float32)


def _norm(x, axes=None):
    x = x.astype(_acc_dtype(x.dtype))
    return jnp.sqrt(jnp.sum(x * x, axis=axes, keepdims=axes is not None))


def _rescale(d, target_norm, d_norm):
    safe = jnp.where(d_norm > 0, d_norm, 1)
    ratio = jnp.where(d_norm > 0, target_norm / safe, 0)
    return (d.astype(ratio.dtype) * ratio).astype(d.dtype)


def _is_float(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def normalize_direction(direction, params, norm="filter", ignore="biasbn"):
    """Rescale `direction` against `params` (filter / layer / model normalization).

    Args:
      direction: pytree like `params` (same structure and leaf shapes).
      params: the parameters the direction is normalized against.
      norm: `"filter" | "layer" | "model" | None` (see the module docstring).
      ignore: `"biasbn"` zeroes `ndim <= 1` leaves; `None` rescales them too,
        each 1-D leaf as a whole.

    Returns:
      The normalized direction, in the dtypes of `direction`.
    """
    _check_options(norm, ignore)
    check_same_tree("direction", direction, params)
    return _normalize(direction, params, norm=norm, ignore=ignore)


@functools.partial(jax.jit, static_argnames=("norm", "ignore"))
def _normalize(direction, params, *, norm, ignore):
    d_leaves, treedef = jax.tree.flatten(direction)
    p_leaves = jax.tree.leaves(params)

    def skipped(d, p):
        return not _is_float(d) or (ignore == "biasbn" and p.ndim <= 1)

    out = []
    for d, p in zip(d_leaves, p_leaves, strict=True):
        if skipped(d, p):
            out.append(jnp.zeros_like(d))
        elif norm == "filter" and p.ndim >= 2:
            axes = tuple(range(p.ndim - 1))
            out.append(_rescale(d, _norm(p, axes), _norm(d, axes)))
        elif norm in ("filter", "layer"):
            out.append(_rescale(d, _norm(p), _norm(d)))
        else:
            out.append(d)
    if norm == "model":
        kept = [(d, p) for d, p in zip(out, p_leaves, strict=True) if not skipped(d, p)]
        d_sq = sum((jnp.sum(_norm(d) ** 2) for d, _ in kept), jnp.zeros((), jnp.float32))
        p_sq = sum((jnp.sum(_norm(p) ** 2) for _, p in kept), jnp.zeros((), jnp.float32))
        out = [_rescale(d, jnp.sqrt(p_sq), jnp.sqrt(d_sq)) for d in out]
    return jax.tree.unflatten(treedef, out)


def random_direction(key, params, norm="filter", ignore="biasbn"):
    """A Gaussian direction like `params`, normalized as in Li et al. (2018).

    `d ~ N(0, I)`, drawn in each leaf's dtype (one draw per dtype, from
    `jax.random.fold_in(key, i)` for the i-th dtype name in sorted order, cut
    into the leaves in tree order), then `normalize_direction`. Same key, same
    direction, bit for bit.

    Args:
      key: a PRNG key (typed `jax.random.key` or raw uint32 `PRNGKey`).
      params: any pytree of arrays.
      norm: `"filter"` (default) | `"layer"` | `"model"` | `None`.
      ignore: `"biasbn"` (default) zeroes biases/normalization leaves; `None`.

    Returns:
      A pytree with the structure, shapes and dtypes of `params`.

    Example:
      >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
      >>> d = random_direction(jax.random.key(0), params)
      >>> jnp.linalg.norm(d["w"], axis=0)  # each filter has the norm of params' filter
      Array([1.7320508, 1.7320508], dtype=float32)
    """
    _check_options(norm, ignore)
    return _random(key, params, norm=norm, ignore=ignore)


@functools.partial(jax.jit, static_argnames=("norm", "ignore"))
def _random(key, params, *, norm, ignore):
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
    return _normalize(jax.tree.unflatten(treedef, raw), params, norm=norm, ignore=ignore)
