"""The optimizer protocol, shared by every transform in `jaxnn.optim`.

An optimizer is a pair of pure functions, exactly optax's
`GradientTransformation`, so jaxnn and optax transforms mix in either
library's `chain`::

    init(params) -> state
    update(grads, state, params=None) -> (updates, new_state)
    apply_updates(params, updates) -> params + updates

`update` returns the *step to add* (already negated and scaled by the learning
rate for a named optimizer), never the new parameters.

Hyperparameters may be Python numbers, traced JAX scalars or schedules
(`step -> value`). Concrete numbers are validated in Python when the
optimizer is built (a `ValueError` naming the argument); traced values cannot
be checked without a host sync and are taken as given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = float | jax.Array | Schedule

__all__ = ["Optimizer", "EmptyState", "apply_updates"]


class Optimizer(NamedTuple):
    """A gradient transformation: `(init, update)`, interchangeable with optax's.

    Attributes:
      init: `init(params) -> state`.
      update: `update(grads, state, params=None) -> (updates, new_state)`.
    """

    init: Callable[[PyTree], Any]
    update: Callable[..., tuple[PyTree, Any]]


class EmptyState(NamedTuple):
    """State of a stateless transform (an empty tuple, as optax's)."""


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    r"""Return `params + updates`, leaf by leaf, keeping each parameter's dtype.

    .. math:: \theta_{t+1} = \theta_t + u_t

    `None` updates (masked-out leaves) leave the parameter unchanged, as in optax.
    """
    _check_same_structure(updates, params, "updates", "params")
    return jax.tree.map(
        lambda p, u: p if u is None else jnp.asarray(p + u).astype(jnp.result_type(p)),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )


# ---------------------------------------------------------------------------
# Private helpers shared by the transforms, aliases and wrappers.
# ---------------------------------------------------------------------------


def _check_same_structure(tree: PyTree, reference: PyTree, name: str, ref_name: str) -> None:
    """Raise a ValueError printing both tree structures when they differ."""
    s1 = jax.tree.structure(tree, is_leaf=lambda x: x is None)
    s2 = jax.tree.structure(reference, is_leaf=lambda x: x is None)
    if s1 != s2:
        raise ValueError(
            f"The tree structure of {name} does not match that of {ref_name}.\n"
            f"  {name}: {s1}\n  {ref_name}: {s2}\n"
            "Pass gradients with the same structure as the parameters the optimizer "
            "state was initialised with."
        )


def _is_concrete_number(value: Any) -> bool:
    """True for Python/numpy scalars and concrete (non-traced) 0-d arrays."""
    if isinstance(value, (int, float, np.number)):
        return True
    if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer):
        return np.ndim(value) == 0
    return False


def _check_hyperparam(
    name: str,
    value: Any,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    high_inclusive: bool = False,
) -> None:
    """Validate a concrete hyperparameter; traced values and schedules pass through.

    Raises a ValueError naming `name` when `value < low` or `value` is above
    `high` (`>= high` unless `high_inclusive`). NaN is always rejected.
    """
    if value is None or callable(value) or not _is_concrete_number(value):
        return
    v = float(value)
    bad = np.isnan(v)
    if low is not None and v < low:
        bad = True
    if high is not None and (v > high if high_inclusive else v >= high):
        bad = True
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"[{lo}, {hi}{']' if high_inclusive else ')'}"
        raise ValueError(f"`{name}` must lie in {interval}, got {value!r}.")


def _resolve(value: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """Evaluate a hyperparameter at step `count`: call it if it is a schedule."""
    return value(count) if callable(value) else value


def _safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1` that saturates at the dtype's max instead of wrapping (optax's rule)."""
    max_value = jnp.iinfo(count.dtype).max
    return jnp.where(count < max_value, count + 1, max_value)
