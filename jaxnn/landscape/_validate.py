"""Input checks shared by the landscape modules.

Every check runs in Python on shapes and dtypes only (the scalar check uses
`jax.eval_shape`), so bad input is reported before anything is compiled.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._engine import (  # noqa: F401  (re-exported for the landscape modules)
    ById,
    jaxpr_bytes,
    tree_nbytes,
)

_MAX_TREE_CHARS = 200


def short(obj: object) -> str:
    """`str(obj)`, cut to 200 characters for error messages."""
    text = str(obj)
    return text if len(text) <= _MAX_TREE_CHARS else text[: _MAX_TREE_CHARS - 3] + "..."


def describe(x: Any) -> str:
    """`shape (3, 4) float32` for anything array-like."""
    return f"shape {tuple(np.shape(x))} {getattr(x, 'dtype', type(x).__name__)}"


def check_same_tree(name: str, tree: Any, params: Any, params_name: str = "params") -> None:
    """Raise ValueError unless `tree` has the structure and leaf shapes of `params`."""
    p_def, t_def = jax.tree.structure(params), jax.tree.structure(tree)
    if p_def != t_def:  # type: ignore[operator]
        raise ValueError(
            f"{name} must have the same tree structure as {params_name}, but {name} is "
            f"{short(t_def)} and {params_name} is {short(p_def)}. Build it from "
            f"{params_name} (e.g. random_direction(key, {params_name}) or jax.tree.map)."
        )
    p_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    for (path, p), t in zip(p_leaves, jax.tree.leaves(tree), strict=True):
        if np.shape(p) != np.shape(t):
            where = jax.tree_util.keystr(path)
            raise ValueError(
                f"{name}{where} has {describe(t)} but {params_name}{where} has "
                f"{describe(p)}; every leaf of {name} must have the shape of the "
                f"matching leaf of {params_name}."
            )


def check_loss_fn(loss_fn: Any, params: Any, *, return_jaxpr: bool = False) -> Any:
    """Check (by tracing, nothing runs or compiles) that `loss_fn(params)` is a float scalar.

    Returns the output's `ShapeDtypeStruct`, or the `ClosedJaxpr` of one
    evaluation when `return_jaxpr` (for memory estimates).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(params) -> scalar; got {loss_fn!r}.")
    jaxpr, out = jax.make_jaxpr(loss_fn, return_shape=True)(params)
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise TypeError(
            "loss_fn(params) must return a single scalar array, but it returned "
            f"{short(out)}. If it returns (loss, aux), pass lambda p: loss_fn(p)[0]."
        )
    if out.shape != ():
        raise ValueError(
            f"loss_fn(params) must return a scalar, but it returned an array of shape "
            f"{out.shape} ({out.dtype}); reduce it over the batch, e.g. with .mean()."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"loss_fn(params) must return a floating-point scalar; got {out.dtype}.")
    return jaxpr if return_jaxpr else out


def as_coords(name: str, values: Any) -> jax.Array:
    """A non-empty 1-D float array of grid coordinates, or a ValueError/TypeError."""
    shape = np.shape(values)
    if len(shape) != 1:
        raise ValueError(
            f"{name} must be a 1-D array of coordinates, but it has shape {shape}; "
            f"pass e.g. jnp.linspace(-1, 1, 51)."
        )
    if shape[0] == 0:
        raise ValueError(
            f"{name} is empty; pass at least one coordinate, e.g. jnp.linspace(-1, 1, 51)."
        )
    arr = jnp.asarray(values)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}.")
    if jnp.issubdtype(arr.dtype, jnp.integer):
        arr = arr.astype(jnp.result_type(float))
    return arr


def check_positive_int(name: str, value: Any, allow_none: bool = True) -> None:
    """`value` must be a positive Python int (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__}).")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}.")
