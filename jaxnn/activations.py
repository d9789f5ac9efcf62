"""Activation functions as plain functions: `jnp` array in, `jnp` array out.

Conventions:

* Every function is elementwise except `softmax` / `log_softmax`, which
  normalize along `axis` (default: the last axis, the class axis).
* All are stable for inputs of any magnitude: `sigmoid` uses `lax.logistic`
  (no `exp` overflow), `softmax` / `log_softmax` subtract the maximum before
  exponentiating, so `softmax([1e4, 0])` is `[1, 0]`, not `nan`.
* `gelu` defaults to the **exact** erf form (`approximate=False`), as PyTorch
  and the original paper; note that `jax.nn.gelu` defaults to the tanh
  approximation.
* `softmax(x, temperature=T)` is `softmax(x / T)`; `T` may be a Python number
  or a traced scalar (a temperature sweep is one `vmap`).
* The derivative of `relu` at 0 is 0 (as `jax.nn.relu`).

Examples:
    >>> import jax.numpy as jnp
    >>> from jaxnn.activations import softmax
    >>> softmax(jnp.array([1e4, 0.0]))
    Array([1., 0.], dtype=float32)
"""

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

__all__ = ["gelu", "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "tanh"]


def sigmoid(x: ArrayLike) -> jax.Array:
    """Logistic sigmoid.

    Math: `sigmoid(x) = 1 / (1 + exp(-x))`, computed by `lax.logistic`, which
    is stable for large `|x|`.

    Args:
        x: float array.

    Returns:
        Array like `x` with values in `[0, 1]`.
    """
    return lax.logistic(x)


def tanh(x: ArrayLike) -> jax.Array:
    """Hyperbolic tangent, `tanh(x) = (e^x - e^-x) / (e^x + e^-x)`.

    Args:
        x: float array.

    Returns:
        Array like `x` with values in `[-1, 1]`.
    """
    return jnp.tanh(x)


def relu(x: ArrayLike) -> jax.Array:
    """Rectified linear unit, `relu(x) = max(x, 0)` (derivative 0 at `x = 0`).

    Args:
        x: array.

    Returns:
        Array like `x`.
    """
    return jax.nn.relu(x)


def leaky_relu(x: ArrayLike, alpha: ArrayLike = 0.01) -> jax.Array:
    """Leaky ReLU: `x` where `x >= 0`, `alpha * x` elsewhere.

    Args:
        x: float array.
        alpha: slope for negative inputs (number or traced scalar).

    Returns:
        Array like `x`.
    """
    x = jnp.asarray(x)
    return jnp.where(x >= 0, x, alpha * x)


def gelu(x: ArrayLike, approximate: bool = False) -> jax.Array:
    """Gaussian error linear unit.

    Math: exact `gelu(x) = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2)))`;
    with `approximate=True`, the tanh form
    `x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))`.

    Args:
        x: float array.
        approximate: use the tanh approximation (`jax.nn.gelu`'s default).

    Returns:
        Array like `x`.
    """
    return jax.nn.gelu(x, approximate=approximate)


def softmax(x: ArrayLike, axis: int = -1, temperature: ArrayLike = 1.0) -> jax.Array:
    """Softmax with temperature along `axis`.

    Math: `softmax(x)_i = exp(z_i) / sum_j exp(z_j)` with
    `z = (x - max x) / temperature`. Subtracting the maximum (a constant per
    slice, so the result is unchanged) keeps every exponent `<= 0`; doing it
    before dividing by the temperature keeps `z` finite for small temperatures.

    Args:
        x: float array.
        axis: the axis to normalize over.
        temperature: positive number or traced scalar; `T -> 0` tends to
            argmax, `T -> inf` to uniform.

    Returns:
        Array like `x`, non-negative, summing to 1 along `axis`.
    """
    z = (x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))) / temperature
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: int = -1, temperature: ArrayLike = 1.0) -> jax.Array:
    """Log of `softmax(x, axis, temperature)`, computed stably.

    Math: `log_softmax(x)_i = z_i - log(sum_j exp(z_j))` with
    `z = (x - max x) / temperature`.

    Args:
        x: float array.
        axis: the axis to normalize over.
        temperature: positive number or traced scalar.

    Returns:
        Array like `x`, `<= 0`, whose `exp` sums to 1 along `axis`.
    """
    x = jnp.asarray(x)
    z = (x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))) / temperature
    return z - jnp.log(jnp.sum(jnp.exp(z), axis=axis, keepdims=True))
