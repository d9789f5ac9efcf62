"""convexity_map, sharpness, connect, plane_through and basin statistics vs closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import landscape

B = jax.random.normal(jax.random.key(3), (5, 5))


def _field(p):  # a non-convex function whose Hessian field changes over the plane
    w = jnp.concatenate([p["a"], p["b"]])
    return jnp.sum(jnp.sin(B @ w)) + 0.1 * jnp.sum(w**2) ** 2


def test_convexity_map_equals_dense_hessian_eigenvalues():
    params = {"a": jnp.array([0.3, -0.2, 0.1]), "b": jnp.array([0.5, -0.4])}
    dx = {"a": jnp.array([1.0, 0.0, 0.5]), "b": jnp.array([0.0, 0.3])}
    dy = {"a": jnp.array([0.0, 1.0, 0.0]), "b": jnp.array([-0.5, 0.2])}
    xs, ys = jnp.linspace(-1, 1, 4), jnp.linspace(-0.5, 1.0, 3)
    out = landscape.convexity_map(_field, params, dx, dy, xs, ys, num_iters=5,
                                  return_eigenvalues=True, chunk_size=5)  # fmt: skip
    assert out.ratio.shape == (3, 4)
    flat = lambda w: _field({"a": w[:3], "b": w[3:]})
    gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
    w0, ux, uy = (jnp.concatenate([t["a"], t["b"]]) for t in (params, dx, dy))
    ws = w0[None] + gx.reshape(-1, 1) * ux[None] + gy.reshape(-1, 1) * uy[None]
    hess = np.asarray(
        jax.jit(jax.vmap(jax.hessian(flat)))(jnp.asarray(ws, jnp.float32)), np.float64
    )
    ev = np.linalg.eigvalsh(hess).reshape(3, 4, 5)
    scale = np.abs(ev).max(axis=-1)
    # 5 Lanczos steps on a 5 x 5 Hessian: the whole Krylov space, so float32 rounding only
    assert np.all(np.abs(out.lambda_min - ev[..., 0]) <= 1e-4 * scale)
    assert np.all(np.abs(out.lambda_max - ev[..., -1]) <= 1e-4 * scale)
    np.testing.assert_allclose(out.ratio, np.abs(ev[..., 0] / ev[..., -1]), rtol=1e-3)
    assert np.any(np.asarray(out.lambda_min) < 0)  # the field is really non-convex somewhere


def test_sharpness_matches_the_box_maximum_of_a_quadratic():
    a = jnp.array([1.0, 3.0, 0.5, 2.0])
    m = jnp.array([0.2, -1.0, 0.0, 0.5])
    theta = jnp.array([0.5, -0.5, 1.0, 0.5])  # the last coordinate sits at its minimum
    f = lambda w: 0.5 * jnp.sum(a * (w - m) ** 2)
    eps = 0.05
    r = eps * (np.abs(theta) + 1)
    fmax = 0.5 * np.sum(a * (np.abs(theta - m) + r) ** 2)  # separable: the far vertex
    f0 = float(f(theta))
    want = 100 * (fmax - f0) / (1 + f0)
    info = landscape.sharpness(f, theta, epsilon=eps, return_info=True)
    np.testing.assert_allclose(info.sharpness, want, rtol=1e-5)
    np.testing.assert_allclose(np.abs(info.perturbation), r, rtol=1e-6)
    vmapped = jax.vmap(lambda e: landscape.sharpness(f, theta, epsilon=e))(jnp.array([eps, 0.1]))
    np.testing.assert_allclose(vmapped[0], want, rtol=1e-5)
    assert vmapped[1] > vmapped[0]


def _two_minima(p):  # minima at (+-1, 0); the segment crosses a ridge of height 1 at (0, 0)
    x, y = p["w"][0], p["w"][1]
    return (x**2 + y**2 - 1) ** 2 + 0.5 * y**2 - 0.4 * y * (1 - x**2)


def test_connect_bends_around_the_ridge_to_the_brute_force_best_bend():
    a, b = {"w": jnp.array([-1.0, 0.0])}, {"w": jnp.array([1.0, 0.0])}
    res = landscape.connect(_two_minima, a, b, num_steps=600, learning_rate=0.02, num_samples=16)
    # reference: the objective E_t f(phi(t)) on a grid of bends, t integrated by the midpoint rule
    ts = (np.arange(200) + 0.5) / 200
    hx, hy = np.meshgrid(np.linspace(-0.5, 0.5, 41), np.linspace(0.0, 2.5, 101))
    px = (
        (1 - ts[:, None, None]) ** 2 * -1
        + 2 * ts[:, None, None] * (1 - ts[:, None, None]) * hx
        + ts[:, None, None] ** 2
    )
    py = 2 * ts[:, None, None] * (1 - ts[:, None, None]) * hy
    obj = ((px**2 + py**2 - 1) ** 2 + 0.5 * py**2 - 0.4 * py * (1 - px**2)).mean(axis=0)
    k = np.unravel_index(np.argmin(obj), obj.shape)
    bend = np.asarray(res.bend["w"])
    assert abs(bend[1] - hy[k]) < 0.1 and abs(bend[0] - hx[k]) < 0.1, (bend, hx[k], hy[k])
    assert float(res.line_loss.max()) == pytest.approx(1.0, abs=1e-3)  # f(0, 0) = 1
    assert float(res.curve_loss.max()) < 0.3  # the curve goes around the ridge
    np.testing.assert_allclose(np.asarray(res.curve_loss)[[0, -1]], 0.0, atol=1e-6)


def test_polychain_and_curve_point_end_points():
    a, b = {"w": jnp.array([-1.0, 0.0])}, {"w": jnp.array([1.0, 0.0])}
    bend = {"w": jnp.array([0.0, 1.0])}
    for kind in ("bezier", "polychain"):
        np.testing.assert_allclose(landscape.curve_point(a, b, bend, 0.0, kind)["w"], a["w"])
        np.testing.assert_allclose(landscape.curve_point(a, b, bend, 1.0, kind)["w"], b["w"])
    np.testing.assert_allclose(landscape.curve_point(a, b, bend, 0.5, "polychain")["w"], bend["w"])
    np.testing.assert_allclose(landscape.curve_point(a, b, bend, 0.5, "bezier")["w"], [0.0, 0.5])


def test_plane_through_three_points_is_orthonormal_and_contains_them():
    keys = jax.random.split(jax.random.key(5), 3)
    pts = [{"k": jax.random.normal(k, (3, 2)), "b": jax.random.normal(k, (2,))} for k in keys]
    plane = landscape.plane_through(*pts)
    flat = lambda t: jnp.concatenate([t["b"].ravel(), t["k"].ravel()])
    u, v = flat(plane.dx), flat(plane.dy)
    np.testing.assert_allclose([u @ u, v @ v, u @ v], [1.0, 1.0, 0.0], atol=1e-6)
    for (x, y), p in zip(np.asarray(plane.coords), pts, strict=True):
        back = jax.tree.map(
            lambda o, d, e, x=x, y=y: o + x * d + y * e, plane.origin, plane.dx, plane.dy
        )
        np.testing.assert_allclose(flat(back), flat(p), atol=1e-5)
    with pytest.raises(ValueError, match="collinear"):
        landscape.plane_through(pts[0], pts[1], pts[1])


def test_basin_width_closed_forms():
    xs = np.linspace(-2, 2, 401)
    w = landscape.basin_width(xs**2, xs, rise=0.25)
    assert w.width == pytest.approx(1.0, abs=1e-4) and not w.reaches_edge  # 2 sqrt(rise)
    assert landscape.basin_width(3 * xs**2, xs, rise=0.75).width == pytest.approx(1.0, abs=1e-4)
    g = np.linspace(-2, 2, 161)
    gx, gy = np.meshgrid(g, g)
    w2 = landscape.basin_width(gx**2 + 4 * gy**2, g, g, rise=1.0)  # ellipse, semi-axes 1, 1/2
    h = g[1] - g[0]
    assert w2.area == pytest.approx(np.pi / 2, abs=4 * h)  # area pi a b; error ~ perimeter * h
    assert w2.width == pytest.approx(2 * np.sqrt(0.5), abs=4 * h)
    assert landscape.basin_width(gx**2, g, g, rise=1.0).reaches_edge  # a valley along y


def test_count_local_minima_closed_forms():
    x = np.linspace(-np.pi, np.pi, 301)
    assert landscape.count_local_minima(np.cos(3 * x)) == 4  # -pi, -pi/3, pi/3, pi
    g = np.linspace(-2 * np.pi + 0.3, 2 * np.pi - 0.3, 121)
    gx, gy = np.meshgrid(g, g)
    z = np.cos(gx) + np.cos(gy)  # minima at (+-pi, +-pi)
    assert landscape.count_local_minima(z) == 4
    noisy = z + 0.01 * np.random.default_rng(0).standard_normal(z.shape)
    assert landscape.count_local_minima(noisy) > 4  # noise makes many shallow minima
    assert landscape.count_local_minima(noisy, persistence=0.1) == 4  # barriers between: 2
    assert landscape.count_local_minima(gx**2 + gy**2) == 1
