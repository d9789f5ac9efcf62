"""Argument checks shared by the layers of `jaxnn.layers`.

Every check raises in Python (at trace time under `jit`, so before anything is
compiled) with a sentence naming the layer, what it expected and what it got.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Shape = tuple[int, ...]

_LAYOUTS = {
    1: "(batch, length, channels)",
    2: "(batch, height, width, channels)",
    3: "(batch, depth, height, width, channels)",
}


def _fmt(tree: Any) -> str:
    """`tree` with each leaf replaced by its shape, for error messages."""
    return repr(jax.tree_util.tree_map(lambda v: getattr(v, "shape", type(v).__name__), tree))


def _fmt_expected(expected: Mapping[str, Sequence[int | None]]) -> str:
    """`{"w": (None, 3)}` -> `"{'w': (?, 3)}"` (None: any size)."""
    fmt = lambda s: "(" + ", ".join("?" if d is None else str(d) for d in s) + "," * (len(s) == 1)
    return "{" + ", ".join(f"{k!r}: {fmt(s)})" for k, s in expected.items()) + "}"


def _check_float(name: str, x: Any) -> jax.Array:
    """Returns `x` as an array, raising a TypeError unless it is floating point."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{name} needs a floating-point input, but got dtype {x.dtype} with shape "
            f"{x.shape}; cast it first, e.g. x.astype(jnp.float32)."
        )
    return x


def _check_tree(name: str, tree: Any, expected: Mapping, what: str = "params") -> None:
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


def _check_empty(name: str, params: Any) -> None:
    """Raises unless `params` holds no arrays (a parameter-free layer)."""
    if jax.tree_util.tree_leaves(params):
        raise ValueError(
            f"{name} has no params, so it expects (), but got {_fmt(params)}; the params "
            f"of a model are probably out of order."
        )


def _input_shape(name: str, input_shape: Any, min_ndim: int = 1, layout: str = "") -> Shape:
    """`input_shape` as a tuple of ints, with at least `min_ndim` entries.

    `layout` describes the expected axes for the message, e.g. `"(batch, ..., features)"`.
    """
    layout = layout or "(batch, ...)"
    example = "e.g. (-1, 784) for 784 features, or (-1, 40, 1) for signals of length 40"
    if not isinstance(input_shape, tuple | list):
        raise TypeError(
            f"{name}.init: input_shape must be a tuple of ints {layout} that includes the "
            f"batch dimension (-1 when unknown), {example}; got {type(input_shape).__name__} "
            f"{input_shape!r}."
        )
    bad = [d for d in input_shape if isinstance(d, bool) or not isinstance(d, numbers.Integral)]
    if bad or any(int(d) < -1 for d in input_shape):
        raise ValueError(
            f"{name}.init: input_shape must hold ints >= -1 (-1: unknown size), got "
            f"{tuple(input_shape)!r}."
        )
    if len(input_shape) < min_ndim:
        raise ValueError(
            f"{name}.init needs an input_shape {layout} with at least {min_ndim} "
            f"{'entry' if min_ndim == 1 else 'entries'} "
            f"(the batch dimension included, -1 when unknown), {example}; got "
            f"{tuple(input_shape)!r}."
        )
    return tuple(int(d) for d in input_shape)


def _known(name: str, input_shape: Any, dims: Sequence[int], what: str, **kw: Any) -> Shape:
    """`input_shape` as ints (see `_input_shape`), with `input_shape[d] > 0` for `d` in `dims`."""
    shape = _input_shape(name, input_shape, **kw)
    if any(shape[d] <= 0 for d in dims):
        raise ValueError(f"{name}.init needs {what} to be known, but got input_shape {shape}.")
    return shape


def _param_dtype(name: str, dtype: Any) -> Any:
    """`dtype` as a numpy dtype, raising unless it is a floating-point dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"{name}: dtype is the dtype of the parameters and must be a floating-point "
            f"dtype such as jnp.float32 or jnp.float64, got {dtype!r}."
        )
    return dt


def _broadcast(v: jax.Array, ndim: int) -> jax.Array:
    """Reshapes a per-feature vector `(C,)` to `(1, ..., 1, C)` (no implicit rank promotion)."""
    return v.reshape((1,) * (ndim - 1) + v.shape)


def _ntuple(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """`value` as an `n`-tuple of positive ints (an int is repeated)."""
    values = (value,) * n if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != n:
        raise ValueError(f"Expected {n} {what} (one per spatial dimension), got {values}.")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values):
        raise ValueError(f"{what} must be positive ints, got {values}.")
    return tuple(int(v) for v in values)


def _padding(padding: str) -> str:
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f'padding must be "SAME" or "VALID", got {padding!r}.')
    return padding.upper()


def _window_out(name: str, sizes: Sequence[int], window, strides, padding, shape) -> list[int]:
    """Spatial output sizes (-1 stays -1); `window` holds the effective (dilated) sizes."""
    out = []
    for d, k, s in zip(sizes, window, strides, strict=True):
        if d == -1:
            out.append(-1)
        elif padding == "SAME":
            out.append(-(-d // s))
        elif d < k:
            raise ValueError(
                f"{name} with VALID padding needs each spatial size >= {tuple(window)} (the "
                f"window), but got an input of shape {tuple(shape)}; use padding='SAME' or "
                f"a larger input."
            )
        else:
            out.append((d - k) // s + 1)
    return out


def _window_init(name, input_shape, window, strides, padding, out_channels=None) -> Shape:
    """Output shape of a channels-last convolution or pooling (-1 stays -1)."""
    layout = _LAYOUTS[len(window)]
    shape = _input_shape(name, input_shape, layout=layout)
    if len(shape) != len(window) + 2:
        raise ValueError(f"{name} expects an input_shape {layout}, got {shape}.")
    shape = _known(name, shape, [-1], "the number of channels (last dimension)")
    out = _window_out(name, shape[1:-1], window, strides, padding, shape)
    return (shape[0], *out, shape[-1] if out_channels is None else out_channels)


def _check_rank(name: str, x: jax.Array, n: int) -> None:
    if x.ndim != n + 2:
        raise ValueError(
            f"{name} is {n}-D and expects inputs of shape {_LAYOUTS[n]} (channels last), "
            f"but got an input of shape {x.shape}."
        )
