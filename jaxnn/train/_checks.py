"""Argument checks shared by `fit`, `evaluate` and `train_scan` (raised before compiling)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_xy(x: Any, y: Any, name: str = "data") -> int:
    """Number of examples of `(x, y)`; raises unless both share a leading dimension."""
    x_shape, y_shape = np.shape(x), np.shape(y)
    if len(x_shape) == 0 or len(y_shape) == 0 or x_shape[0] != y_shape[0]:
        raise ValueError(
            f"Inputs and targets of `{name}` must have the same leading (example) dimension; "
            f"got x with shape {x_shape} and y with shape {y_shape}."
        )
    return int(x_shape[0])


def check_arrays(data: Any) -> int:
    """Number of examples of a tuple of arrays with a common leading dimension."""
    if not isinstance(data, (tuple, list)) or not data:
        raise TypeError(f"`data` must be a non-empty tuple of arrays, got {type(data).__name__}.")
    shapes = [np.shape(a) for a in data]
    if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise ValueError(
            f"Every array in `data` must have the same leading dimension; got shapes {shapes}."
        )
    return int(shapes[0][0])


def check_int(value: Any, name: str, *, minimum: int) -> int:
    """`value` as an int; raises unless it is a Python/NumPy int `>= minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be a Python int, got {value!r}.")
    if value < minimum:
        what = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"`{name}` must be {what}, got {value}.")
    return int(value)


def check_batch_size(batch_size: Any, n: int, name: str = "batch_size") -> int:
    """A positive int no larger than the `n` training examples."""
    batch_size = check_int(batch_size, name, minimum=1)
    if batch_size > n:
        raise ValueError(
            f"`{name}` ({batch_size}) is larger than the number of training "
            f"examples ({n}); with the remainder dropped there would be no batch. "
            f"Use {name} <= {n}."
        )
    return batch_size


def check_finite(array: Any, what: str) -> None:
    """Raise if a concrete floating-point `array` holds NaN or inf (tracers are skipped)."""
    if isinstance(array, jax.core.Tracer):
        return
    dtype = array.dtype if hasattr(array, "dtype") else np.asarray(array).dtype
    if not np.issubdtype(dtype, np.inexact):
        return
    if isinstance(array, jax.Array):
        # checked where the data lives (one scalar comes back, not the data), eagerly even
        # when called while an outer function is being traced with this array as a constant
        with jax.ensure_compile_time_eval():
            if bool(jnp.all(jnp.isfinite(array))):
                return
    a = np.asarray(array)
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what} contains non-finite values (NaN or inf): {int(bad.sum())} of {a.size} "
            f"entries, the first at index {first}. Clean the data before training "
            "(training on it would only report a diverged loss)."
        )
