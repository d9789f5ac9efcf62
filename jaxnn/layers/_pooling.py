"""Channels-last pooling: `MaxPool` and `AvgPool` (1-, 2- and 3-D)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn.layers._checks import (
    _LAYOUTS,
    _check_empty,
    _check_float,
    _check_rank,
    _ntuple,
    _padding,
    _window_init,
    _window_out,
)
from jaxnn.layers._protocol import Layer


def _pool(kind: str, window, strides, padding) -> Layer:
    win = (window,) if isinstance(window, int) else tuple(window)
    n = len(win)
    if n not in _LAYOUTS:
        raise ValueError(f"{kind} supports 1-, 2- and 3-D windows, got window={window}.")
    win = _ntuple(win, n, "window sizes")
    strides, padding = _ntuple(win if strides is None else strides, n, "strides"), _padding(padding)
    name = f"{kind}(window={win}, strides={strides}, padding={padding!r})"

    def init(key, input_shape):
        return _window_init(name, input_shape, win, strides, padding), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x) if kind == "AvgPool" else jnp.asarray(x)
        _check_rank(name, x, n)
        _window_out(name, x.shape[1:-1], win, strides, padding, x.shape)
        dims, steps = (1, *win, 1), (1, *strides, 1)
        if kind == "AvgPool":
            y = lax.reduce_window(x, np.array(0, x.dtype), lax.add, dims, steps, padding)
            return y / math.prod(win), state
        lowest = -np.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
        # A concrete (numpy) identity lets JAX recognize the max monoid and differentiate it.
        return lax.reduce_window(x, np.array(lowest, x.dtype), lax.max, dims, steps, padding), state

    return Layer(init, apply)


def MaxPool(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None, padding: str = "VALID"
) -> Layer:
    """Channels-last max pooling: the maximum over each window, per channel.

    Args:
        window: int (1-D, `x: (N, L, C)`) or tuple (n-D, `x: (N, *spatial, C)`).
        strides: int or tuple; defaults to `window` (non-overlapping windows).
        padding: `"VALID"` (default) or `"SAME"` (pads with `-inf`).

    Returns:
        A parameter-free `Layer` (integer inputs are allowed).
    """
    return _pool("MaxPool", window, strides, padding)


def AvgPool(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None, padding: str = "VALID"
) -> Layer:
    """Channels-last average pooling: `sum(window) / prod(window)`, per channel.

    With `"SAME"` padding the padded zeros count in the average (flax's and
    PyTorch's default). Arguments as `MaxPool`.

    Returns:
        A parameter-free `Layer` (floating-point inputs only).
    """
    return _pool("AvgPool", window, strides, padding)
