"""The channels-last convolution layer `Conv` (1-, 2- and 3-D)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn.layers._checks import (
    _LAYOUTS,
    _broadcast,
    _check_float,
    _check_rank,
    _check_tree,
    _ntuple,
    _padding,
    _param_dtype,
    _window_init,
    _window_out,
)
from jaxnn.layers._conv_impl import IMPLS, convolve
from jaxnn.layers._protocol import Layer

Initializer = Callable[..., jax.Array]  # (key, shape, dtype) -> array


def _check_options(name: str, out_channels: int, groups: Any, impl: Any) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: feature_group_count must be a positive int, got {groups!r}.")
    if out_channels % groups:
        raise ValueError(
            f"{name}: out_channels={out_channels} must be divisible by "
            f"feature_group_count={groups}."
        )
    if impl not in IMPLS:
        raise ValueError(f"{name}: impl must be one of {IMPLS}, got {impl!r}.")
    return groups


def _check_channels(name: str, x: jax.Array, w: jax.Array, groups: int) -> None:
    if x.shape[-1] != w.shape[-2] * groups:
        per_group = f" ({groups} groups of {w.shape[-2]})" if groups > 1 else ""
        raise ValueError(
            f"{name} expects inputs with {w.shape[-2] * groups} channels{per_group} on the "
            f"last axis (its kernel is {w.shape}), but got an input of shape {x.shape}."
        )


def Conv(
    out_channels: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "SAME",
    w_init: Initializer = initializers.he_normal(),
    b_init: Initializer = initializers.zeros,
    *,
    kernel_dilation: int | Sequence[int] = 1,
    feature_group_count: int = 1,
    dtype: Any = jnp.float32,
    impl: str = "auto",
) -> Layer:
    """Channels-last convolution (cross-correlation, as `lax.conv_general_dilated`).

    Math (2-D, stride s, kernel dilation d, on the padded input):
    `y[n, i, j, o] = b[o] + sum_{u, v, c} x[n, s*i + d*u, s*j + d*v, c] * w[u, v, c, o]`;
    with `G = feature_group_count`, input channels and outputs are split into `G`
    groups and group `g` of the outputs sees only group `g` of the inputs.

    Args:
        out_channels: number of output channels.
        kernel_size: an int or 1-tuple for 1-D (`x: (N, L, C)`, kernel `WIO`),
            a 2-tuple for 2-D (`x: (N, H, W, C)`, kernel `HWIO`), a 3-tuple for 3-D.
        strides: int or tuple, one per spatial dimension.
        padding: `"SAME"` (`ceil(d / s)` outputs) or `"VALID"` (no padding).
        w_init: kernel initializer (default He normal, fan_in = prod(kernel_size) * C / G).
        b_init: bias initializer (default zeros).
        kernel_dilation: int or tuple; `d > 1` spreads the kernel taps `d` apart.
        feature_group_count: `G`; `C` and `out_channels` must be divisible by it
            (`G = C` is a depthwise convolution).
        dtype: dtype of the parameters (default float32, also under x64). The
            input and kernel are promoted to their common dtype, as in `Dense`.
        impl: `"auto"` (patches x matmul on CPU, `lax.conv_general_dilated`
            elsewhere), `"patches"` or `"lax"`; same numbers within float
            rounding (see `jaxnn/layers/_conv_impl.py` for why and the cost).

    Returns:
        A `Layer` with params `{"w": (*kernel_size, C // G, out_channels), "b": (out_channels,)}`.
    """
    ks = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    n = len(ks)
    if n not in _LAYOUTS:
        raise ValueError(f"Conv supports 1-, 2- and 3-D kernels, got kernel_size={kernel_size}.")
    ks = _ntuple(ks, n, "kernel sizes")
    name = f"Conv({out_channels}, kernel_size={ks})"
    geometry = _Geometry(
        ks,
        _ntuple(strides, n, "strides"),
        _padding(padding),
        _ntuple(kernel_dilation, n, "kernel dilations"),
        _check_options(name, out_channels, feature_group_count, impl),
    )
    return _conv_layer(
        name, out_channels, geometry, w_init, b_init, _param_dtype(name, dtype), impl
    )


class _Geometry(NamedTuple):
    window: tuple[int, ...]  # kernel size per spatial dimension
    strides: tuple[int, ...]  # stride per spatial dimension
    padding: str  # "SAME" or "VALID"
    dilation: tuple[int, ...]  # kernel dilation per spatial dimension
    groups: int  # feature_group_count

    @property
    def effective(self) -> tuple[int, ...]:
        """Window size of the dilated kernel: `(k - 1) * d + 1`."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.window, self.dilation, strict=True))


def _conv_layer(name, out_channels, g: _Geometry, w_init, b_init, dtype, impl) -> Layer:
    """The `Layer` of a checked `Conv` configuration."""
    n = len(g.window)

    def init(key, input_shape):
        out_shape = _window_init(name, input_shape, g.effective, g.strides, g.padding, out_channels)
        in_channels = int(input_shape[-1])
        if in_channels % g.groups:
            raise ValueError(
                f"{name}: the {in_channels} input channels of input_shape "
                f"{tuple(input_shape)} must be divisible by feature_group_count={g.groups}."
            )
        kw, kb = jax.random.split(key)
        w = w_init(kw, (*g.window, in_channels // g.groups, out_channels), dtype)
        return out_shape, {"w": w, "b": b_init(kb, (out_channels,), dtype)}, ()

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        _check_tree(name, params, {"w": (*g.window, None, out_channels), "b": (out_channels,)})
        w, b = params["w"], params["b"]
        _check_rank(name, x, n)
        _check_channels(name, x, w, g.groups)
        _window_out(name, x.shape[1:-1], g.effective, g.strides, g.padding, x.shape)
        y = convolve(x, w, g.strides, g.padding, g.dilation, g.groups, impl)
        return y + _broadcast(b, y.ndim), state

    return Layer(init, apply)
