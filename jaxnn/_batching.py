"""Minibatching: one epoch of batches of a pytree of arrays (re-exported by ``jaxnn.data``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from jaxnn._dataset import Dataset


def num_batches(n: int, batch_size: int, drop_remainder: bool = True) -> int:
    """Batches per epoch: ``n // batch_size``, or ``ceil(n / batch_size)`` when keeping the rest."""
    return n // batch_size if drop_remainder else -(-n // batch_size)


def _check_batches(data, batch_size, drop_remainder):
    if isinstance(data, Dataset):
        raise TypeError(
            "batches() takes arrays that share a leading dimension, e.g. "
            "(data.x_train, data.y_train); got a whole Dataset (train and test)."
        )
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("batches() got no arrays; pass e.g. (x, y).")
    shapes = [np.shape(a) for a in leaves]
    if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise ValueError(
            f"All arrays passed to batches() must share a leading (example) dimension; "
            f"got shapes {shapes}."
        )
    n = shapes[0][0]
    if n == 0:
        raise ValueError(f"batches() got an empty dataset (leading dimension 0; shapes {shapes}).")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int; got {batch_size!r}.")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int; got {batch_size}.")
    if drop_remainder and batch_size > n:
        raise ValueError(
            f"batch_size {batch_size} is larger than the dataset ({n} examples), so "
            "drop_remainder=True would yield no batch; lower batch_size or pass "
            "drop_remainder=False."
        )
    return n


def batches(
    key: Any, data: Any, batch_size: int, *, shuffle: bool = True, drop_remainder: bool = True
) -> Iterator[Any]:
    """One epoch of minibatches of ``data`` (a pytree of arrays, usually ``(x, y)``).

    A permutation ``jax.random.permutation(key, n)`` (identity when
    ``shuffle=False``; then ``key`` may be ``None``) is cut into consecutive
    chunks of ``batch_size``; each example appears at most once per epoch. The
    last short chunk is dropped when ``drop_remainder`` (so every batch has a
    fixed shape and a jitted step compiles once), kept otherwise. Inputs are
    validated when ``batches`` is called, not when iteration starts.

    Yields:
      Pytrees with the structure of ``data`` holding the batch's rows.

    Examples:
      >>> for xb, yb in batches(jax.random.key(0), (x, y), 32):  # doctest: +SKIP
      ...     state, metrics = step(state, (xb, yb))
    """
    n = _check_batches(data, batch_size, drop_remainder)
    if shuffle:
        if key is None:
            raise ValueError("batches(shuffle=True) needs a PRNG key; got None.")
        order = np.asarray(jax.random.permutation(key, n))
    else:
        order = np.arange(n)
    count = num_batches(n, batch_size, drop_remainder)

    def _iterate():
        for b in range(count):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield jax.tree_util.tree_map(lambda a, i=idx: a[i], data)

    return _iterate()
