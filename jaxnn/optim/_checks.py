"""Input checks shared by the transforms, aliases and wrappers (private).

Every check runs in Python on static information (tree structures, shapes,
dtypes, concrete hyperparameter values), so it raises before anything is
compiled, and also at trace time under ``jit``. Values of traced
hyperparameters are never inspected (that would need a host sync); their
shapes are, since shapes are static.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any

_is_none = lambda x: x is None


class StateMismatchError(TypeError, ValueError):
    """An optimizer's ``update`` got a state that its ``init`` did not build.

    Both a ``TypeError`` (wrong kind of object) and a ``ValueError`` (wrong
    value for the argument), so either ``except`` clause catches it.
    """

    def __init__(self, message: str, *, named: bool = False) -> None:
        super().__init__(message)
        self.named = named  # True once an alias has put its own name in the message


def _path(path: tuple) -> str:
    """A leaf path as text: ``['dense']['w']``, or ``<root>`` for a bare array."""
    return jax.tree_util.keystr(path) if path else "<root>"


def _check_same_structure(tree: PyTree, reference: PyTree, name: str, ref_name: str) -> None:
    """Raise a ValueError printing both tree structures when they differ."""
    s1: Any = jax.tree.structure(tree, is_leaf=_is_none)  # no stub for PyTreeDef.__eq__
    s2 = jax.tree.structure(reference, is_leaf=_is_none)
    if s1 != s2:
        raise ValueError(
            f"The tree structure of {name} does not match that of {ref_name}.\n"
            f"  {name}: {s1}\n  {ref_name}: {s2}\n"
            "Pass gradients with the same structure as the parameters the optimizer "
            "state was initialised with."
        )


def _check_same_shapes(tree: PyTree, reference: PyTree, name: str, ref_name: str) -> None:
    """Structures, then shapes leaf by leaf; the error names the leaf path and both shapes."""
    _check_same_structure(tree, reference, name, ref_name)
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_none)[0]
    refs = jax.tree.leaves(reference, is_leaf=_is_none)
    for (path, x), r in zip(leaves, refs, strict=True):
        if x is None or r is None:
            continue
        if jnp.shape(x) != jnp.shape(r):
            raise ValueError(
                f"The leaf {_path(path)} of {name} has shape {jnp.shape(x)} but {ref_name} "
                f"has shape {jnp.shape(r)} there. Each gradient must have the shape of "
                "its parameter."
            )


def _check_prefix_shapes(updates: PyTree, params: PyTree) -> None:
    """`updates` (`None` standing for any subtree) must fit `params`, leaf shapes included."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(updates, is_leaf=_is_none)
    treedef = cast(Any, treedef)  # jaxlib ships no stub for PyTreeDef.flatten_up_to
    try:
        subtrees = treedef.flatten_up_to(params)
    except (ValueError, TypeError):
        _check_same_structure(updates, params, "the gradients", "the params")
        raise
    for (path, u), p in zip(flat, subtrees, strict=True):
        if u is None or p is None:
            continue
        if not jax.tree_util.treedef_is_leaf(jax.tree.structure(p)):
            _check_same_structure(updates, params, "the gradients", "the params")
        if jnp.shape(u) != jnp.shape(p):
            raise ValueError(
                f"The leaf {_path(path)} of the gradients has shape {jnp.shape(u)} but the "
                f"params have shape {jnp.shape(p)} there. Each gradient must have the shape "
                "of its parameter."
            )


def _check_state(state: Any, cls: Any, who: str) -> None:
    """Raise StateMismatchError unless `state` is (or looks like) a `cls`."""
    if isinstance(state, cls) or all(hasattr(state, f) for f in cls._fields):
        return
    raise StateMismatchError(
        f"{who}.update expected a {cls.__name__} (the state {who}.init builds), got "
        f"{type(state).__name__}. Pass the state returned by the same optimizer's `init`; "
        "a state built by another optimizer does not fit."
    )


def _check_float_params(params: PyTree, who: str) -> None:
    """Integer and boolean parameters cannot take gradient steps: raise a TypeError."""
    for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
        dtype = jnp.result_type(p)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{who} got the parameter {_path(path)} of dtype {dtype}: gradient-based "
                "optimizers need floating-point parameters (an integer accumulator or update "
                "would be truncated). Cast it, e.g. `p.astype(jnp.float32)`, or keep it out "
                "of the optimizer with `masked`/`partition`."
            )


def _warn_eps_underflow(params: PyTree, eps: Any, who: str) -> None:
    """Warn at init when a concrete, positive `eps` rounds to 0 in a float16 parameter's dtype."""
    if not _is_concrete_number(eps) or not float(eps) > 0:
        return
    for leaf in jax.tree.leaves(params):
        dtype = jnp.result_type(leaf)
        if dtype == jnp.float16 and np.float16(float(eps)) == 0:
            warnings.warn(
                f"{who}: eps={float(eps):g} underflows to 0 in float16, so a zero gradient "
                "gives 0/0 = NaN. jaxnn follows optax here on purpose (same numbers); use "
                "eps >= 6e-8 or float32 parameters (or a float32 optimizer state).",
                RuntimeWarning,
                stacklevel=3,
            )
            return


def _is_concrete_number(value: Any) -> bool:
    """True for Python/numpy scalars and concrete (non-traced) 0-d arrays."""
    if isinstance(value, (int, float, np.number)):
        return True
    if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer):
        return np.ndim(value) == 0
    return False


def _check_scalar_type(name: str, value: Any) -> None:
    """A hyperparameter must be a real number or a 0-d array (concrete or traced)."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(
        value, (int, float, np.number, np.ndarray, jax.Array)
    ):
        raise TypeError(
            f"`{name}` must be a number, a 0-d JAX array or a schedule `step -> value`, got "
            f"{type(value).__name__} {value!r}."
        )
    if np.shape(value) != ():
        raise ValueError(
            f"`{name}` must be a scalar, got an array of shape {np.shape(value)}. "
            "To use one value per run, `jax.vmap` over a scalar hyperparameter."
        )
    if jnp.issubdtype(jnp.result_type(value), jnp.complexfloating):
        raise TypeError(f"`{name}` must be real, got the complex value {value!r}.")


def _check_hyperparam(
    name: str,
    value: Any,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    high_inclusive: bool = False,
    finite: bool = True,
) -> None:
    """Validate a hyperparameter; schedules pass, traced scalars are checked for shape only.

    Raises a TypeError for a string, a complex number or another non-number,
    a ValueError for an array of non-scalar shape, and (concrete values only)
    a ValueError naming `name` when `value < low`, `value` is above `high`
    (`>= high` unless `high_inclusive`), or is infinite (unless `finite=False`).
    NaN is always rejected.
    """
    if value is None or callable(value):
        return
    _check_scalar_type(name, value)
    if not _is_concrete_number(value):
        return
    v = float(value)
    bad = np.isnan(v) or (finite and np.isinf(v))
    if low is not None and v < low:
        bad = True
    if high is not None and (v > high if high_inclusive else v >= high):
        bad = True
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"[{lo}, {hi}{']' if high_inclusive else ')'}"
        what = " and finite" if finite and high is None else ""
        raise ValueError(f"`{name}` must lie in {interval}{what}, got {value!r}.")
