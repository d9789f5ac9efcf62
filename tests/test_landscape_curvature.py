"""Hessian-vector products, top eigenvalues (Lanczos, power), Hutchinson trace and SLQ."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxnn import landscape as L


def _mlp_problem(seed=0):
    """A 3-5-2 tanh MLP with squared error: 32 parameters, an indefinite Hessian."""
    k = jax.random.split(jax.random.key(seed), 6)
    params = {
        "l1": {"w": jax.random.normal(k[0], (3, 5)), "b": 0.1 * jax.random.normal(k[1], (5,))},
        "l2": {"w": jax.random.normal(k[2], (5, 2)), "b": jnp.zeros(2)},
    }
    x, y = jax.random.normal(k[3], (20, 3)), jax.random.normal(k[4], (20, 2))

    def loss_fn(p):
        h = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"][None, :])
        return jnp.mean((h @ p["l2"]["w"] + p["l2"]["b"][None, :] - y) ** 2)

    flat, unravel = ravel_pytree(params)
    hess = np.asarray(jax.hessian(lambda w: loss_fn(unravel(w)))(flat))
    return loss_fn, params, hess


@pytest.fixture
def problem(x64):
    return _mlp_problem()


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def test_hvp_equals_dense_hessian_times_v(problem):
    loss_fn, params, hess = problem
    v = jax.tree.map(lambda p: jnp.cos(jnp.arange(p.size, dtype=p.dtype)).reshape(p.shape), params)
    hv = L.hvp(loss_fn, params, v)
    assert jax.tree.structure(hv) == jax.tree.structure(params)
    np.testing.assert_allclose(_flat(hv), hess @ _flat(v), rtol=1e-12, atol=1e-12)


def test_directional_curvature_equals_dense_quadratic_form_and_second_difference(problem):
    loss_fn, params, hess = problem
    d = jax.tree.map(
        lambda p: jnp.sin(1.0 + jnp.arange(p.size, dtype=p.dtype)).reshape(p.shape), params
    )
    got = float(L.directional_curvature(loss_fn, params, d))
    np.testing.assert_allclose(got, _flat(d) @ hess @ _flat(d), rtol=1e-12)
    # and it is the second derivative of the 1-D slice a -> loss(params + a d) at 0
    h = 1e-4
    f = lambda a: float(loss_fn(jax.tree.map(lambda p, t: p + a * t, params, d)))
    np.testing.assert_allclose(got, (f(h) + f(-h) - 2 * f(0.0)) / h**2, rtol=1e-5)


def test_lanczos_top3_match_eigvalsh(problem):
    loss_fn, params, hess = problem
    want = np.linalg.eigvalsh(hess)[::-1][:3]
    res = L.hessian_top_eigenvalues(
        loss_fn, params, jax.random.key(1), k=3, tol=1e-10, return_eigenvectors=True
    )
    rel = np.abs(np.asarray(res.eigenvalues) - want) / np.abs(want)
    assert np.all(rel <= 1e-6), rel
    assert np.all(np.diff(np.asarray(res.eigenvalues)) <= 0)  # descending
    vecs = np.stack([_flat(jax.tree.map(lambda a, i=i: a[i], res.eigenvectors)) for i in range(3)])
    np.testing.assert_allclose(vecs @ vecs.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(vecs @ hess, want[:, None] * vecs, atol=1e-8)
    assert int(res.num_matvecs) <= 32 and np.all(np.asarray(res.residuals) <= 1e-8)


def test_power_iteration_with_deflation_finds_largest_magnitude(problem):
    loss_fn, params, hess = problem
    ev = np.linalg.eigvalsh(hess)
    top = L.hessian_top_eigenvalues(
        loss_fn, params, jax.random.key(2), k=1, method="power", tol=1e-13, num_iters=5000
    )
    assert abs(float(top.eigenvalues[0]) - ev[-1]) <= 1e-6 * abs(ev[-1])
    # this Hessian is indefinite: power iteration returns the 3 largest in magnitude
    by_magnitude = np.sort(ev[np.argsort(-np.abs(ev))[:3]])[::-1]
    assert by_magnitude[-1] < 0
    res = L.hessian_top_eigenvalues(
        loss_fn, params, jax.random.key(2), k=3, method="power", tol=1e-13, num_iters=5000
    )
    np.testing.assert_allclose(res.eigenvalues, by_magnitude, rtol=1e-6)


def test_lanczos_repeated_eigenvalues_via_restart(x64):
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))
    a = q @ np.diag([5.0, 5.0, 3.0, 1.0, 1.0, 0.5]) @ q.T
    loss_fn = lambda p: 0.5 * p["x"] @ (jnp.asarray(a) @ p["x"])
    params = {"x": jnp.ones(6)}
    res = L.hessian_top_eigenvalues(loss_fn, params, jax.random.key(0), k=3, tol=0.0)
    np.testing.assert_allclose(res.eigenvalues, [5.0, 5.0, 3.0], rtol=1e-10)


def test_lanczos_past_the_first_stage_equals_one_full_basis(x64):
    """A slowly converging spectrum needs more than the 16-row first stage: the run that is
    continued in the full basis gives the eigenpairs of the dense matrix, as a full basis does."""
    from jaxnn.landscape._krylov import flat_matvec, lanczos, top_ritz

    n = 120
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(n, n)))
    ev = np.concatenate([[10.0, 9.99, 9.98], np.linspace(0.0, 9.9, n - 3)])  # clustered top
    a = jnp.asarray(q @ np.diag(ev) @ q.T)
    loss_fn = lambda p: 0.5 * p["x"] @ (a @ p["x"])
    params = {"x": jnp.ones(n)}
    res = L.hessian_top_eigenvalues(
        loss_fn, params, jax.random.key(0), k=3, num_iters=80, tol=1e-9, return_eigenvectors=True
    )
    assert int(res.num_matvecs) > 17, "the test must leave the first stage"
    np.testing.assert_allclose(res.eigenvalues, ev[:3], rtol=1e-8)
    vecs = np.asarray(res.eigenvectors["x"])
    np.testing.assert_allclose(vecs @ np.asarray(a), ev[:3, None] * vecs, atol=1e-6)
    # the same number of steps in one unstaged basis: the same tridiagonal
    _, _, matvec = flat_matvec(loss_fn, params)
    v0 = jax.random.normal(jax.random.key(0), (n,), jnp.float64)
    steps = int(res.num_matvecs)
    _, _, alpha, beta = lanczos(matvec, v0, steps)
    theta, _, _ = top_ritz(alpha, beta, steps, 3)
    np.testing.assert_allclose(res.eigenvalues, theta, rtol=1e-10)


def test_lanczos_float32():
    loss_fn, params, hess = _mlp_problem()  # float32 Hessian, eigenvalues in float64
    hess = hess.astype(np.float64)
    res = L.hessian_top_eigenvalues(loss_fn, params, jax.random.PRNGKey(3), k=2)  # raw key
    assert res.eigenvalues.dtype == jnp.float32 and res.eigenvectors is None
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(hess)[::-1][:2], rtol=1e-4)


def test_hutchinson_trace_within_three_standard_errors(problem):
    loss_fn, params, hess = problem
    est, se = L.hessian_trace(loss_fn, params, jax.random.key(4), num_samples=300)
    assert 0 < float(se) < 2.0
    assert abs(float(est) - np.trace(hess)) <= 3 * float(se), (est, se, np.trace(hess))


def test_slq_weights_moments_and_exactness(problem):
    loss_fn, params, hess = problem
    n, ev = hess.shape[0], np.linalg.eigvalsh(hess)
    spec = L.hessian_spectrum(loss_fn, params, jax.random.key(5), order=8, num_runs=40)
    nodes, weights = np.asarray(spec.nodes), np.asarray(spec.weights)
    assert nodes.shape == weights.shape == (40, 8)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert nodes.min() >= ev[0] - 1e-9 and nodes.max() <= ev[-1] + 1e-9  # Ritz values interlace
    first = np.sum(weights * nodes, axis=1)  # per run v^T H v, unbiased for tr(H) / n
    se = first.std(ddof=1) / np.sqrt(first.size)
    assert abs(first.mean() - np.trace(hess) / n) <= 3 * se
    full = L.hessian_spectrum(loss_fn, params, jax.random.key(6), order=n, num_runs=2)
    np.testing.assert_allclose(np.sort(full.nodes, axis=1), np.stack([ev, ev]), atol=1e-9)
    grid = np.linspace(ev[0] - 1, ev[-1] + 1, 2001)
    sigma = 0.05
    density = np.asarray(L.spectral_density(spec.nodes, spec.weights, grid, sigma))
    gauss = np.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2)
    want = np.mean(np.sum(gauss * weights[None], axis=2), axis=1) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(density, want, rtol=1e-6, atol=1e-12)  # the grid holds the mass
    np.testing.assert_allclose(np.trapezoid(density, grid), 1.0, atol=1e-9)


def test_curvature_bad_input():
    loss_fn, params, _ = _mlp_problem()
    key = jax.random.key(0)
    cases = [
        (ValueError, "v must have the same tree", lambda: L.hvp(loss_fn, params, params["l1"])),
        (
            ValueError,
            "method must be",
            lambda: L.hessian_top_eigenvalues(loss_fn, params, key, method="arnoldi"),
        ),
        (
            ValueError,
            "k=40 eigenvalues",
            lambda: L.hessian_top_eigenvalues(loss_fn, params, key, k=40),
        ),
        (
            ValueError,
            "k must be a positive int",
            lambda: L.hessian_top_eigenvalues(loss_fn, params, key, k=0),
        ),
        (
            ValueError,
            "must return a scalar",
            lambda: L.hessian_trace(lambda p: p["l1"]["b"], params, key),
        ),
        (
            ValueError,
            "num_samples must be",
            lambda: L.hessian_trace(loss_fn, params, key, num_samples=0),
        ),
        (
            ValueError,
            "order=33 exceeds",
            lambda: L.hessian_spectrum(loss_fn, params, key, order=33),
        ),
        (
            ValueError,
            "one shape",
            lambda: L.spectral_density(
                jnp.ones((2, 3)), jnp.ones((2, 4)), jnp.linspace(0, 1, 5), 0.1
            ),
        ),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()


def _mlp_in(dtype):
    """The `_mlp_problem` MLP with parameters rounded to bfloat16, computed in `dtype`."""
    loss32, params32, _ = _mlp_problem()
    k = jax.random.split(jax.random.key(0), 6)
    x, y = jax.random.normal(k[3], (20, 3)), jax.random.normal(k[4], (20, 2))
    x, y = x.astype(jnp.bfloat16).astype(dtype), y.astype(jnp.bfloat16).astype(dtype)
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16).astype(dtype), params32)

    def loss_fn(p):
        h = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"][None, :])
        return jnp.mean((h @ p["l2"]["w"] + p["l2"]["b"][None, :] - y) ** 2)

    return loss_fn, params


def test_bfloat16_parameters_run_krylov_in_float32_within_bf16_accuracy():
    # The same point (bf16-representable weights and data) in float32 and in bfloat16.
    loss32, p32 = _mlp_in(jnp.float32)
    loss16, p16 = _mlp_in(jnp.bfloat16)
    assert jax.tree.leaves(p16)[0].dtype == jnp.bfloat16
    # Every HVP in bf16 carries a relative error of a few unit roundoffs
    # u = 2^-8 per operation (forward, backward and tangent passes, ~10 ops deep
    # here), and Lanczos / power / SLQ are backward stable in float32, so an
    # eigenvalue moves by at most ||E|| ~ c u ||H|| (Weyl): allow 16 u |lambda_max|.
    u = 2.0**-8
    want = L.hessian_top_eigenvalues(loss32, p32, jax.random.key(1), k=2, tol=1e-7)
    lam = float(want.eigenvalues[0])
    for method in ("lanczos", "power"):
        got = L.hessian_top_eigenvalues(
            loss16, p16, jax.random.key(1), k=1, method=method, num_iters=60, tol=1e-3,
            return_eigenvectors=True,
        )  # fmt: skip
        assert got.eigenvalues.dtype == jnp.float32
        assert jax.tree.leaves(got.eigenvectors)[0].dtype == jnp.float32
        assert abs(float(got.eigenvalues[0]) - lam) <= 16 * u * abs(lam), (method, got, lam)
    spec16 = L.hessian_spectrum(loss16, p16, jax.random.key(2), order=8, num_runs=4)
    spec32 = L.hessian_spectrum(loss32, p32, jax.random.key(2), order=8, num_runs=4)
    assert spec16.nodes.dtype == jnp.float32 and np.all(np.isfinite(spec16.nodes))
    # same start vectors, so the quadrature first moments v^T H v agree to the HVP error
    m16 = np.sum(np.asarray(spec16.weights * spec16.nodes), axis=1)
    m32 = np.sum(np.asarray(spec32.weights * spec32.nodes), axis=1)
    np.testing.assert_allclose(m16, m32, atol=16 * u * abs(lam))


def test_hessian_directions_are_dense_eigenvectors_normalized(x64):
    loss_fn, params, hess = _mlp_problem()
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    _, unravel = ravel_pytree(params)
    ev, vecs = np.linalg.eigh(hess)
    eig = L.hessian_top_eigenvalues(
        loss_fn, params, jax.random.key(0), k=2, tol=1e-10, return_eigenvectors=True
    )
    np.testing.assert_allclose(eig.eigenvalues, ev[::-1][:2], rtol=1e-8)
    raw = L.hessian_directions(
        loss_fn, params, jax.random.key(0), k=2, norm=None, ignore=None, tol=1e-10
    )
    filt = L.hessian_directions(loss_fn, params, jax.random.key(0), k=2, tol=1e-10)
    for i in range(2):
        u = vecs[:, -1 - i]
        u = u * np.sign(u[np.argmax(np.abs(u))])  # the documented sign convention
        np.testing.assert_allclose(_flat(raw[i]), u, atol=1e-7)
        want = L.normalize_direction(unravel(jnp.asarray(u)), params, "filter", "biasbn")
        np.testing.assert_allclose(_flat(filt[i]), _flat(want), atol=1e-6)
        assert jax.tree.structure(filt[i]) == jax.tree.structure(params)
        assert np.all(_flat(filt[i]["l1"]["b"]) == 0)  # biases ignored, as random_direction
        # filter-normalized: every filter (column) has the norm of the parameter's column
        np.testing.assert_allclose(
            np.linalg.norm(filt[i]["l1"]["w"], axis=0),
            np.linalg.norm(params["l1"]["w"], axis=0),
            rtol=1e-10,
        )


def test_lanczos_memory_stays_within_the_documented_bound():
    # (m + 25) n b + 8 m^2 b + 2 hvp_bytes (module docstring: the m-row basis, the 17-row
    # first stage of the staged basis and a few vectors), read off the compiled
    # programs' memory_analysis() for two Krylov dimensions (no wall clock).
    from jaxnn._engine import ById
    from jaxnn.landscape.curvature import _top_eigen

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 20)), jnp.float32)
    params = {
        "w1": jnp.asarray(rng.normal(size=(20, 64)), jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(64, 1)), jnp.float32),
    }
    loss = lambda p: jnp.mean(jnp.tanh(x @ p["w1"]) @ p["w2"])
    n, b = 20 * 64 + 64, 4
    hvp = jax.jit(lambda p, v: L.hvp(loss, p, v)).lower(params, params).compile()
    hvp_bytes = hvp.memory_analysis().temp_size_in_bytes
    temps = {}
    for m in (16, 40, 64):
        compiled = _top_eigen.lower(
            params, jax.random.key(0), 1e-6, loss_fn=ById(loss), k=1, num_iters=m,
            method="lanczos",
        ).compile()  # fmt: skip
        temps[m] = compiled.memory_analysis().temp_size_in_bytes
        assert m * n * b <= temps[m] <= (m + 25) * n * b + 8 * m * m * b + 2 * hvp_bytes
    # each extra Krylov vector costs one vector (plus the small tridiagonal), not more
    assert temps[64] - temps[40] <= 24 * (n * b + 16 * 64 * b)


def test_hessian_directions_normalize_along_the_given_filter_axis():
    """With `filter_axis=0` (an `(out, in)` kernel) each row of the direction has the norm of
    the same row of the weights; with the default -1, each column."""
    w = jax.random.normal(jax.random.key(0), (3, 5))
    params = {"w": w}
    loss_fn = lambda p: jnp.sum(jnp.tanh(p["w"]) ** 2) + 0.1 * jnp.sum(p["w"] ** 4)
    key = jax.random.key(1)
    (rows,) = L.hessian_directions(loss_fn, params, key, k=1, filter_axis=0, num_iters=15)
    (cols,) = L.hessian_directions(loss_fn, params, key, k=1, num_iters=15)
    np.testing.assert_allclose(
        jnp.linalg.norm(rows["w"], axis=1), jnp.linalg.norm(w, axis=1), rtol=1e-5
    )
    np.testing.assert_allclose(
        jnp.linalg.norm(cols["w"], axis=0), jnp.linalg.norm(w, axis=0), rtol=1e-5
    )
