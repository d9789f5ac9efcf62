"""The optimizer protocol, shared by every transform in `jaxnn.optim`.

An optimizer is optax's `GradientTransformationExtraArgs`: a pair of pure
functions, so jaxnn and optax transforms mix in either library's `chain` and
`isinstance(opt, optax.GradientTransformation)` holds:

```python
init(params) -> state
update(grads, state, params=None, **extra_args) -> (updates, new_state)
apply_updates(params, updates) -> params + updates
```

`update` returns the *step to add* (already negated and scaled by the learning
rate for a named optimizer), never the new parameters. `extra_args` are
optax's keyword arguments (`value`, `grad`, `value_fn`, ...): jaxnn's
transforms ignore them and its combinators (`chain`, `masked`, `partition`,
`inject_hyperparams`) forward them to their members, so optax's line
searches, `optax.contrib.reduce_on_plateau` or schedule-free wrappers can sit
inside a jaxnn chain.

Hyperparameters may be Python numbers, traced JAX scalars or schedules
(`step -> value`). Concrete numbers are validated in Python when the
optimizer is built (a `ValueError` naming the argument); traced values cannot
be checked without a host sync and are taken as given (their shape is
checked: a hyperparameter is a scalar).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import optax

from jaxnn.optim._checks import _is_none, _path

PyTree = Any
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = float | jax.Array | Schedule

__all__ = ["Optimizer", "EmptyState", "apply_updates"]

EmptyState = optax.EmptyState
"""State of a stateless transform: optax's own `EmptyState` (an empty NamedTuple)."""


def _accepts_extra_args(fn: Callable[..., Any]) -> bool:
    """True when `fn` takes `**kwargs` (so optax's extra arguments can be passed to it)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _with_extra_args(update: Callable[..., Any]) -> Callable[..., Any]:
    """`update` itself if it takes `**extra_args`, else a wrapper that drops them (optax's rule)."""
    if _accepts_extra_args(update):
        return update

    def update_ignoring_extra_args(updates, state, params=None, **extra_args):
        del extra_args
        return update(updates, state, params)

    update_ignoring_extra_args.__doc__ = update.__doc__
    return update_ignoring_extra_args


class Optimizer(optax.GradientTransformationExtraArgs):
    """A gradient transformation `(init, update)`: an `optax.GradientTransformationExtraArgs`.

    `Optimizer(init, update)` accepts an `update(grads, state, params=None)`
    written without `**extra_args` and wraps it so that optax's extra
    arguments are accepted and ignored (as `optax.with_extra_args_support`),
    so every `Optimizer` honours the extra-args protocol it advertises.

    Attributes:
      init: `init(params) -> state`.
      update: `update(grads, state, params=None, **extra_args) -> (updates, new_state)`.
    """

    __slots__ = ()

    def __new__(cls, init: Callable[[PyTree], Any], update: Callable[..., Any]) -> Optimizer:
        if not callable(init) or not callable(update):
            raise TypeError(
                "Optimizer(init, update) needs two functions, got "
                f"{type(init).__name__} and {type(update).__name__}."
            )
        return super().__new__(cls, init, _with_extra_args(update))


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    r"""Return `params + updates`, leaf by leaf, keeping each parameter's dtype.

    .. math:: \theta_{t+1} = \theta_t + u_t

    As `optax.apply_updates`: a `None` parameter stays `None` (whatever its
    update), and additionally a `None` (or `float0`) update leaves its
    parameter unchanged (masked-out leaves).

    Differences from optax, which would silently do something else:

    * an update must have its parameter's shape (optax broadcasts a `(3,)`
      update on a `(3, 1)` parameter to `(3, 3)`): a `ValueError` names the leaf
      path and both shapes;
    * a floating-point update on an integer or boolean parameter raises a
      `TypeError` naming the leaf (optax truncates the sum back to the integer
      dtype). Integer updates on integer parameters are exact and allowed.

    Args:
      params: a pytree of parameters.
      updates: a pytree with the structure of `params` (where `params` has a
        `None`, any subtree).

    Returns:
      The new parameters, with the structure and dtypes of `params`.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(params, is_leaf=_is_none)
    treedef = cast(Any, treedef)  # jaxlib ships no stub for PyTreeDef.flatten_up_to
    try:
        update_leaves = treedef.flatten_up_to(updates)
    except (ValueError, TypeError) as err:
        raise ValueError(
            "The tree structure of updates does not match that of params.\n"
            f"  updates: {jax.tree.structure(updates, is_leaf=_is_none)}\n"
            f"  params: {jax.tree.structure(params, is_leaf=_is_none)}\n"
            "Pass updates with the structure of the parameters."
        ) from err
    new = [_apply_leaf(path, p, u) for (path, p), u in zip(flat, update_leaves, strict=True)]
    return jax.tree.unflatten(treedef, new)


def _apply_leaf(path: tuple, p: Any, u: Any) -> Any:
    """One leaf of `apply_updates`, with its checks."""
    if p is None:
        return None
    if u is None:
        return p
    if not jax.tree_util.treedef_is_leaf(jax.tree.structure(u)):
        raise ValueError(
            f"The update for the parameter {_path(path)} is a {type(u).__name__} subtree, "
            "not an array: updates must have the structure of the parameters."
        )
    if jnp.result_type(u) == jax.dtypes.float0:
        return p
    if jnp.shape(u) != jnp.shape(p):
        raise ValueError(
            f"The update for the parameter {_path(path)} has shape {jnp.shape(u)} but the "
            f"parameter has shape {jnp.shape(p)}; adding it would broadcast the parameter. "
            "Each update must have the shape of its parameter."
        )
    p_dtype, u_dtype = jnp.result_type(p), jnp.result_type(u)
    if not jnp.issubdtype(p_dtype, jnp.inexact) and jnp.issubdtype(u_dtype, jnp.inexact):
        raise TypeError(
            f"The parameter {_path(path)} has dtype {p_dtype} but its update has dtype "
            f"{u_dtype}; adding them would truncate the step to an integer. Train "
            "floating-point parameters (e.g. `p.astype(jnp.float32)`), or give this leaf "
            "a `None` update to leave it unchanged."
        )
    return jnp.asarray(p + u).astype(p_dtype)


def _resolve(value: ScalarOrSchedule, count: jax.Array) -> float | jax.Array:
    """Evaluate a hyperparameter at step `count`: call it if it is a schedule."""
    return value(count) if callable(value) else value


def _safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1` that saturates at the dtype's max instead of wrapping (optax's rule)."""
    max_value = jnp.iinfo(count.dtype).max
    return jnp.where(count < max_value, count + 1, max_value)
