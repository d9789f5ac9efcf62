"""Krylov machinery on flattened parameters (private to `jaxnn.landscape`).

`lanczos` runs m steps of the Lanczos recurrence with full
re-orthogonalization inside one `lax.while_loop`:

    w = H v_j - alpha_j v_j - beta_{j-1} v_{j-1},   alpha_j = v_j^T H v_j,
    w <- w - V^T V w (twice),   beta_j = ||w||,   v_{j+1} = w / beta_j,

so `V^T H V = T = tridiag(beta, alpha, beta)` up to rounding. When
`beta_j` vanishes (the Krylov space is exhausted) it restarts from the
coordinate vector least covered by V, orthogonalized against V, and sets
`beta_j = 0`: T becomes block-diagonal and every Ritz value remains one of H.

Precision: the Krylov vectors, `alpha`, `beta` and the small eigenproblems
run in `work_dtype(params dtype)`, at least float32 (bfloat16 / float16
parameters get float32 Krylov vectors); each Hessian-vector product is
computed in the parameters' own dtypes (the vector is cast down, the product
cast back up), so low-precision models keep their cheap HVPs.

Staged basis (`hessian_top_eigenvalues`): the run starts with a basis of
the first block size (16 rows, or k rounded up to a power of two) and only
when it has not converged there copies it into the full `num_iters`-row
basis and goes on (`lanczos(..., start=...)`). Allocating, zeroing and
projecting against the padded 100-row basis cost more than the HVPs on
small models (measured: 5 HVPs of a 105,610-parameter MLP on 1000 examples,
0.046 s with the full basis, 0.019 s with 16 rows); a run that needs more
than 16 steps pays one copy of 16 vectors.

Cost of the convergence test: the Ritz values of the first `s` steps are the
eigenvalues of the leading `s x s` block of the padded `m x m` tridiagonal,
so `top_ritz` diagonalizes only the smallest block size in
`16, 32, 64, ..., m` that holds `s` (an `eigh` of 100 x 100 measured 8-20 ms
on XLA:CPU, one of 16 x 16 ~0.04 ms), and `check_due` runs the test every
step up to 32 steps and every 4th step after that (at most 3 extra HVPs).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

CHECK_EVERY_STEP_UP_TO = 32  # convergence test at every step while s <= this
CHECK_INTERVAL = 4  # ... and at every CHECK_INTERVAL-th step after that


def work_dtype(dtype) -> jnp.dtype:
    """The Krylov dtype for parameters of `dtype`: at least float32."""
    return jnp.promote_types(dtype, jnp.float32)


def _widen(tree):
    def leaf(x):
        x = jnp.asarray(x)
        return x.astype(work_dtype(x.dtype)) if jnp.issubdtype(x.dtype, jnp.inexact) else x

    return jax.tree.map(leaf, tree)


def flat_matvec(loss_fn: Callable, params) -> tuple[jax.Array, Callable, Callable]:
    """`(flat params, unravel, v -> H v)` with `H` the Hessian of `loss_fn` at `params`.

    `flat` and the vectors `matvec` takes and returns are in the Krylov dtype
    (at least float32); the product itself runs in the parameters' dtypes.
    `unravel` maps a Krylov-dtype vector to a pytree like `params` whose
    floating leaves have the Krylov dtype (float32 for bfloat16 parameters).
    """
    flat_p, unravel_p = ravel_pytree(params)
    work = work_dtype(flat_p.dtype)
    _, unravel = ravel_pytree(_widen(params))
    grad = jax.grad(lambda w: loss_fn(unravel_p(w)))

    def matvec(v):
        return jax.jvp(grad, (flat_p,), (v.astype(flat_p.dtype),))[1].astype(work)

    return flat_p.astype(work), unravel, matvec


def orth(w, basis):
    """Project out the rows of `basis` (unused rows are zero) twice ("twice is enough")."""
    # `(basis @ w) @ basis`, not `basis.T @ (basis @ w)`: the same numbers, but
    # XLA:CPU materialises `basis.T` (num_iters x dim) on every call otherwise.
    w = w - (basis @ w) @ basis
    return w - (basis @ w) @ basis


def lanczos(matvec, v0, m, check=None, start=None, keep_next=False):
    """m-step Lanczos with full re-orthogonalization; `check(alpha, beta, s, broke)` -> stop.

    Returns `(steps, basis (m, n), alpha (m,), beta (m,))`. With `keep_next`
    the basis has `m + 1` rows, the last holding the next Krylov vector, so
    that a later call can continue the run: `start=(steps, basis, alpha, beta)`
    from such a call (with a smaller m) copies its rows and coefficients into
    the first positions of size-`m` arrays and goes on from step `steps`.
    """
    n, dtype = v0.shape[0], v0.dtype
    eps = jnp.finfo(dtype).eps

    def body(state):
        j, basis, alpha, beta, _ = state
        v = basis[j]
        hv = matvec(v)
        a = jnp.vdot(v, hv)
        b_prev = jnp.where(j > 0, beta[j - 1], 0)
        w = orth(hv - a * v - b_prev * basis[j - 1], basis)
        b = jnp.linalg.norm(w)
        broke = b <= 100 * eps * jnp.maximum(jnp.linalg.norm(hv), jnp.finfo(dtype).tiny)

        def restart():  # the coordinate vector least covered by the basis, orthogonalized
            e = jax.nn.one_hot(jnp.argmin(jnp.sum(basis * basis, axis=0)), n, dtype=dtype)
            r = orth(e, basis)
            return r / jnp.linalg.norm(r)

        nxt = jax.lax.cond(broke, restart, lambda: w / jnp.where(broke, 1, b))
        alpha, beta = alpha.at[j].set(a), beta.at[j].set(jnp.where(broke, 0, b))
        basis = basis.at[j + 1].set(nxt, mode="drop")
        done = check(alpha, beta, j + 1, broke) if check is not None else False
        return j + 1, basis, alpha, beta, done

    rows = m + 1 if keep_next else m
    if start is None:
        basis = jnp.zeros((rows, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
        init = (0, basis, jnp.zeros(m, dtype), jnp.zeros(m, dtype), False)
    else:
        j0, b0, a0, be0 = start
        basis = jnp.zeros((rows, n), dtype).at[: b0.shape[0]].set(b0)
        pad = lambda c: jnp.zeros(m, dtype).at[: c.shape[0]].set(c)
        init = (j0, basis, pad(a0), pad(be0), False)
    j, basis, alpha, beta, _ = jax.lax.while_loop(lambda s: (s[0] < m) & ~s[4], body, init)
    return j, basis, alpha, beta


def tridiag(alpha, beta, s):
    """Padded m x m tridiagonal of the first s steps; the padding's eigenvalues lie below."""
    m = alpha.shape[0]
    idx = jnp.arange(m)
    used = idx < s
    off = jnp.where(idx < s - 1, beta, 0)[: m - 1]
    absb = jnp.abs(jnp.concatenate([jnp.zeros(1, alpha.dtype), off]))
    radius = absb + jnp.concatenate([jnp.abs(off), jnp.zeros(1, alpha.dtype)])
    lower = jnp.min(jnp.where(used, alpha - radius, jnp.inf))
    diag = jnp.where(used, alpha, lower - 1 - jnp.abs(lower))
    return jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)


