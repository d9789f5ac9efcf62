"""Per-leaf tree arithmetic shared by the transforms (private).

Every map keeps `None` leaves (optax's "no update" marker) as `None`, and each
function performs the same floating-point operations, in the same order, as
its optax counterpart, so results agree to the last bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn.optim._checks import PyTree, _check_same_shapes

_is_none = lambda x: x is None
_STATE = "the optimizer state (initialised from the parameters)"


def _map(f: Callable[..., Any], tree: PyTree, *rest: PyTree) -> PyTree:
    """`jax.tree.map` that keeps `None` leaves of `tree` as `None` (optax's rule)."""
    return jax.tree.map(
        lambda x, *r: None if x is None else f(x, *r), tree, *rest, is_leaf=_is_none
    )


def _check(updates: PyTree, reference: PyTree) -> None:
    """The gradients must have the state's tree structure and, leaf by leaf, its shapes."""
    _check_same_shapes(updates, reference, "the gradients", _STATE)


def _abs_sq(x: jax.Array) -> jax.Array:
    """:math:`|x|^2`; for real arrays the same operations as ``x * x``."""
    return (x.conj() * x).real


def _moment(updates: PyTree, moments: PyTree, decay: Any, order: int) -> PyTree:
    r""":math:`(1 - \beta) g^k + \beta m`, leaf by leaf (optax's `update_moment`)."""
    return _map(lambda g, m: (1 - decay) * (g**order) + decay * m, updates, moments)


def _moment_sq(updates: PyTree, moments: PyTree, decay: Any) -> PyTree:
    r""":math:`(1 - \beta) |g|^2 + \beta m` (optax's `update_moment_per_elem_norm`, order 2)."""

    def sq(g):
        return g**2 if jnp.isrealobj(g) else _abs_sq(g)

    return _map(lambda g, m: (1 - decay) * sq(g) + decay * m, updates, moments)


@functools.partial(jax.jit, inline=True)
def _bias_correction(moment: PyTree, decay: Any, count: jax.Array) -> PyTree:
    r""":math:`m / (1 - \beta^t)`; the factor is computed in the count's float type.

    Jitted (inlined when traced) exactly as optax's ``tree_bias_correction``:
    XLA's compiled ``pow`` and the eager one differ by an ulp, which the
    cancellation in :math:`1 - \beta_2^t` turns into a 1e-5 relative error,
    so eager calls must also compile it to match optax.
    """
    correction = 1 - decay**count
    return _map(lambda m: m / correction.astype(m.dtype), moment)


def _global_norm(tree: PyTree) -> jax.Array:
    r""":math:`\sqrt{\sum_\text{leaves} \sum_i x_i^2}` in optax's summation order."""
    total: Any = 0  # a Python 0, then a jax.Array after the first leaf
    squares = (jnp.square(x.real) + jnp.square(x.imag) for x in jax.tree.leaves(tree))
    for s in (jnp.sum(sq) for sq in squares):
        total = total + s
    return jnp.array(jnp.sqrt(total))


def _canonicalize_dtype(dtype: Any) -> Any:
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def _cast(tree: PyTree, dtype: Any) -> PyTree:
    return tree if dtype is None else _map(lambda x: x.astype(dtype), tree)
