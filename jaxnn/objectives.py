"""Test functions with known minima, for optimizer trajectories and landscape plots.

Each constructor returns an `Objective(fn, x0, argmin, min_value, name)`:

* `fn(x) -> scalar` with `x` a 1-D array (shape `(d,)`); the 2-D functions
  also evaluate a stacked grid `x` of shape `(2, ...)` elementwise, so
  `fn(jnp.stack(jnp.meshgrid(xs, ys)))` is ready for `plt.contour`.
* `x0`: the conventional starting point (DeepOBS's where it defines one).
* `argmin`: the global minimiser, shape `(d,)`, or `(k, d)` when there are `k`
  global minimisers (branin, saddle).
* `min_value`: `fn` at the minimiser(s).

The 2-D problems are the deterministic versions of DeepOBS's `two_d_*`
problems (DeepOBS adds the noise term `u*x + v*y` with `x, y ~ N(0, 1)`, whose
mean is zero), with DeepOBS's starting points: rosenbrock (-0.5, 1.5), beale
(-4.5, 4.5), branin (2.5, 12.5). Arrays are created in the default float dtype
(float64 under `jax.enable_x64`).

Use with `jaxnn.train.optimize`:

```python
obj = rosenbrock()
x, hist = jaxnn.train.optimize(obj.fn, optax.adam(1e-2), obj.x0, 2000)
```
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "Objective",
    "rosenbrock",
    "beale",
    "branin",
    "quadratic",
    "ravine",
    "saddle",
    "cliff",
    "quadratic_deep",
]


class Objective(NamedTuple):
    """A test function with a known minimum.

    Attributes:
      fn: `fn(x) -> scalar`.
      x0: starting point, shape `(d,)`.
      argmin: minimiser `(d,)`, or `(k, d)` for `k` global minimisers.
      min_value: the global minimum value.
      name: a short identifier.
    """

    fn: Callable[[jax.Array], jax.Array]
    x0: jax.Array
    argmin: jax.Array
    min_value: float
    name: str


def _vec(*values: float) -> jax.Array:
    return jnp.asarray(values, dtype=jnp.result_type(float))


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Objective:
    r"""Rosenbrock's banana valley.

    .. math:: f(x, y) = (a - x)^2 + b\,(y - x^2)^2

    Minimum 0 at :math:`(a, a^2)`; start (-0.5, 1.5) as DeepOBS.
    """

    def fn(p):
        x, y = p[0], p[1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    return Objective(fn, _vec(-0.5, 1.5), _vec(a, a * a), 0.0, "rosenbrock")


def beale() -> Objective:
    r"""Beale's function.

    .. math:: f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2

    Minimum 0 at (3, 0.5); start (-4.5, 4.5) as DeepOBS.
    """

    def fn(p):
        x, y = p[0], p[1]
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    return Objective(fn, _vec(-4.5, 4.5), _vec(3.0, 0.5), 0.0, "beale")


def branin() -> Objective:
    r"""Branin(-Hoo)'s function, with three global minima.

    .. math::
       f(x, y) = (y - b x^2 + c x - r)^2 + s (1 - t) \cos x + s,

    with :math:`b = 5.1 / (4\pi^2)`, :math:`c = 5/\pi`, :math:`r = 6`,
    :math:`s = 10`, :math:`t = 1/(8\pi)`. Minimum :math:`10 t = 5/(4\pi)
    \approx 0.397887` at :math:`(-\pi, 12.275)`, :math:`(\pi, 2.275)` and
    :math:`(3\pi, 2.475)`; start (2.5, 12.5) as DeepOBS.
    """
    b, c, r, s, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)

    def fn(p):
        x, y = p[0], p[1]
        return (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * jnp.cos(x) + s

    xs = (-math.pi, math.pi, 3 * math.pi)
    argmin = jnp.asarray([(x, b * x * x - c * x + r) for x in xs], dtype=jnp.result_type(float))
    return Objective(fn, _vec(2.5, 12.5), argmin, 5 / (4 * math.pi), "branin")


def quadratic(hessian: Any, x0: Any = None, name: str = "quadratic") -> Objective:
    r"""The quadratic bowl :math:`f(x) = \tfrac12 x^\top H x` (minimum 0 at 0).

    Args:
      hessian: symmetric positive-definite `(d, d)` matrix `H` (checked when
        concrete).
      x0: starting point; defaults to all ones.
    """
    H = jnp.asarray(hessian, dtype=jnp.result_type(float))
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"`hessian` must be a square (d, d) matrix, got shape {H.shape}.")
    if not isinstance(H, jax.core.Tracer):
        if not bool(jnp.allclose(H, H.T, rtol=1e-5, atol=1e-6)):
            raise ValueError("`hessian` must be symmetric; got H != H.T.")
        smallest = float(jnp.linalg.eigvalsh(H)[0])
        if smallest <= 0:
            raise ValueError(
                f"`hessian` must be positive definite; its smallest eigenvalue is {smallest:.4g}."
            )
    d = H.shape[0]
    x0 = jnp.ones((d,), H.dtype) if x0 is None else jnp.asarray(x0, H.dtype)

    def fn(x):
        return 0.5 * jnp.einsum("i...,ij,j...->...", x, H, x)

    return Objective(fn, x0, jnp.zeros((d,), H.dtype), 0.0, name)


def ravine(condition: float = 100.0, angle: float = 0.0) -> Objective:
    r"""An elongated 2-D quadratic: :math:`f(x) = \tfrac12 x^\top R D R^\top x`.

    :math:`D = \mathrm{diag}(1, \kappa)` with :math:`\kappa` = `condition`, and
    :math:`R` the rotation by `angle` radians (0: the narrow direction is the
    y-axis). Gradient descent with step :math:`\eta` oscillates across the
    ravine once :math:`\eta > 1/\kappa` and diverges for :math:`\eta >
    2/\kappa`. Minimum 0 at the origin; start (-2, 1) rotated by `angle`.
    `condition` and `angle` may be traced scalars.
    """
    c, s = jnp.cos(angle), jnp.sin(angle)
    R = jnp.asarray([[c, -s], [s, c]], dtype=jnp.result_type(float))
    D = jnp.diag(jnp.asarray([1.0, condition], dtype=R.dtype))
    H = R @ D @ R.T

    def fn(x):
        return 0.5 * jnp.einsum("i...,ij,j...->...", x, H, x)

    return Objective(fn, R @ _vec(-2.0, 1.0), _vec(0.0, 0.0), 0.0, "ravine")


def saddle() -> Objective:
    r"""A saddle point at the origin with two minima.

    .. math:: f(x, y) = x^2 - y^2 + y^4 / 4

    Hessian at 0 is diag(2, -2). Minima :math:`-1` at :math:`(0, \pm\sqrt2)`.
    The start (1, 0.01) lies close to the saddle's stable manifold (the x-axis),
    so gradient descent lingers near the saddle before escaping.
    """

    def fn(p):
        x, y = p[0], p[1]
        return x**2 - y**2 + y**4 / 4

    r2 = math.sqrt(2.0)
    argmin = jnp.asarray([[0.0, r2], [0.0, -r2]], dtype=jnp.result_type(float))
    return Objective(fn, _vec(1.0, 0.01), argmin, -1.0, "saddle")


def cliff(height: float = 10.0, steepness: float = 50.0, position: float = 1.0) -> Objective:
    r"""A quadratic bowl with a steep step (cliff) on the way down.

    .. math:: f(x, y) = \tfrac12 (x^2 + y^2) + h\,\sigma(k (x - c))

    with :math:`\sigma` the logistic sigmoid, `h = height`, `k = steepness`,
    `c = position`. From the start (2, 1) the iterate walks down the gentle
    bowl and meets the wall at :math:`x = c`, where the gradient's x-component
    reaches :math:`c + h k / 4` (126 with the defaults, against about 2 elsewhere):
    plain gradient descent with a step size fit for the bowl is thrown far
    across the origin, while a clipped step walks down the cliff. The minimum
    is at :math:`(x^*, 0)` with :math:`x^* = -h k\,\sigma'(-k c) \approx 0`
    (:math:`-9.6\cdot10^{-20}` with the defaults); `argmin` is the origin and
    `min_value` is `f(0, 0)` = :math:`h \sigma(-k c)` (below 1e-20 for the
    defaults; the gap to the true minimum is far below float precision).
    """

    def fn(p):
        x, y = p[0], p[1]
        return 0.5 * (x**2 + y**2) + height * jax.nn.sigmoid(steepness * (x - position))

    min_value = float(height) / (1.0 + math.exp(float(steepness) * float(position)))
    return Objective(fn, _vec(2.0, 1.0), _vec(0.0, 0.0), min_value, "cliff")


@jax.jit
def _deep_hessian(key: jax.Array) -> jax.Array:
    """`Q diag(lambda) Q^T` for `quadratic_deep` (one compiled call, not a dozen eager ops)."""
    k_low, k_high, k_rot = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    eigenvalues = jnp.concatenate(
        [
            jax.random.uniform(k_low, (90,), dtype, 0.0, 1.0),
            jax.random.uniform(k_high, (10,), dtype, 30.0, 60.0),
        ]
    )
    q, r = jnp.linalg.qr(jax.random.normal(k_rot, (100, 100), dtype))
    q = q * jnp.sign(jnp.diag(r))[None, :]
    H = (q * eigenvalues[None, :]) @ q.T
    return 0.5 * (H + H.T)


def quadratic_deep(key: jax.Array) -> Objective:
    r"""DeepOBS's 100-D quadratic with a deep-learning-like Hessian spectrum.

    :math:`f(\theta) = \tfrac12 \theta^\top H \theta` with
    :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`: 90 eigenvalues drawn from
    U(0, 1) and 10 from U(30, 60), and :math:`Q` a Haar-random orthogonal
    matrix (QR of a standard Gaussian matrix, columns sign-corrected by
    :math:`\mathrm{sign}(\mathrm{diag}\,R)`). Start :math:`\theta_0 = \mathbf 1`
    as DeepOBS; minimum 0 at 0.

    Differences from DeepOBS (`quadratic_deep`): DeepOBS fixes the spectrum
    and rotation with numpy seed 42 (we draw them from `key`, and build the
    rotation by QR rather than Diaconis--Shahshahani; both are Haar
    distributed, on O(100) here and SO(100) there) and its
    loss is stochastic, :math:`\tfrac12 (\theta - x)^\top H (\theta - x)`
    averaged over a minibatch of data :math:`x \sim N(0, 0.6^2 I)`. Its
    expectation is our :math:`f(\theta) + 0.18\,\mathrm{tr}(H)`; we keep the
    deterministic part (same gradient in expectation, same Hessian).
    """
    H = _deep_hessian(key)

    def fn(theta):
        return 0.5 * theta @ (H @ theta)

    dtype = H.dtype
    return Objective(fn, jnp.ones((100,), dtype), jnp.zeros((100,), dtype), 0.0, "quadratic_deep")
