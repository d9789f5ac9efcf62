"""Neural-network layers as pairs of pure functions (stax style).

The protocol. A layer is `Layer(init, apply)`, a NamedTuple of two pure functions:

    init(key, input_shape) -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False) -> (y, new_state)

* `input_shape` includes the batch dimension, which may be any int or -1
  (unknown); `output_shape` carries it through unchanged.
* `params` are the trainable variables, a pytree; `state` the non-trainable
  ones (BatchNorm running statistics). Layers without them use `()`.
* `key` is only needed by layers that draw (Dropout), and only when
  `train=True`; `train` switches Dropout and BatchNorm between their training
  and evaluation behaviour and is ignored by every other layer.

Layers. Parameter-free instances (no parentheses, as in stax): `Relu`,
`Sigmoid`, `Tanh`, `Gelu` (exact erf form), `Softmax` (last axis), `Flatten`,
`Identity`. Constructors: `Dense`, `Conv`, `MaxPool`, `AvgPool`, `LeakyRelu`,
`Dropout`, and `BatchNorm`, `LayerNorm`, `RMSNorm` (in `jaxnn/_norm.py`, whose
docstring states their numerical conventions: flax's). Combinators: `serial`,
`residual`, and the convenience `mlp`.

Conventions.

* Features are on the **last** axis: Dense maps `(..., in) -> (..., out)` with
  a kernel `(in, out)`; Conv, MaxPool and AvgPool are channels-last, `(N, L, C)`
  in 1-D and `(N, H, W, C)` in 2-D, with `WIO` / `HWIO` kernels.
* `padding="SAME"` gives `ceil(d / stride)` outputs per spatial dimension,
  `"VALID"` gives `(d - k) // stride + 1` (as `lax.conv_general_dilated`).
* AvgPool divides by the full window size, padding included (flax's and
  PyTorch's default, `count_include_pad=True`).
* Default initialization: He normal kernels, zero biases.
* Errors are raised in Python while tracing, before anything is compiled: a
  Dense or Conv applied to the wrong number of features, an integer input to a
  layer that computes in floating point, Dropout with `train=True` and no key,
  and parameters that do not match the layer (wrong shapes or keys, a `serial`
  tuple of the wrong length).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxnn import layers as L
    >>> model = L.serial(L.Dense(32), L.Relu, L.Dropout(0.1), L.Dense(10))
    >>> out_shape, params, state = model.init(jax.random.key(0), (-1, 784))
    >>> out_shape
    (-1, 10)
    >>> x, key = jnp.ones((8, 784)), jax.random.key(1)
    >>> y, state = model.apply(params, state, x, key=key, train=True)
    >>> y.shape
    (8, 10)
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn import activations, initializers
from jaxnn._layer_base import (
    _LAYOUTS,
    Layer,
    _broadcast,
    _check_empty,
    _check_float,
    _check_rank,
    _check_tree,
    _known,
    _ntuple,
    _padding,
    _window_init,
)
from jaxnn._norm import BatchNorm, LayerNorm, RMSNorm  # kept apart for size

__all__ = [
    "AvgPool",
    "BatchNorm",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Gelu",
    "Identity",
    "Layer",
    "LayerNorm",
    "LeakyRelu",
    "MaxPool",
    "RMSNorm",
    "Relu",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "mlp",
    "residual",
    "serial",
]

Layer.__module__ = __name__  # defined in jaxnn._layer_base; public here


# ------------------------------------------------------------------ stateless layers


def _elementwise(name, fn, float_only=True):
    def init(key, input_shape):
        return tuple(int(d) for d in input_shape), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x) if float_only else jnp.asarray(x)
        return fn(x), state

    return Layer(init, apply)


Relu = _elementwise("Relu", activations.relu)
Sigmoid = _elementwise("Sigmoid", activations.sigmoid)
Tanh = _elementwise("Tanh", activations.tanh)
Gelu = _elementwise("Gelu", activations.gelu)  # exact (erf) form
Softmax = _elementwise("Softmax", activations.softmax)  # over the last axis
Identity = _elementwise("Identity", lambda x: x, float_only=False)


def LeakyRelu(alpha=0.01):
    """Leaky ReLU layer: `x` where `x >= 0`, `alpha * x` elsewhere.

    Args:
        alpha: slope for negative inputs.

    Returns:
        A parameter-free `Layer`.
    """
    return _elementwise(f"LeakyRelu(alpha={alpha})", lambda x: activations.leaky_relu(x, alpha))


def _flatten_init(key, input_shape):
    shape = _known("Flatten", input_shape, range(1, len(input_shape)), "every non-batch size")
    return (shape[0], math.prod(shape[1:])), (), ()


def _flatten_apply(params, state, x, *, key=None, train=False):
    _check_empty("Flatten", params)
    x = jnp.asarray(x)
    return x.reshape(x.shape[0], -1), state


Flatten = Layer(_flatten_init, _flatten_apply)  # (N, d1, ..., dk) -> (N, d1 * ... * dk)


def Dropout(rate):
    """Inverted dropout: drops each entry with probability `rate` at train time.

    Math: with `keep = 1 - rate` and `m ~ Bernoulli(keep)` elementwise,
    `y = m * x / keep` when `train=True`, so `E[y] = x`; `y = x` when
    `train=False`. `rate=1` gives zeros.

    Args:
        rate: probability of **dropping** an entry, in `[0, 1]` (number or
            traced scalar).

    Returns:
        A parameter-free `Layer`; its `apply` needs `key` when `train=True`.
    """
    name = f"Dropout(rate={rate})"
    if isinstance(rate, numbers.Real) and not 0 <= rate <= 1:
        raise ValueError(f"{name}: rate is the probability of dropping and must be in [0, 1].")

    def init(key, input_shape):
        return tuple(int(d) for d in input_shape), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x)
        if not train:
            return x, state
        if key is None:
            raise ValueError(
                f"{name} draws a random mask when train=True and needs a PRNG key: call "
                f"apply(params, state, x, key=jax.random.key(...), train=True)."
            )
        keep = 1 - jnp.asarray(rate, x.dtype)
        mask = jax.random.bernoulli(key, keep, x.shape)
        return jnp.where(mask, x / jnp.where(keep > 0, keep, 1), 0).astype(x.dtype), state

    return Layer(init, apply)


# ---------------------------------------------------------------- layers with params


def Dense(out_dim, w_init=initializers.he_normal(), b_init=initializers.zeros):
    """Fully connected layer acting on the last axis.

    Math: `y = x @ w + b`, `w: (in, out_dim)`, `b: (out_dim,)`, `x: (..., in)`.

    Args:
        out_dim: number of output features.
        w_init: kernel initializer (default He normal).
        b_init: bias initializer (default zeros).

    Returns:
        A `Layer` with params `{"w": (in, out_dim), "b": (out_dim,)}` and state `()`.
    """
    name = f"Dense({out_dim})"

    def init(key, input_shape):
        shape = _known(name, input_shape, [-1], "the number of input features (last dimension)")
        kw, kb = jax.random.split(key)
        params = {"w": w_init(kw, (shape[-1], out_dim)), "b": b_init(kb, (out_dim,))}
        return (*shape[:-1], out_dim), params, ()

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        _check_tree(name, params, {"w": (None, out_dim), "b": (out_dim,)})
        w, b = params["w"], params["b"]
        if x.ndim < 1 or x.shape[-1] != w.shape[0]:
            raise ValueError(
                f"{name} expects inputs whose last dimension is {w.shape[0]} (its kernel is "
                f"{w.shape}), but got an input of shape {x.shape}."
            )
        y = x @ w
        return y + _broadcast(b, y.ndim), state

    return Layer(init, apply)


def Conv(
    out_channels,
    kernel_size,
    strides=1,
    padding="SAME",
    w_init=initializers.he_normal(),
    b_init=initializers.zeros,
):
    """Channels-last convolution (cross-correlation, as `lax.conv_general_dilated`).

    Math (2-D, stride s, on the padded input):
    `y[n, i, j, o] = b[o] + sum_{u, v, c} x[n, s*i + u, s*j + v, c] * w[u, v, c, o]`.

    Args:
        out_channels: number of output channels.
        kernel_size: an int or 1-tuple for 1-D (`x: (N, L, C)`, kernel `WIO`),
            a 2-tuple for 2-D (`x: (N, H, W, C)`, kernel `HWIO`), a 3-tuple for 3-D.
        strides: int or tuple, one per spatial dimension.
        padding: `"SAME"` or `"VALID"`.
        w_init: kernel initializer (default He normal, fan_in = prod(kernel_size) * C).
        b_init: bias initializer (default zeros).

    Returns:
        A `Layer` with params `{"w": (*kernel_size, C, out_channels), "b": (out_channels,)}`.
    """
    ks = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    n = len(ks)
    if n not in _LAYOUTS:
        raise ValueError(f"Conv supports 1-, 2- and 3-D kernels, got kernel_size={kernel_size}.")
    strides, padding = _ntuple(strides, n, "strides"), _padding(padding)
    name = f"Conv({out_channels}, kernel_size={ks})"
    spec = "DHW"[3 - n :]
    dimension_numbers = (f"N{spec}C", f"{spec}IO", f"N{spec}C")

    def init(key, input_shape):
        out_shape = _window_init(name, input_shape, ks, strides, padding, out_channels)
        kw, kb = jax.random.split(key)
        in_channels = int(input_shape[-1])
        w = w_init(kw, (*ks, in_channels, out_channels))
        return out_shape, {"w": w, "b": b_init(kb, (out_channels,))}, ()

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        _check_tree(name, params, {"w": (*ks, None, out_channels), "b": (out_channels,)})
        w, b = params["w"], params["b"]
        _check_rank(name, x, n)
        if x.shape[-1] != w.shape[-2]:
            raise ValueError(
                f"{name} expects inputs with {w.shape[-2]} channels on the last axis (its "
                f"kernel is {w.shape}), but got an input of shape {x.shape}."
            )
        y = lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=dimension_numbers)
        return y + _broadcast(b, y.ndim), state

    return Layer(init, apply)


def _pool(kind, window, strides, padding):
    win = (window,) if isinstance(window, int) else tuple(window)
    n = len(win)
    if n not in _LAYOUTS:
        raise ValueError(f"{kind} supports 1-, 2- and 3-D windows, got window={window}.")
    strides, padding = _ntuple(win if strides is None else strides, n, "strides"), _padding(padding)
    name = f"{kind}(window={win}, strides={strides}, padding={padding!r})"

    def init(key, input_shape):
        return _window_init(name, input_shape, win, strides, padding), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x) if kind == "AvgPool" else jnp.asarray(x)
        _check_rank(name, x, n)
        dims, steps = (1, *win, 1), (1, *strides, 1)
        if kind == "AvgPool":
            y = lax.reduce_window(x, np.array(0, x.dtype), lax.add, dims, steps, padding)
            return y / math.prod(win), state
        lowest = -np.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
        # A concrete (numpy) identity lets JAX recognize the max monoid and differentiate it.
        return lax.reduce_window(x, np.array(lowest, x.dtype), lax.max, dims, steps, padding), state

    return Layer(init, apply)


def MaxPool(window, strides=None, padding="VALID"):
    """Channels-last max pooling: the maximum over each window, per channel.

    Args:
        window: int (1-D, `x: (N, L, C)`) or tuple (n-D, `x: (N, *spatial, C)`).
        strides: int or tuple; defaults to `window` (non-overlapping windows).
        padding: `"VALID"` (default) or `"SAME"` (pads with `-inf`).

    Returns:
        A parameter-free `Layer` (integer inputs are allowed).
    """
    return _pool("MaxPool", window, strides, padding)


def AvgPool(window, strides=None, padding="VALID"):
    """Channels-last average pooling: `sum(window) / prod(window)`, per channel.

    With `"SAME"` padding the padded zeros count in the average (flax's and
    PyTorch's default). Arguments as `MaxPool`.

    Returns:
        A parameter-free `Layer` (floating-point inputs only).
    """
    return _pool("AvgPool", window, strides, padding)


# ----------------------------------------------------------------------- combinators


def serial(*layers):
    """Composes layers in sequence: `serial(f, g)(x) = g(f(x))`.

    Params and state are tuples with one entry per layer. `init` splits `key`
    into one key per layer; so does `apply` when it is given a key.

    `apply` also accepts `state=()` as shorthand for "no layer has state"
    (every layer gets `()`, and `()` comes back when no layer made state), so
    stateless stacks work with the `model_state=()` defaults of `jaxnn.train`;
    a stateful layer (BatchNorm) inside then reports its missing state.

    Args:
        *layers: `Layer`s.

    Returns:
        A `Layer`.
    """
    n = len(layers)
    name = f"serial of {n} layers"

    def init(key, input_shape):
        shape, params, states = tuple(input_shape), [], []
        for layer, k in zip(layers, jax.random.split(key, n) if n else [], strict=True):
            shape, p, s = layer.init(k, shape)
            params.append(p)
            states.append(s)
        return shape, tuple(params), tuple(states)

    def apply(params, state, x, *, key=None, train=False):
        shorthand = isinstance(state, tuple) and state == () and n > 0
        if shorthand:
            state = ((),) * n
        for tree, what in ((params, "params"), (state, "state")):
            if not isinstance(tree, tuple | list) or len(tree) != n:
                size = f" of length {len(tree)}" if isinstance(tree, tuple | list) else ""
                raise ValueError(
                    f"{name} expects {what} with one entry per layer (a tuple of length {n}), "
                    f"but got a {type(tree).__name__}{size}."
                )
        keys = jax.random.split(key, n) if key is not None and n else [None] * n
        new_state = []
        for layer, p, s, k in zip(layers, params, state, keys, strict=True):
            x, s = layer.apply(p, s, x, key=k, train=train)
            new_state.append(s)
        if shorthand and all(s == () for s in new_state):
            return x, ()
        return x, tuple(new_state)

    return Layer(init, apply)


def residual(layer):
    """Residual connection: `y = x + layer(x)`; `layer` must keep the shape.

    Args:
        layer: a `Layer` whose output shape equals its input shape.

    Returns:
        A `Layer` with the params and state of `layer`.
    """

    def error(a, b):
        return ValueError(
            f"residual(layer) computes x + layer(x), so the inner layer must keep the shape "
            f"of its input, but it maps {a} to {b}."
        )

    def init(key, input_shape):
        out_shape, params, state = layer.init(key, input_shape)
        if tuple(out_shape) != tuple(input_shape):
            raise error(tuple(input_shape), tuple(out_shape))
        return tuple(out_shape), params, state

    def apply(params, state, x, *, key=None, train=False):
        x = jnp.asarray(x)
        y, state = layer.apply(params, state, x, key=key, train=train)
        if y.shape != x.shape:
            raise error(x.shape, y.shape)
        return x + y, state

    return Layer(init, apply)


def mlp(sizes, activation=Relu, w_init=initializers.he_normal(), b_init=initializers.zeros):
    """Multi-layer perceptron: Dense layers with `activation` between them.

    `mlp([256, 256, 10])` is `serial(Dense(256), Relu, Dense(256), Relu, Dense(10))`
    (no activation after the last layer: it outputs logits).

    Args:
        sizes: output sizes of the Dense layers.
        activation: the `Layer` placed between consecutive Dense layers.
        w_init, b_init: initializers passed to every Dense layer.

    Returns:
        A `serial` `Layer`.
    """
    stack = []
    for i, size in enumerate(sizes):
        stack += [Dense(size, w_init, b_init)] + ([activation] if i < len(sizes) - 1 else [])
    return serial(*stack)
