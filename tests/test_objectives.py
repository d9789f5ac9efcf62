"""Tests for jaxnn.objectives: known minima, gradients, Hessians and spectra."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import objectives, train

ALL_2D = {
    "rosenbrock": objectives.rosenbrock,
    "beale": objectives.beale,
    "branin": objectives.branin,
    "ravine": objectives.ravine,
    "saddle": objectives.saddle,
    "cliff": objectives.cliff,
    "quadratic": lambda: objectives.quadratic(jnp.asarray([[3.0, 1.0], [1.0, 2.0]])),
}


def _minimisers(obj):
    return np.atleast_2d(np.asarray(obj.argmin))


@pytest.mark.parametrize("name", sorted(ALL_2D))
def test_gradient_vanishes_and_value_matches_at_argmin(name, x64):
    obj = ALL_2D[name]()
    assert obj.name == name
    assert obj.x0.shape == (2,) and obj.x0.dtype == jnp.float64
    for point in _minimisers(obj):
        point = jnp.asarray(point)
        np.testing.assert_allclose(obj.fn(point), obj.min_value, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jax.grad(obj.fn)(point), 0.0, atol=1e-9)
        # A minimum, not a saddle: the Hessian is positive semi-definite there.
        assert np.linalg.eigvalsh(np.asarray(jax.hessian(obj.fn)(point)))[0] >= -1e-9
    # The start is not already optimal.
    assert float(obj.fn(obj.x0)) > obj.min_value + 1e-3


def test_deepobs_starting_points_and_known_values():
    np.testing.assert_allclose(objectives.rosenbrock().x0, [-0.5, 1.5])
    np.testing.assert_allclose(objectives.beale().x0, [-4.5, 4.5])
    np.testing.assert_allclose(objectives.branin().x0, [2.5, 12.5])
    assert objectives.branin().min_value == pytest.approx(0.397887, abs=1e-6)
    assert objectives.branin().argmin.shape == (3, 2)
    np.testing.assert_allclose(objectives.rosenbrock().argmin, [1.0, 1.0])
    np.testing.assert_allclose(objectives.beale().argmin, [3.0, 0.5])


def test_minimum_is_global_on_a_grid(x64):
    """No grid point is below min_value (the listed minima are global)."""
    for name, make in ALL_2D.items():
        obj = make()
        centre = _minimisers(obj).mean(0)
        xs = centre[0] + jnp.linspace(-6, 6, 121)
        ys = centre[1] + jnp.linspace(-6, 6, 121)
        grid = jnp.stack(jnp.meshgrid(xs, ys))  # (2, 121, 121): 2-D fns broadcast
        values = obj.fn(grid)
        assert values.shape == (121, 121), name
        assert float(values.min()) >= obj.min_value - 1e-9, name


def test_saddle_hessian_at_origin(x64):
    obj = objectives.saddle()
    H = jax.hessian(obj.fn)(jnp.zeros(2))
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.asarray(H))), [-2.0, 2.0])
    np.testing.assert_allclose(jax.grad(obj.fn)(jnp.zeros(2)), 0.0)
    np.testing.assert_allclose(obj.argmin, [[0.0, math.sqrt(2)], [0.0, -math.sqrt(2)]])


def test_ravine_condition_number_and_traced_condition(x64):
    obj = objectives.ravine(condition=100.0, angle=0.3)
    eig = np.linalg.eigvalsh(np.asarray(jax.hessian(obj.fn)(obj.x0)))
    np.testing.assert_allclose(eig, [1.0, 100.0], rtol=1e-10)
    # `condition` may be a traced scalar: vmap over it.
    values = jax.vmap(lambda c: objectives.ravine(c).fn(jnp.asarray([0.0, 1.0])))(
        jnp.asarray([10.0, 100.0])
    )
    np.testing.assert_allclose(values, [5.0, 50.0])


def test_quadratic_rejects_bad_hessians():
    with pytest.raises(ValueError, match="positive definite"):
        objectives.quadratic(jnp.diag(jnp.asarray([1.0, -1.0])))
    with pytest.raises(ValueError, match="symmetric"):
        objectives.quadratic(jnp.asarray([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        objectives.quadratic(jnp.ones((2, 3)))


def test_cliff_gradient_explodes_on_the_wall_and_clipping_helps():
    obj = objectives.cliff()
    wall = jnp.asarray([1.0, 0.0])
    assert float(jnp.linalg.norm(jax.grad(obj.fn)(wall))) > 100.0
    assert float(jnp.linalg.norm(jax.grad(obj.fn)(obj.x0))) < 5.0
    # Plain GD takes one huge step on the wall and is thrown across the origin;
    # clipped GD walks down the cliff in steps of at most lr * clip = 0.1.
    _, plain = train.optimize(obj.fn, optax.sgd(0.1), obj.x0, 60)
    clipped_opt = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1))
    _, clipped = train.optimize(obj.fn, clipped_opt, obj.x0, 60)
    plain_steps = jnp.linalg.norm(jnp.diff(plain["params"], axis=0), axis=1)
    clipped_steps = jnp.linalg.norm(jnp.diff(clipped["params"], axis=0), axis=1)
    assert float(plain_steps.max()) > 2.0
    assert float(clipped_steps.max()) <= 0.1 + 1e-6
    assert float(jnp.min(plain["params"][:, 0])) < -1.0
    assert float(jnp.min(clipped["params"][:, 0])) > -0.5
    assert float(plain["grad_norm"].max()) > 20.0


def test_quadratic_deep_spectrum_and_determinism(x64):
    key = jax.random.key(3)
    obj = objectives.quadratic_deep(key)
    assert obj.x0.shape == (100,)
    np.testing.assert_allclose(obj.x0, 1.0)
    H = np.asarray(jax.hessian(obj.fn)(obj.x0))
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    eig = np.sort(np.linalg.eigvalsh(H))
    assert np.all((eig[:90] > 0.0) & (eig[:90] < 1.0))
    assert np.all((eig[90:] > 30.0) & (eig[90:] < 60.0))
    np.testing.assert_allclose(obj.fn(obj.argmin), 0.0)
    np.testing.assert_allclose(jax.grad(obj.fn)(obj.argmin), 0.0)
    again = objectives.quadratic_deep(key)
    chex.assert_trees_all_equal(obj.fn(obj.x0), again.fn(again.x0))
    other = objectives.quadratic_deep(jax.random.key(4))
    assert float(other.fn(obj.x0)) != float(obj.fn(obj.x0))


def test_quadratic_deep_accepts_raw_uint32_keys():
    obj = objectives.quadratic_deep(jax.random.PRNGKey(0))
    assert np.isfinite(float(obj.fn(obj.x0)))


@pytest.mark.parametrize("name", ["rosenbrock", "branin"])
def test_adam_reaches_a_minimum_from_the_deepobs_start(name, x64):
    # (Not beale: from DeepOBS's start (-4.5, 4.5) Adam settles in the flat
    # valley near (-1.7, 1.4), loss ~1.1, for learning rates 1e-2 .. 0.3.)
    obj = ALL_2D[name]()
    x, hist = train.optimize(obj.fn, optax.adam(0.05), obj.x0, 3000)
    assert hist["loss"][-1] < hist["loss"][0]
    gap = float(obj.fn(x)) - obj.min_value
    assert gap < 1e-2, (name, gap, x)
