"""Lanczos machinery on flattened parameters (private to `jaxnn.landscape.curvature`).

`lanczos` runs m steps of the Lanczos recurrence with full
re-orthogonalization inside one `lax.while_loop`:

    w = H v_j - alpha_j v_j - beta_{j-1} v_{j-1},   alpha_j = v_j^T H v_j,
    w <- w - V^T V w (twice),   beta_j = ||w||,   v_{j+1} = w / beta_j,

so `V^T H V = T = tridiag(beta, alpha, beta)` up to rounding. When
`beta_j` vanishes (the Krylov space is exhausted) it restarts from the
coordinate vector least covered by V, orthogonalized against V, and sets
`beta_j = 0`: T becomes block-diagonal and every Ritz value remains one of H.
"""

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def flat_matvec(loss_fn, params):
    """(flat params, unravel, v -> H v) with `H` the Hessian of `loss_fn` at `params`."""
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda w: loss_fn(unravel(w)))
    return flat, unravel, lambda v: jax.jvp(grad, (flat,), (v,))[1]


def orth(w, basis):
    """Project out the rows of `basis` (unused rows are zero) twice ("twice is enough")."""
    # `(basis @ w) @ basis`, not `basis.T @ (basis @ w)`: the same numbers, but
    # XLA:CPU materialises `basis.T` (num_iters x dim) on every call otherwise.
    w = w - (basis @ w) @ basis
    return w - (basis @ w) @ basis


def lanczos(matvec, v0, m, check=None):
    """m-step Lanczos with full re-orthogonalization; `check(alpha, beta, s, broke)` -> stop."""
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

    basis = jnp.zeros((m, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    init = (0, basis, jnp.zeros(m, dtype), jnp.zeros(m, dtype), False)
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


def top_ritz(alpha, beta, s, k):
    """k largest Ritz values (descending), their T-eigenvectors and residuals |beta s_last|."""
    theta, vecs = jnp.linalg.eigh(tridiag(alpha, beta, s))
    theta, vecs = theta[::-1][:k], vecs[:, ::-1][:, :k]
    res = jnp.abs(beta[s - 1] * vecs[s - 1])
    return theta, vecs, res