def block_sizes(m: int, k: int) -> tuple[int, ...]:
    """Leading-block sizes `16, 32, 64, ... (>= k), m` that `top_ritz` diagonalizes."""
    sizes, b = [], 16
    while b < m:
        if b >= k:
            sizes.append(b)
        b *= 2
    return (*sizes, m)


def top_ritz(alpha, beta, s, k):
    """k largest Ritz values (descending), their T-eigenvectors (m, k) and residuals.

    Only the smallest leading block of `block_sizes(m, k)` holding the `s`
    used steps is diagonalized (`s >= k` is required); the residuals are
    `|beta_{s-1} y_{s-1, i}|`, i.e. `||H u_i - theta_i u_i||` for unit Ritz vectors.
    """
    m = alpha.shape[0]
    sizes = block_sizes(m, k)

    def branch(b):
        def solve():
            theta, vecs = jnp.linalg.eigh(tridiag(alpha[:b], beta[:b], s))
            theta, vecs = theta[::-1][:k], vecs[:, ::-1][:, :k]
            return theta, jnp.pad(vecs, ((0, m - b), (0, 0)))

        return solve

    if len(sizes) == 1:
        theta, vecs = branch(m)()
    else:
        index = jnp.sum(jnp.asarray(sizes[:-1]) < s)
        theta, vecs = jax.lax.switch(index, [branch(b) for b in sizes])
    res = jnp.abs(beta[s - 1] * vecs[s - 1])
    return theta, vecs, res


def check_due(s, k):
    """Whether the convergence test runs after step `s` (see the module docstring)."""
    return (s >= k) & ((s <= CHECK_EVERY_STEP_UP_TO) | (s % CHECK_INTERVAL == 0))


def power_deflated(matvec, key, n, dtype, k, num_iters, tol):
    """PyHessian's power iteration with deflation: `(vectors (k, n), values, residuals, count)`.

    Vector i is iterated as `v <- P H v / ||P H v||` (`P` projects out the i
    vectors found) until the Rayleigh quotient changes by at most
    `tol * |lambda|`, or `num_iters` steps.
    """

    def one(i, carry):
        found, vals, res, count = carry

        def step(state):
            t, v, lam, _, _ = state
            w = orth(matvec(v), found)
            new = jnp.vdot(v, w)
            r = jnp.linalg.norm(w - new * v)
            stop = (t > 0) & (jnp.abs(new - lam) <= tol * jnp.abs(new))
            norm = jnp.linalg.norm(w)  # 0 only if v is in the null space: keep v
            nxt = jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1), v)
            return t + 1, nxt, new, r, stop

        v = orth(jax.random.normal(jax.random.fold_in(key, i), (n,), dtype), found)
        init = (0, v / jnp.linalg.norm(v), jnp.zeros((), dtype), jnp.zeros((), dtype), False)
        t, v, lam, r, _ = jax.lax.while_loop(lambda s: (s[0] < num_iters) & ~s[4], step, init)
        return found.at[i].set(v), vals.at[i].set(lam), res.at[i].set(r), count + t

    init = (jnp.zeros((k, n), dtype), jnp.zeros(k, dtype), jnp.zeros(k, dtype), 0)
    return jax.lax.fori_loop(0, k, one, init)
