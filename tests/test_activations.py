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
from jaxnn.gradcheck import numerical_grad

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


# Each test compiles one program for all it computes: op-by-op execution would
# compile every primitive for every new shape, which dominates the run time.
@jax.jit
def _all(x):
    """Every activation of REFERENCES evaluated at `x`, by name."""
    return {name: fn(x) for name, (fn, _) in REFERENCES.items()}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_reference(name):
    x = X.reshape(7, 7)
    expected = REFERENCES[name][1](x.astype(np.float64))
    np.testing.assert_allclose(_all(x)[name], expected, rtol=1e-5, atol=1e-6)


def test_gelu_matches_jax_nn_in_both_forms():
    y = _all(X)
    exact, tanh_form = jax.jit(lambda x: (jax.nn.gelu(x, False), jax.nn.gelu(x, True)))(X)
    np.testing.assert_allclose(y["gelu"], exact, atol=1e-6)
    np.testing.assert_allclose(y["gelu_tanh"], tanh_form, atol=1e-6)


@pytest.mark.parametrize("big", [1e4, 1e30, 1e38])
def test_stable_for_large_inputs(big):
    y = _all(np.array([-big, -1.0, 0.0, 1.0, big], np.float32))
    for name, value in y.items():
        assert not np.any(np.isnan(value)), name
        # log_softmax(-big) is about -2 big / T, which may round to -inf (correctly).
        assert name.startswith("log_softmax") or np.all(np.isfinite(value)), name
    np.testing.assert_allclose(y["sigmoid"][::4], [0.0, 1.0])
    np.testing.assert_allclose(y["tanh"][::4], [-1.0, 1.0])
    np.testing.assert_allclose(y["gelu"][::4], [0.0, big], rtol=1e-6)
    np.testing.assert_allclose(y["softmax"], [0, 0, 0, 0, 1], atol=1e-30)
    np.testing.assert_allclose(y["log_softmax"][-1], 0.0)
    np.testing.assert_allclose(_all(np.array([big, big], np.float32))["softmax"], [0.5, 0.5])


def test_gradients_finite_for_large_inputs():
    x = np.array([-1e4, -50.0, 0.5, 50.0, 1e4], np.float32)
    w = np.arange(5.0, dtype=np.float32)
    grads = jax.jit(jax.grad(lambda x: sum(jnp.sum(y * w) for y in _all(x).values())))(x)
    assert np.all(np.isfinite(grads)), grads
    for name in ("sigmoid", "tanh", "gelu", "softmax", "log_softmax"):
        fn = REFERENCES[name][0]
        g = jax.jit(jax.grad(lambda x, fn=fn: jnp.sum(fn(x) * w)))(x)
        assert np.all(np.isfinite(g)), (name, g)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradients_match_centered_differences(name, x64):
    fn, _ = REFERENCES[name]
    x = X[1::2].reshape(4, 6).astype(np.float64)  # avoids the kinks at 0
    w = np.random.default_rng(1).standard_normal(x.shape)
    f = lambda x: jnp.sum(fn(x) * w)
    analytic, numeric = jax.jit(lambda x: (jax.grad(f)(x), numerical_grad(f, x)))(x)
    assert analytic.dtype == jnp.float64
    chex.assert_trees_all_close(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_relu_family_derivative_at_zero_and_slope():
    grads = jax.jit(jax.grad(lambda x: A.relu(x[0]) + A.leaky_relu(x[1], 0.3)))
    np.testing.assert_allclose(grads(np.array([0.0, -1.0], np.float32)), [0.0, 0.3], rtol=1e-6)


def test_softmax_temperature_is_traceable_and_vmappable():
    temps = np.array([1e-3, 0.5, 1.0, 4.0, 1e6], np.float32)
    batched = jax.jit(jax.vmap(lambda t: A.softmax(X[:5], temperature=t)))(temps)
    for row, t in zip(batched[1:-1], temps[1:-1], strict=True):
        np.testing.assert_allclose(row, scipy.special.softmax(X[:5] / t), rtol=1e-5, atol=1e-7)
    # Low temperature tends to argmax, high to uniform.
    np.testing.assert_allclose(batched[0], [0, 0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(batched[-1], np.full(5, 0.2), atol=1e-5)


def test_softmax_axis():
    x = X[:12].reshape(3, 4)
    y = jax.jit(lambda x: (A.softmax(x, axis=0), A.log_softmax(x, axis=0)))(x)
    np.testing.assert_allclose(y[0], scipy.special.softmax(x, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y[1], scipy.special.log_softmax(x, axis=0), rtol=1e-5, atol=1e-6)


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
