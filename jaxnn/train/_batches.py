"""Training and evaluation data: arrays, a `Dataset`, or a re-iterable of `(x, y)` batches.

`as_data` sorts what the user passed into `Arrays(x, y, n)` or `Batches(source)`:

* a `jaxnn.data.Dataset` (its train split) or a pair `(x, y)` of arrays;
* a re-iterable of `(x, y)` batches: a list/tuple of pairs, any object with
  `__iter__` whose `iter()` is a fresh pass (a PyTorch `DataLoader`, a
  `tf.data.Dataset` as numpy, a grain loader), or a zero-argument function
  returning a fresh iterator per epoch. Batch entries may be anything
  `numpy.asarray` converts (objects with `__array__`, such as torch tensors).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn.train._checks import check_finite


class Arrays(NamedTuple):
    """Data held as two arrays with a common leading dimension."""

    x: Any  # inputs, leading dimension n
    y: Any  # targets, leading dimension n
    n: int  # number of examples


class Batches(NamedTuple):
    """Data given as a re-iterable of `(x, y)` batches."""

    source: Any  # re-iterable, or a zero-argument function returning an iterator
    name: str  # the argument's name, for error messages


def _array_like(a: Any) -> bool:
    return hasattr(a, "__array__") or hasattr(a, "shape") or isinstance(a, (int, float))


def _is_pair_of_arrays(data: Any) -> bool:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return False
    return not any(isinstance(a, (tuple, list)) and len(a) == 2 for a in data)


def as_data(data: Any, name: str = "data") -> Arrays | Batches:
    """Classify `data` (see the module docstring); raises a TypeError for anything else."""
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        return Arrays(data.x_train, data.y_train, int(np.shape(data.x_train)[0]))
    if _is_pair_of_arrays(data):
        x, y = data
        shapes = (np.shape(x), np.shape(y))
        if not shapes[0] or not shapes[1] or shapes[0][0] != shapes[1][0]:
            raise ValueError(
                f"Inputs and targets of `{name}` must have the same leading (example) "
                f"dimension; got x with shape {shapes[0]} and y with shape {shapes[1]}."
            )
        return Arrays(x, y, shapes[0][0])
    if isinstance(data, (str, bytes)):
        raise TypeError(
            f"`{name}` must be arrays or batches, not a {type(data).__name__} ({data!r}); "
            "load the file first (e.g. with numpy.load) and pass its arrays."
        )
    if _array_like(data) and not isinstance(data, (tuple, list)):
        raise TypeError(
            f"`{name}` must be a pair (x, y) of inputs and targets, a jaxnn.data.Dataset or "
            f"a re-iterable of (x, y) batches; got a single array of shape {np.shape(data)} "
            "without targets."
        )
    if callable(data) or hasattr(data, "__iter__"):
        return Batches(data, name)
    raise TypeError(
        f"`{name}` must be a jaxnn.data.Dataset, a pair (x, y) of arrays or a re-iterable "
        f"of (x, y) batches; got {type(data).__name__}."
    )


def check_reiterable(data: Batches) -> None:
    """Refuse a one-shot iterator (it would be empty from the second epoch on)."""
    source = data.source
    if not callable(source) and iter(source) is source:
        raise TypeError(
            f"`{data.name}` is a one-shot iterator ({type(source).__name__}), which would be "
            "exhausted after the first epoch. Pass a list of batches, an object whose "
            "iter() starts a fresh pass (like a DataLoader), or a zero-argument function "
            "that returns a fresh iterator."
        )


def _to_array(a: Any) -> Any:
    return a if isinstance(a, jax.Array) else np.asarray(a)


def to_batch(item: Any, index: int, name: str) -> tuple[Any, Any]:
    """Batch `index` of `name` as `(x, y)` arrays, checked for shape and finiteness."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        kind = type(item).__name__
        raise TypeError(
            f"Batch {index} of `{name}` must be a pair (x, y); got a {kind}"
            + (f" of length {len(item)}" if hasattr(item, "__len__") else "")
            + "."
        )
    x, y = _to_array(item[0]), _to_array(item[1])
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"Batch {index} of `{name}`: inputs and targets must have the same leading "
            f"dimension; got x with shape {x.shape} and y with shape {y.shape}."
        )
    if x.shape[0] == 0:
        raise ValueError(f"Batch {index} of `{name}` is empty (x has shape {x.shape}).")
    check_finite(x, f"Batch {index} of `{name}` (x)")
    check_finite(y, f"Batch {index} of `{name}` (y)")
    return x, y


def iterate(data: Batches) -> Iterator[tuple[Any, Any]]:
    """One pass over `data`: checked `(x, y)` batches."""
    source = data.source
    iterator = source() if callable(source) else iter(source)
    for index, item in enumerate(iterator):
        yield to_batch(item, index, data.name)


def array_batches(x: Any, y: Any, batch_size: int) -> Iterator[tuple[Any, Any]]:
    """Consecutive slices of `(x, y)` of `batch_size` rows (the last may be shorter)."""
    n = int(np.shape(x)[0])
    for start in range(0, n, batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]
