"""How `Conv` computes a convolution: XLA's convolution, or patches x matmul, per backend.

Both compute the same cross-correlation (channels last, kernel `(*window, C // G, O)`):

    y[n, i, o] = sum_{k, c} x_pad[n, s*i + d*k, g(o) * C/G + c] * w[k, c, o]

with stride `s`, kernel dilation `d`, `G` feature groups and `g(o) = o // (O / G)`.

* `"lax"`: one `lax.conv_general_dilated`.
* `"patches"`: the padded input is cut into `prod(window)` strided slices (one per
  kernel offset), concatenated on the channel axis into patches `(N, *out, K * C)`,
  and multiplied with the kernel reshaped to `(K * C, O)` (a block per group when
  `G > 1`). Its gradient is made of slices, pads and matmuls only.
* `"auto"` (the default): `"patches"` when the default backend is the CPU,
  `"lax"` elsewhere (GPU, TPU), decided when `apply` is traced.

Why: on XLA:CPU a convolution inside a `lax.scan` / `while` loop (every
`jaxnn.train.train_scan` step, every vmapped sweep) runs 7-25x slower per step
than the same convolution in a top-level program, while matmuls do not slow
down; patches x matmul inside the loop is faster than either (measured by
`benchmarks/train_step.py`). The price is memory: the patches are `prod(window)`
times the input (for a 3x3 kernel, 9x). In a top-level jitted step (no loop)
the two are about even for the 1-D MNIST-1D CNN, but XLA's convolution can be
faster for large 2-D convolutions (1.6x on a 3x3, 16 -> 32 channel, 28x28
batch of 32, forward and backward): pass `impl="lax"` there. On accelerators
the native convolution is the fast path and is kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ("auto", "patches", "lax")


def _resolve(impl: str) -> str:
    """`"auto"` -> the implementation for the current default backend."""
    if impl == "auto":
        return "patches" if jax.default_backend() == "cpu" else "lax"
    return impl


def _pads(spatial, window, strides, dilation, padding) -> list[tuple[int, int]]:
    """(low, high) padding per spatial dimension, as `lax.conv_general_dilated` pads."""
    effective = [(k - 1) * d + 1 for k, d in zip(window, dilation, strict=True)]
    return list(lax.padtype_to_pads(spatial, effective, strides, padding))


def _conv_lax(x, w, strides, padding, dilation, groups):
    n = x.ndim - 2
    spec = "DHW"[3 - n :]
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=(f"N{spec}C", f"{spec}IO", f"N{spec}C"),
        feature_group_count=groups,
    )


def _slices(x, window, strides, dilation, padding) -> list[jax.Array]:
    """One strided slice of the padded `x` per kernel offset (row-major over `window`)."""
    pads = _pads(x.shape[1:-1], window, strides, dilation, padding)
    xp = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    spatial = xp.shape[1:-1]
    out = [
        (size - (k - 1) * d - 1) // s + 1
        for size, k, d, s in zip(spatial, window, dilation, strides, strict=True)
    ]
    slices = []
    for offsets in itertools.product(*(range(k) for k in window)):
        start = [o * d for o, d in zip(offsets, dilation, strict=True)]
        limit = [b + (m - 1) * s + 1 for b, m, s in zip(start, out, strides, strict=True)]
        slices.append(
            lax.slice(xp, (0, *start, 0), (xp.shape[0], *limit, xp.shape[-1]), (1, *strides, 1))
        )
    return slices


def _conv_patches(x, w, strides, padding, dilation, groups):
    window, (c_group, o) = w.shape[:-2], w.shape[-2:]
    patches = jnp.concatenate(_slices(x, window, strides, dilation, padding), axis=-1)
    if groups == 1:
        return patches @ w.reshape(-1, o)
    k = math.prod(window)
    p = patches.reshape(*patches.shape[:-1], k, groups, c_group)
    wg = w.reshape(k, c_group, groups, o // groups)
    y = jnp.einsum("...kgc,kcgo->...go", p, wg)
    return y.reshape(*y.shape[:-2], o)


def convolve(
    x: jax.Array,
    w: jax.Array,
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int],
    groups: int,
    impl: str,
) -> jax.Array:
    """The channels-last cross-correlation of `x` with `w` (no bias), by `impl`.

    `x` and `w` are promoted to their common dtype first (a float64 input with a
    float32 kernel computes in float64, as `x @ w` does).
    """
    dtype = jnp.result_type(x, w)
    x, w = x.astype(dtype), w.astype(dtype)
    args = (x, w, tuple(strides), padding, tuple(dilation), groups)
    return _conv_patches(*args) if _resolve(impl) == "patches" else _conv_lax(*args)
