"""The `Layer` type and the argument checks shared by `jaxnn.layers` and `jaxnn._norm`.

Private: import `Layer` from `jaxnn.layers`, whose docstring states the protocol.
Every check raises in Python (at trace time under `jit`) with a sentence naming
the layer, what it expected and what it got.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Layer(NamedTuple):
    """A layer: `init(key, input_shape) -> (output_shape, params, state)` and
    `apply(params, state, x, *, key=None, train=False) -> (y, new_state)`."""

    init: Callable
    apply: Callable


_LAYOUTS = {
    1: "(batch, length, channels)",
    2: "(batch, height, width, channels)",
    3: "(batch, depth, height, width, channels)",
}


def _fmt(tree):
    """`tree` with each leaf replaced by its shape, for error messages."""
    return repr(jax.tree_util.tree_map(lambda v: getattr(v, "shape", type(v).__name__), tree))


def _fmt_expected(expected):
    """`{"w": (None, 3)}` -> `"{'w': (?, 3)}"` (None: any size)."""
    fmt = lambda s: "(" + ", ".join("?" if d is None else str(d) for d in s) + "," * (len(s) == 1)
    return "{" + ", ".join(f"{k!r}: {fmt(s)})" for k, s in expected.items()) + "}"


def _check_float(name, x):
    """Returns `x` as an array, raising a TypeError unless it is floating point."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{name} needs a floating-point input, but got dtype {x.dtype} with shape "
            f"{x.shape}; cast it first, e.g. x.astype(jnp.float32)."
        )
    return x


def _check_tree(name, tree, expected, what="params"):
    """Checks that `tree` is a dict with exactly the keys and shapes of `expected`."""
    ok = isinstance(tree, Mapping) and set(tree) == set(expected)
    for k, shape in expected.items() if ok else ():
        got = jnp.shape(tree[k])
        ok = ok and len(got) == len(shape)
        ok = ok and all(e in (None, g) for e, g in zip(shape, got, strict=False))
    if not ok:
        raise ValueError(
            f"{name} got {what} that do not match the layer: expected "
            f"{_fmt_expected(expected)}, got {_fmt(tree)}. Pass the {what} returned by "
            f"this layer's init."
        )


def _check_empty(name, params):
    if jax.tree_util.tree_leaves(params):
        raise ValueError(
            f"{name} has no params, so it expects (), but got {_fmt(params)}; the params "
            f"of a model are probably out of order."
        )


def _known(name, input_shape, dims, what):
    """`input_shape` as ints, checking that `input_shape[d] > 0` for `d` in `dims`."""
    shape = tuple(int(d) for d in input_shape)
    if any(shape[d] <= 0 for d in dims):
        raise ValueError(f"{name}.init needs {what} to be known, but got input_shape {shape}.")
    return shape


def _broadcast(v, ndim):
    """Reshapes a per-feature vector `(C,)` to `(1, ..., 1, C)` (no implicit rank promotion)."""
    return v.reshape((1,) * (ndim - 1) + v.shape)


def _ntuple(value, n, what):
    value = (value,) * n if isinstance(value, int) else tuple(value)
    if len(value) != n:
        raise ValueError(f"Expected {n} {what} (one per spatial dimension), got {value}.")
    return value


def _padding(padding):
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f'padding must be "SAME" or "VALID", got {padding!r}.')
    return padding.upper()


def _window_init(name, input_shape, window, strides, padding, out_channels=None):
    """Output shape of a channels-last convolution or pooling (-1 stays -1)."""
    if len(input_shape) != len(window) + 2:
        layout = _LAYOUTS[len(window)]
        raise ValueError(f"{name} expects an input_shape {layout}, got {tuple(input_shape)}.")
    shape = _known(name, input_shape, [-1], "the number of channels (last dimension)")
    out = [shape[0]]
    for d, k, s in zip(shape[1:-1], window, strides, strict=True):
        if d == -1:
            out.append(-1)
        elif padding == "SAME":
            out.append(-(-d // s))
        elif d < k:
            raise ValueError(
                f"{name} with VALID padding needs each spatial size >= {window}, but got "
                f"input_shape {shape}."
            )
        else:
            out.append((d - k) // s + 1)
    return (*out, shape[-1] if out_channels is None else out_channels)


def _check_rank(name, x, n):
    if x.ndim != n + 2:
        raise ValueError(
            f"{name} is {n}-D and expects inputs of shape {_LAYOUTS[n]} (channels last), "
            f"but got an input of shape {x.shape}."
        )
