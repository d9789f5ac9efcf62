"""Tests for jaxnn.activations: values against scipy/numpy closed forms, stability
for large inputs, centered-difference gradients in float64, jit == no-jit."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxnn import activations as A

X = np.linspace(-6.0, 6.0, 49).astype(np.float32)
# Reference implementations (numpy/scipy, float64), one per activation.
REFERENCES = {
    "sigmoid": (A.sigmoid, scipy.special.expit),
    "tanh": (A.tanh, np.tanh),
    "relu": (A.relu, lambda x: np.maximum(x, 0.0)),
    "leaky_relu": (lambda x: A.leaky_relu(x, 0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "gelu": (A.gelu, lambda x: 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))),
    "gelu_tanh": (
        lambda x: A.gelu(x, approximate=True),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    ),
    "softmax": (A.softmax, lambda x: scipy.special.softmax(x, axis=-1)),
    "softmax_T3": (
        lambda x: A.softmax(x, temperature=3.0),
        lambda x: scipy.special.softmax(x / 3.0, axis=-1),
    ),
    "log_softmax": (A.log_softmax, lambda x: scipy.special.log_softmax(x, axis=-1)),
    "log_softmax_T0.5": (
        lambda x: A.log_softmax(x, temperature=0.5),
        lambda x: scipy.special.log_softmax(x / 0.5, axis=-1),
    ),
}


def _numerical_grad(f, x, eps=1e-6):
    """Centered differences `(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)` of a scalar f."""
    flat = x.reshape(-1)
    basis = jnp.eye(flat.size, dtype=flat.dtype) * eps

    def partial(e):
        return (f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) / (2 * eps)

    return jax.vmap(partial)(basis).reshape(x.shape)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_reference(name):
    fn, ref = REFERENCES[name]
    x = X.reshape(7, 7)
    np.testing.assert_allclose(fn(jnp.asarray(x)), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_gelu_matches_jax_nn_in_both_forms():
    x = jnp.asarray(X)
    chex.assert_trees_all_close(A.gelu(x), jax.nn.gelu(x, approximate=False), atol=1e-6)
    chex.assert_trees_all_close(A.gelu(x, approximate=True), jax.nn.gelu(x), atol=1e-6)


@pytest.mark.parametrize("big", [1e4, 1e30, 1e38])
def test_stable_for_large_inputs(big):
    x = jnp.array([-big, -1.0, 0.0, 1.0, big], jnp.float32)
    for name, (fn, _) in REFERENCES.items():
        y = fn(x)
        assert not jnp.any(jnp.isnan(y)), name
        # log_softmax(-big) is about -2 big / T, which may round to -inf (correctly).
        assert name.startswith("log_softmax") or jnp.all(jnp.isfinite(y)), name
    np.testing.assert_allclose(A.sigmoid(x)[::4], [0.0, 1.0])
    np.testing.assert_allclose(A.tanh(x)[::4], [-1.0, 1.0])
    np.testing.assert_allclose(A.gelu(x)[::4], [0.0, big], rtol=1e-6)
    np.testing.assert_allclose(A.softmax(x), [0, 0, 0, 0, 1], atol=1e-30)
    np.testing.assert_allclose(A.log_softmax(x)[-1], 0.0)
    np.testing.assert_allclose(A.softmax(jnp.array([big, big])), [0.5, 0.5])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "softmax", "log_softmax"])
def test_gradients_finite_for_large_inputs(name):
    fn, _ = REFERENCES[name]
    x = jnp.array([-1e4, -50.0, 0.5, 50.0, 1e4], jnp.float32)
    g = jax.grad(lambda x: jnp.sum(fn(x) * jnp.arange(5.0)))(x)
    assert jnp.all(jnp.isfinite(g)), g


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradients_match_centered_differences(name, x64):
    fn, _ = REFERENCES[name]
    x = jnp.asarray(X[1::2].reshape(4, 6), jnp.float64)  # avoids the kinks at 0
    w = jax.random.normal(jax.random.key(1), x.shape, jnp.float64)
    f = lambda x: jnp.sum(fn(x) * w)
    analytic = jax.grad(f)(x)
    assert analytic.dtype == jnp.float64
    chex.assert_trees_all_close(analytic, _numerical_grad(f, x), rtol=1e-6, atol=1e-8)


def test_relu_family_derivative_at_zero_and_slope():
    zero = jnp.zeros(())
    assert jax.grad(A.relu)(zero) == 0.0
    assert jax.grad(lambda x: A.leaky_relu(x, 0.3))(-jnp.ones(())) == pytest.approx(0.3)


def test_softmax_temperature_is_traceable_and_vmappable():
    x = jnp.asarray(X[:5])
    temps = jnp.array([0.5, 1.0, 4.0])
    batched = jax.vmap(lambda t: A.softmax(x, temperature=t))(temps)
    for row, t in zip(batched, [0.5, 1.0, 4.0], strict=True):
        chex.assert_trees_all_close(row, jax.nn.softmax(x / t), atol=1e-6)
    # Low temperature tends to argmax, high to uniform.
    assert A.softmax(x, temperature=1e-3)[-1] == pytest.approx(1.0)
    chex.assert_trees_all_close(A.softmax(x, temperature=1e6), jnp.full(5, 0.2), atol=1e-5)


def test_softmax_axis():
    x = jnp.asarray(X[:12].reshape(3, 4))
    chex.assert_trees_all_close(A.softmax(x, axis=0), jax.nn.softmax(x, axis=0), atol=1e-6)
    chex.assert_trees_all_close(A.log_softmax(x, axis=0), jax.nn.log_softmax(x, axis=0), atol=1e-5)


@given(
    hnp.arrays(np.float32, (3, 5), elements=st.floats(-1e3, 1e3, width=32)),
    st.floats(-1e3, 1e3, width=32),
)
def test_softmax_properties(x, shift):
    p = A.softmax(jnp.asarray(x))
    assert jnp.all(p >= 0)
    np.testing.assert_allclose(jnp.sum(p, axis=-1), 1.0, rtol=1e-5)
    # Shift invariance (up to the float32 rounding of x + shift).
    np.testing.assert_allclose(A.softmax(jnp.asarray(x) + shift), p, atol=1e-3)
    np.testing.assert_allclose(jnp.exp(A.log_softmax(jnp.asarray(x))), p, atol=1e-6)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_and_no_jit_agree(self):
        x = jnp.asarray(X.reshape(7, 7))
        for name, (fn, ref) in REFERENCES.items():
            y = self.variant(fn)(x)
            np.testing.assert_allclose(y, ref(np.asarray(x, np.float64)), rtol=1e-5, atol=1e-6)
            chex.assert_trees_all_close(y, fn(x), rtol=1e-6, atol=1e-6, custom_message=name)
