"""Hessian curvature of `loss_fn(params) -> scalar` without forming the Hessian.

Everything is built on the Hessian-vector product, forward-over-reverse,
`H v = d/de grad(loss)(params + e v) |_{e=0}` (`jax.jvp` of `jax.grad`), on the
parameters flattened with `jax.flatten_util.ravel_pytree` (so any pytree
works; vectors live in the promoted dtype of the leaves, n = number of
parameters). Each estimator is one jit-compiled program whose iteration
loops are `lax` loops, so compile time does not grow with the iteration
count; the program is cached on the identity of `loss_fn`.

* `hessian_top_eigenvalues(method="lanczos")`: Lanczos with full
  re-orthogonalization (twice per step, against all stored vectors), in a
  `while_loop` that stops when the k largest Ritz values have residuals
  `|beta_m s_{m,i}| = ||H u_i - theta_i u_i|| <= tol * |theta_i|` (so each
  `|theta_i - lambda| <= tol * |theta_i|`), or after `min(num_iters, n)`
  steps. It returns the **algebraically largest** eigenvalues. For the most
  negative ones use `lambda p: -loss_fn(p)` and negate. Memory bound (tested
  with the compiled program's `memory_analysis()`): temporary bytes at most
  `(m + 25) * n * b + 8 * m^2 * b + 2 * hvp_bytes`, with `m = min(num_iters, n)`,
  `b` the Krylov itemsize (4 for float32 and lower-precision parameters) and
  `hvp_bytes` one Hessian-vector product's working set: the `m` stored
  Krylov vectors dominate (plus the 17-row first stage of the staged basis,
  `jaxnn/landscape/_krylov.py`), so 1M float32 parameters with the default
  `num_iters=100` need ~500 MB plus two HVPs.
* `method="power"`: power iteration with deflation by projection (PyHessian):
  eigenvector i is iterated as `v <- P H v / ||P H v||`, `P` projecting out
  the i vectors already found, until the Rayleigh quotient changes by at most
  `tol * |lambda|`. Power iteration finds the eigenvalues of largest
  **magnitude**, which are the top ones only for a positive semi-definite
  Hessian; away from a minimum a large negative eigenvalue comes first, and
  a pair `+lambda, -lambda` does not converge. Results are then sorted in
  descending order.
* `hessian_trace`: Hutchinson, `tr H = E[z^T H z]` with Rademacher `z`; the
  standard error is `std(samples, ddof=1) / sqrt(num_samples)`.
* `hessian_spectrum`: stochastic Lanczos quadrature (Ghorbani et al. 2019):
  per run, `order` Lanczos steps from `v = z / sqrt(n)` (Rademacher `z`);
  with `T = S diag(theta) S^T`, nodes are `theta` and weights `S[0, :]^2`
  (they sum to 1), so `sum_i w_i f(theta_i) ~ v^T f(H) v ~ tr f(H) / n`.
  `spectral_density` smooths the nodes with Gaussians.

Lanczos breakdown (an exhausted Krylov space, e.g. from repeated
eigenvalues) is handled by restarting from the coordinate vector least
covered by the previous ones, orthogonalized against them, with a zero
coupling in T, so every Ritz value stays a Ritz value of H. The Krylov
dimension is capped at n.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.landscape._krylov import (
    block_sizes,
    check_due,
    flat_matvec,
    lanczos,
    power_deflated,
    top_ritz,
    tridiag,
)
from jaxnn.landscape._validate import (
    ById,
    check_loss_fn,
    check_positive_int,
    check_same_tree,
    tree_nbytes,
)

__all__ = [
    "HessianEigen",
    "Spectrum",
    "TraceEstimate",
    "hessian_spectrum",
    "hessian_top_eigenvalues",
    "hessian_trace",
    "hvp",
    "spectral_density",
]


class HessianEigen(NamedTuple):
    """Top-k eigenpairs from `hessian_top_eigenvalues`."""

    eigenvalues: jax.Array  # (k,), descending
    eigenvectors: object  # pytree like params with a leading axis k, or None
    residuals: jax.Array  # (k,) ||H u - lambda u|| (unit u)
    num_matvecs: jax.Array  # Hessian-vector products used


class TraceEstimate(NamedTuple):
    """A Hutchinson trace estimate from `hessian_trace`."""

    estimate: jax.Array  # mean of z^T H z over the probes
    standard_error: jax.Array  # std(z^T H z, ddof=1) / sqrt(num_samples)


class Spectrum(NamedTuple):
    """Quadrature nodes and weights from `hessian_spectrum`."""

    nodes: jax.Array  # (num_runs, order), ascending per run
    weights: jax.Array  # (num_runs, order), each row sums to 1


def _size(params: Any) -> int:
    return sum(int(np.size(x)) for x in jax.tree.leaves(params))


def hvp(loss_fn: Callable[[Any], jax.Array], params: Any, v: Any) -> Any:
    """Hessian-vector product `H(params) v` on pytrees (forward-over-reverse).

    `v` must have the structure and leaf shapes of `params`; the result does too.
    """
    check_same_tree("v", v, params)
    v = jax.tree.map(lambda t, p: jnp.asarray(t, jnp.result_type(p)), v, params)
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def directional_curvature(loss_fn: Callable[[Any], jax.Array], params: Any, d: Any) -> jax.Array:
    """`dᵀ H(params) d`: the exact second derivative of `a -> loss_fn(params + a d)` at 0.

    One `hvp` and a dot product over all leaves (Li et al.'s sharpness along a
    filter-normalized direction `d`). Jit it with `loss_fn` closed over for
    repeated use.
    """
    hd = hvp(loss_fn, params, d)
    dots = (jnp.vdot(u, w) for u, w in zip(jax.tree.leaves(d), jax.tree.leaves(hd), strict=True))
    return jnp.asarray(sum(dots))  # sum() starts from a Python 0


@functools.partial(jax.jit, static_argnames=("loss_fn", "k", "num_iters", "method"))
def _top_eigen(params, key, tol, *, loss_fn, k, num_iters, method):
    flat, unravel, matvec = flat_matvec(loss_fn, params)
    n, dtype = flat.shape[0], flat.dtype
    if method == "power":
        vecs, vals, res, count = power_deflated(matvec, key, n, dtype, k, num_iters, tol)
        order = jnp.argsort(-vals)
        return vals[order], jax.vmap(unravel)(vecs[order]), res[order], count

    def converged(alpha, beta, s):
        theta, _, res = top_ritz(alpha, beta, s, k)
        return jnp.all(res <= tol * jnp.abs(theta))

    def check(alpha, beta, s, broke):
        due = check_due(s, k) & ~broke
        return jax.lax.cond(due, lambda: converged(alpha, beta, s), lambda: jnp.array(False))

    def result(state):
        steps, basis, alpha, beta = state
        vals, s_vecs, res = top_ritz(alpha, beta, steps, k)
        return vals, jax.vmap(unravel)(s_vecs.T @ basis[: alpha.shape[0]]), res, steps

    v0 = jax.random.normal(key, (n,), dtype)
    m = min(num_iters, n)
    first = block_sizes(m, k)[0]  # the staged basis (see _krylov's module docstring)
    if first >= m:
        return result(lanczos(matvec, v0, m, check))
    small = lanczos(matvec, v0, first, check, keep_next=True)
    steps, _, alpha, beta = small
    done = (steps < first) | converged(alpha, beta, steps)
    return jax.lax.cond(
        done, result, lambda st: result(lanczos(matvec, v0, m, check, start=st)), small
    )


def hessian_top_eigenvalues(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    key: jax.Array,
    k: int = 1,
    num_iters: int = 100,
    method: str = "lanczos",
    tol: float | jax.Array = 1e-6,
    return_eigenvectors: bool = False,
) -> "HessianEigen":
    """Top-k Hessian eigenvalues by Lanczos (default) or power iteration with deflation.

    Args:
      loss_fn: `params -> scalar`.
      params: the point where the Hessian is taken (any pytree).
      key: PRNG key for the start vector(s).
      k: number of eigenvalues.
      num_iters: Lanczos: maximum Krylov dimension (capped at n); power:
        maximum iterations per eigenvalue.
      method: `"lanczos"` (k algebraically largest) or `"power"` (k largest in
        magnitude, see the module docstring).
      tol: relative tolerance (Ritz residual for Lanczos, change of the
        Rayleigh quotient for power).
      return_eigenvectors: also return unit eigenvectors as a pytree like
        `params` with a leading axis k.

    Returns:
      `HessianEigen(eigenvalues (k,) descending, eigenvectors or None,
      residuals (k,), num_matvecs)`. Vectors and coefficients are in at least
      float32 (eigenvectors of bfloat16 parameters are float32).

    Memory: about `(num_iters + 25) * n * 4` bytes for float32 Krylov vectors
    plus two HVPs' working sets (module docstring); 1M parameters: ~500 MB.
    """
    if method not in ("lanczos", "power"):
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}.")
    check_positive_int("k", k, allow_none=False)
    check_positive_int("num_iters", num_iters, allow_none=False)
    check_loss_fn(loss_fn, params)
    n = _size(params)
    if k > n:
        raise ValueError(f"k={k} eigenvalues requested but the Hessian is only {n} x {n}.")
    if method == "lanczos" and num_iters < k:
        raise ValueError(f"Lanczos needs num_iters >= k; got num_iters={num_iters}, k={k}.")
    vals, vecs, res, count = _top_eigen(
        params,
        key,
        tol,
        loss_fn=ById(loss_fn),
        k=int(k),
        num_iters=int(num_iters),
        method=method,
    )
    return HessianEigen(vals, vecs if return_eigenvectors else None, res, count)


@functools.partial(jax.jit, static_argnames=("loss_fn", "num_samples", "batch_size"))
def _trace(params, key, *, loss_fn, num_samples, batch_size):
    flat, _, matvec = flat_matvec(loss_fn, params)

    def sample(k):
        z = jax.random.rademacher(k, flat.shape, flat.dtype)
        return jnp.vdot(z, matvec(z))

    samples = jax.lax.map(sample, jax.random.split(key, num_samples), batch_size=batch_size)
    se = jnp.std(samples, ddof=1) / jnp.sqrt(num_samples) if num_samples > 1 else jnp.inf
    return jnp.mean(samples), jnp.asarray(se, samples.dtype)


def hessian_trace(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    key: jax.Array,
    num_samples: int = 100,
    batch_size: int | None = None,
) -> "TraceEstimate":
    """Hutchinson estimate of `tr H = E_z[z^T H z]`, `z` Rademacher.

    Args:
      num_samples: number of probe vectors.
      batch_size: probes evaluated together with `vmap` (memory ~ batch_size
        HVPs); default `max(1, min(num_samples, 64 MiB // nbytes(params)))`.

    Returns:
      `TraceEstimate(estimate, standard_error)`, with
      `standard_error = std(z^T H z, ddof=1) / sqrt(num_samples)`.
    """
    check_positive_int("num_samples", num_samples, allow_none=False)
    check_positive_int("batch_size", batch_size)
    check_loss_fn(loss_fn, params)
    if batch_size is None:
        nbytes = tree_nbytes(params)
        batch_size = max(1, min(num_samples, 2**26 // max(nbytes, 1)))
    est, se = _trace(
        params, key, loss_fn=ById(loss_fn), num_samples=int(num_samples), batch_size=batch_size
    )
    return TraceEstimate(est, se)


@functools.partial(jax.jit, static_argnames=("loss_fn", "order", "num_runs"))
def _spectrum(params, key, *, loss_fn, order, num_runs):
    flat, _, matvec = flat_matvec(loss_fn, params)

    def run(k):
        v0 = jax.random.rademacher(k, flat.shape, flat.dtype)
        steps, _, alpha, beta = lanczos(matvec, v0, order)
        theta, vecs = jnp.linalg.eigh(tridiag(alpha, beta, steps))
        return theta, vecs[0] ** 2

    return jax.lax.map(run, jax.random.split(key, num_runs))


def hessian_spectrum(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    key: jax.Array,
    order: int = 90,
    num_runs: int = 10,
) -> "Spectrum":
    """Stochastic Lanczos quadrature of the Hessian's spectral density.

    Args:
      order: Lanczos steps per run (quadrature nodes), at most n.
      num_runs: independent Rademacher start vectors.

    Returns:
      `Spectrum(nodes, weights)`, both `(num_runs, order)`; per run the
      weights sum to 1 and `sum_i w_i theta_i^p` estimates `tr(H^p) / n`.
    """
    check_positive_int("order", order, allow_none=False)
    check_positive_int("num_runs", num_runs, allow_none=False)
    check_loss_fn(loss_fn, params)
    n = _size(params)
    if order > n:
        raise ValueError(f"order={order} exceeds the number of parameters n={n}; use order <= n.")
    nodes, weights = _spectrum(
        params, key, loss_fn=ById(loss_fn), order=int(order), num_runs=int(num_runs)
    )
    return Spectrum(nodes, weights)


def spectral_density(
    nodes: jax.Array, weights: jax.Array, grid: jax.Array, sigma: float | jax.Array
) -> jax.Array:
    """Gaussian-smoothed spectral density on `grid`, normalized to integrate to 1.

    `rho(t) = mean_r sum_i w_{r,i} N(t; theta_{r,i}, sigma^2)`, then divided by
    its trapezoid integral over `grid` (mass outside the grid is dropped).
    `nodes`/`weights` are `(order,)` or `(num_runs, order)`.
    """
    nodes, weights = jnp.atleast_2d(nodes), jnp.atleast_2d(weights)
    if nodes.shape != weights.shape:
        raise ValueError(f"nodes {nodes.shape} and weights {weights.shape} must have one shape.")
    grid = jnp.asarray(grid)
    if grid.ndim != 1 or grid.shape[0] < 2:
        raise ValueError(f"grid must be 1-D with at least 2 points; got shape {grid.shape}.")
    diff = grid[:, None, None] - nodes[None, :, :]
    gauss = jnp.exp(-0.5 * (diff / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    density = jnp.sum(gauss * weights[None], axis=2).mean(axis=1)
    return density / jnp.trapezoid(density, grid)
