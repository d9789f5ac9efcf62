"""Tests for jaxnn.initializers: variances against their formulas (statistically),
fans for Dense and Conv kernels, bounds, and equality with jax.nn.initializers.

Statistical tolerance: every shape below has n >= 2**16 entries. The sample
variance of n draws has relative standard deviation sqrt((kurtosis - 1) / n),
at most sqrt(2 / n) < 0.0056 here (normal: kurtosis 3; truncated normal and
uniform are lighter-tailed), so `rtol=0.03` is more than 5 standard
deviations; the sample mean is checked within 5 standard errors.
"""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers as I
from jaxnn import layers as L

# Kernels: Dense (in, out); Conv 1-D WIO; Conv 2-D HWIO.
SHAPES = {
    "dense": (512, 256),
    "conv1d": (5, 64, 256),
    "conv2d": (3, 3, 96, 128),
}
FANS = {  # (fan_in, fan_out) = (receptive * in, receptive * out), written out by hand
    "dense": (512, 256),
    "conv1d": (5 * 64, 5 * 256),
    "conv2d": (9 * 96, 9 * 128),
}
VARIANCES = {
    "glorot_uniform": lambda fi, fo: 2 / (fi + fo),
    "glorot_normal": lambda fi, fo: 2 / (fi + fo),
    "he_uniform": lambda fi, fo: 2 / fi,
    "he_normal": lambda fi, fo: 2 / fi,
    "lecun_normal": lambda fi, fo: 1 / fi,
}
RTOL = 0.03
TRUNCATED_STDDEV = 0.87962566103423978


# Each test compiles one program for all it draws: op-by-op execution would compile
# every primitive of the samplers for every new shape, which dominates the run time.
@functools.cache
def _draws(name):
    """Draws of initializer `name` for every kernel in SHAPES (float64 copies)."""
    init = getattr(I, name)()
    draws = jax.jit(lambda key: {k: init(key, shape) for k, shape in SHAPES.items()})
    return {k: np.asarray(w, np.float64) for k, w in draws(jax.random.key(3)).items()}


@pytest.mark.parametrize("kernel", sorted(SHAPES))
@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_variance_matches_formula(name, kernel):
    w = _draws(name)[kernel]
    (fan_in, fan_out), expected_shape = FANS[kernel], SHAPES[kernel]
    expected = VARIANCES[name](fan_in, fan_out)
    assert w.shape == expected_shape
    np.testing.assert_allclose(w.var(), expected, rtol=RTOL)
    assert abs(w.mean()) < 5 * math.sqrt(expected / w.size)
    bound = math.sqrt(3 * expected)  # uniform: U(-a, a) with a^2 / 3 = Var
    if name.endswith("_normal"):  # truncated at two (pre-correction) standard deviations
        bound = 2 * math.sqrt(expected) / TRUNCATED_STDDEV
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() >= 0.99 * bound  # the bound is the right one, not a loose one


@pytest.mark.parametrize("name", sorted(VARIANCES) + ["normal"])
def test_equals_jax_nn_initializers(name):
    ours = I.normal(0.3) if name == "normal" else getattr(I, name)()
    theirs = getattr(jax.nn.initializers, name)(*([0.3] if name == "normal" else []))
    cases = [(SHAPES["dense"], jnp.bfloat16), (SHAPES["conv2d"], jnp.float32)]
    both = jax.jit(lambda k: [(ours(k, s, d), theirs(k, s, d)) for s, d in cases])
    for a, b in both(jax.random.key(7)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_normal_stddev():
    w = np.asarray(jax.jit(lambda k: I.normal(0.25)(k, (256, 256)))(jax.random.key(0)))
    np.testing.assert_allclose(w.std(), 0.25, rtol=RTOL)
    assert np.abs(w).max() > 2 * 0.25  # untruncated: tails beyond two stddevs occur


def test_zeros_and_ones():
    key = jax.random.key(0)
    np.testing.assert_array_equal(I.zeros(key, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.ones(key, (4,)), np.ones(4))
    assert I.zeros(key, (2,), jnp.bfloat16).dtype == jnp.bfloat16


def test_dtype_float64(x64):
    draw = lambda k: (I.he_normal()(k, (8, 4), jnp.float64), I.glorot_uniform()(k, (8, 4)))
    w64, default = jax.jit(draw)(jax.random.key(0))
    assert w64.dtype == jnp.float64
    assert default.dtype == jnp.float32  # the default dtype


def test_raw_and_typed_keys_agree_and_are_deterministic():
    draw = jax.jit(lambda k: I.glorot_normal()(k, (6, 7)))
    typed = draw(jax.random.key(5))
    np.testing.assert_array_equal(typed, draw(jax.random.PRNGKey(5)))
    np.testing.assert_array_equal(typed, draw(jax.random.key(5)))
    assert not np.array_equal(typed, draw(jax.random.key(6)))


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_one_dimensional_shape_raises(name):
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        getattr(I, name)()(jax.random.key(0), (5,))


@pytest.mark.parametrize(
    "layer, input_shape, fan_in",
    [
        (L.Dense(256), (-1, 512), 512),
        (L.Conv(128, (3, 3)), (-1, 8, 8, 96), 9 * 96),
        (L.Conv(256, 5), (-1, 16, 64), 5 * 64),
    ],
)
def test_layer_default_init_is_he_normal_with_zero_bias(layer, input_shape, fan_in):
    params = jax.jit(lambda k: layer.init(k, input_shape)[1])(jax.random.key(0))
    np.testing.assert_allclose(np.var(params["w"]), 2 / fan_in, rtol=RTOL)
    np.testing.assert_array_equal(params["b"], 0.0)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_and_no_jit_agree(self):
        inits = [getattr(I, name)() for name in sorted(VARIANCES)]
        draw_all = lambda key: [init(key, (16, 8)) for init in inits]
        key = jax.random.key(1)
        chex.assert_trees_all_close(self.variant(draw_all)(key), draw_all(key), rtol=1e-6)
