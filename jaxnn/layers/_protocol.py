"""The `Layer` type and the combinators `serial` and `residual`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.layers._checks import Shape, _input_shape


class Layer(NamedTuple):
    """A layer: `init(key, input_shape) -> (output_shape, params, state)` and
    `apply(params, state, x, *, key=None, train=False) -> (y, new_state)`."""

    init: Callable[..., tuple[Shape, Any, Any]]  # (key, input_shape) -> (shape, params, state)
    apply: Callable[..., tuple[jax.Array, Any]]  # (params, state, x, *, key, train) -> (y, state)


def _check_per_layer(name: str, tree: Any, what: str, n: int) -> None:
    if not isinstance(tree, tuple | list) or len(tree) != n:
        size = f" of length {len(tree)}" if isinstance(tree, tuple | list) else ""
        raise ValueError(
            f"{name} expects {what} with one entry per layer (a tuple of length {n}), "
            f"but got a {type(tree).__name__}{size}."
        )


def serial(*layers: Layer) -> Layer:
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
        shape = _input_shape(name, input_shape)
        params, states = [], []
        for layer, k in zip(layers, jax.random.split(key, n) if n else [], strict=True):
            shape, p, s = layer.init(k, shape)
            params.append(p)
            states.append(s)
        return tuple(shape), tuple(params), tuple(states)

    def apply(params, state, x, *, key=None, train=False):
        shorthand = isinstance(state, tuple) and state == () and n > 0
        if shorthand:
            state = ((),) * n
        _check_per_layer(name, params, "params", n)
        _check_per_layer(name, state, "state", n)
        keys = jax.random.split(key, n) if key is not None and n else [None] * n
        new_state = []
        for layer, p, s, k in zip(layers, params, state, keys, strict=True):
            x, s = layer.apply(p, s, x, key=k, train=train)
            new_state.append(s)
        if shorthand and all(s == () for s in new_state):
            return x, ()
        return x, tuple(new_state)

    return Layer(init, apply)


def residual(layer: Layer) -> Layer:
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
        input_shape = _input_shape("residual", input_shape)
        out_shape, params, state = layer.init(key, input_shape)
        if tuple(out_shape) != input_shape:
            raise error(input_shape, tuple(out_shape))
        return tuple(out_shape), params, state

    def apply(params, state, x, *, key=None, train=False):
        x = jnp.asarray(x)
        y, state = layer.apply(params, state, x, key=key, train=train)
        if y.shape != x.shape:
            raise error(x.shape, y.shape)
        return x + y, state

    return Layer(init, apply)
