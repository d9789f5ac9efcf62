"""Parameter initializers, with the conventions of `jax.nn.initializers`.

An initializer is a function `init(key, shape, dtype=jnp.float32) -> array`.
`zeros` and `ones` are initializers; the others are factories that return one
(`he_normal()`, `normal(stddev=0.1)`), so that they can be configured.

Fans. For a kernel of shape `(*receptive, in, out)` (Dense `(in, out)`, Conv
`WIO` / `HWIO` / `DHWIO`), with `r = prod(receptive)` (1 for Dense):

    fan_in = r * in        fan_out = r * out

Variances (each is *exactly* the variance of the drawn distribution):

    glorot_uniform / glorot_normal   Var = 2 / (fan_in + fan_out)   (Glorot & Bengio 2010)
    he_uniform / he_normal           Var = 2 / fan_in               (He et al. 2015)
    lecun_normal                     Var = 1 / fan_in               (LeCun et al. 1998)

Uniform initializers draw from `U(-a, a)` with `a = sqrt(3 Var)`. The `*_normal`
initializers draw from a normal **truncated to two standard deviations**
and rescale it so that the variance is exactly `Var`: a standard normal
truncated to `(-2, 2)` has standard deviation `0.87962566103423978`, so the
draw is `truncated_normal(-2, 2) * sqrt(Var) / 0.87962566103423978`. This is
what `jax.nn.initializers` (and flax, and Keras) do; with the same key and
dtype the results here equal `jax.nn.initializers.he_normal()` etc. bit for
bit. `normal(stddev)` is an untruncated normal.

Randomness: typed keys (`jax.random.key`) and raw `uint32` keys both work.

Examples:
    >>> import jax
    >>> from jaxnn.initializers import he_normal
    >>> w = he_normal()(jax.random.key(0), (784, 256))   # Var(w) ~= 2 / 784
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "normal",
    "ones",
    "zeros",
]

Initializer = Callable[..., jax.Array]  # (key, shape, dtype=jnp.float32) -> array

# Standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STDDEV = 0.87962566103423978


def zeros(key: Any, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """Initializer that returns zeros (the key is ignored).

    Args:
        key: PRNG key (unused).
        shape: shape of the array.
        dtype: dtype of the array.

    Returns:
        `jnp.zeros(shape, dtype)`.
    """
    del key
    return jnp.zeros(shape, dtype)


def ones(key: Any, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """Initializer that returns ones (the key is ignored).

    Args:
        key: PRNG key (unused).
        shape: shape of the array.
        dtype: dtype of the array.

    Returns:
        `jnp.ones(shape, dtype)`.
    """
    del key
    return jnp.ones(shape, dtype)


def normal(stddev: float = 1e-2) -> Initializer:
    """Factory for an untruncated normal initializer, `w ~ N(0, stddev^2)`.

    Args:
        stddev: standard deviation.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """

    def init(key, shape, dtype=jnp.float32):
        return jax.random.normal(key, shape, dtype) * jnp.asarray(stddev, dtype)

    return init


def _fans(shape):
    """Returns `(fan_in, fan_out)` for a kernel of shape `(*receptive, in, out)`."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"Fan-based initializers need a kernel with at least 2 dimensions "
            f"(*receptive_field, in, out), but got shape {shape}; use zeros, ones or "
            f"normal(stddev) for biases and scales."
        )
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Initializer with `Var = scale / fan`, `fan` chosen by `mode`."""

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(shape)
        fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
        variance = jnp.array(scale / fan, dtype)
        if distribution == "uniform":
            return jax.random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)
        stddev = jnp.sqrt(variance) / jnp.array(_TRUNCATED_STDDEV, dtype)
        return jax.random.truncated_normal(key, -2, 2, shape, dtype) * stddev

    return init


def glorot_uniform() -> Initializer:
    """Glorot (Xavier) uniform: `w ~ U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`.

    Math: `Var(w) = a^2 / 3 = 2 / (fan_in + fan_out)`.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """
    return _variance_scaling(1.0, "fan_avg", "uniform")


def glorot_normal() -> Initializer:
    """Glorot (Xavier) normal: truncated normal with `Var(w) = 2 / (fan_in + fan_out)`.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """
    return _variance_scaling(1.0, "fan_avg", "truncated_normal")


def he_uniform() -> Initializer:
    """He (Kaiming) uniform: `w ~ U(-a, a)`, `a = sqrt(6 / fan_in)`, so `Var(w) = 2 / fan_in`.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """
    return _variance_scaling(2.0, "fan_in", "uniform")


def he_normal() -> Initializer:
    """He (Kaiming) normal: truncated normal with `Var(w) = 2 / fan_in`.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """
    return _variance_scaling(2.0, "fan_in", "truncated_normal")


def lecun_normal() -> Initializer:
    """LeCun normal: truncated normal with `Var(w) = 1 / fan_in`.

    Returns:
        An initializer `init(key, shape, dtype=jnp.float32)`.
    """
    return _variance_scaling(1.0, "fan_in", "truncated_normal")
