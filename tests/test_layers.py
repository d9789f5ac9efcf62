"""Tests for jaxnn.layers: declared vs real output shapes, forward values against
flax.linen, Dropout statistics, centered-difference gradients in float64, jit ==
no-jit, and the errors raised for bad input."""

import functools
import re

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxnn import layers as L

KEY = jax.random.key(0)

# (id, layer, input_shape); -1 is an unknown batch size.
SHAPE_CASES = [
    ("dense", L.Dense(5), (-1, 3)),
    ("dense_3d_input", L.Dense(5), (2, 4, 3)),
    ("conv1d_same", L.Conv(4, 3), (-1, 10, 2)),
    ("conv1d_valid_s2", L.Conv(4, (3,), strides=2, padding="VALID"), (2, 11, 2)),
    ("conv2d_same_s2", L.Conv(4, (3, 3), strides=2), (2, 9, 7, 3)),
    ("conv2d_valid_s21", L.Conv(4, (2, 3), strides=(2, 1), padding="VALID"), (-1, 8, 9, 3)),
    ("conv3d", L.Conv(2, (2, 2, 2), padding="VALID"), (1, 4, 3, 4, 1)),
    ("maxpool1d", L.MaxPool(2), (2, 9, 3)),
    ("maxpool2d_valid", L.MaxPool((2, 2)), (-1, 7, 8, 3)),
    ("maxpool2d_same_s2", L.MaxPool((3, 3), strides=2, padding="SAME"), (2, 9, 10, 3)),
    ("avgpool2d_same_s1", L.AvgPool((2, 2), strides=1, padding="SAME"), (2, 5, 6, 2)),
    ("avgpool1d_s2", L.AvgPool(3, strides=2), (-1, 10, 2)),
    ("flatten", L.Flatten, (-1, 4, 5, 3)),
    ("identity", L.Identity, (3, 7)),
    ("relu", L.Relu, (-1, 7)),
    ("sigmoid", L.Sigmoid, (3, 7)),
    ("tanh", L.Tanh, (3, 7)),
    ("gelu", L.Gelu, (3, 2, 7)),
    ("leaky_relu", L.LeakyRelu(0.1), (3, 7)),
    ("softmax", L.Softmax, (-1, 7)),
    ("dropout", L.Dropout(0.3), (4, 5)),
    ("batchnorm", L.BatchNorm(), (-1, 6, 6, 3)),
    ("layernorm", L.LayerNorm(), (2, 5, 4)),
    ("rmsnorm", L.RMSNorm(), (-1, 6)),
    (
        "serial_cnn",
        L.serial(L.Conv(3, (3, 3)), L.Relu, L.MaxPool((2, 2)), L.Flatten, L.Dense(4)),
        (-1, 8, 8, 1),
    ),
    ("residual", L.residual(L.serial(L.Dense(6), L.Relu, L.Dense(6))), (3, 6)),
    ("mlp", L.mlp([8, 8, 3]), (-1, 5)),
]


def _numerical_grad(f, tree, eps=1e-6):
    """Centered differences `(f(t + eps e_i) - f(t - eps e_i)) / (2 eps)` of a scalar f."""
    flat, unravel = ravel_pytree(tree)
    g = lambda e: (f(unravel(flat + e)) - f(unravel(flat - e))) / (2 * eps)
    return unravel(jax.vmap(g)(jnp.eye(flat.size, dtype=flat.dtype) * eps))


def _init_jit(layer, input_shape):
    """`layer.init(KEY, input_shape)`, compiled: op-by-op initialization of every
    new shape would dominate the run time of this module."""
    out = {}

    def init(key):
        out["shape"], params, state = layer.init(key, input_shape)
        return params, state

    params, state = jax.jit(init)(KEY)
    return out["shape"], params, state


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _init(layer, shape, dtype=jnp.float32):
    """Params and state with every leaf moved off its default (ones, zeros) value."""
    _, params, state = layer.init(KEY, shape)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    noise = [0.2 * jax.random.normal(jax.random.key(i), p.shape, dtype) for i, p in enumerate(leaves)]
    params = treedef.unflatten([p.astype(dtype) + n for p, n in zip(leaves, noise)])
    state = jax.tree_util.tree_map(lambda s: (1.3 * s + 0.2).astype(dtype), state)
    return params, state


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _input(shape, dtype=jnp.float32, seed=1):
    """Normal draws pushed at least 0.1 away from the kinks of ReLU at 0 (batch -1 -> 3)."""
    z = jax.random.normal(jax.random.key(seed), tuple(3 if d == -1 else d for d in shape), dtype)
    return z + 0.1 * jnp.sign(z)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_declared_output_shape_equals_applied_shape(case):
    _, layer, input_shape = case
    out_shape, params, state = _init_jit(layer, input_shape)
    assert all(isinstance(d, int) for d in out_shape)
    x = _input(input_shape)
    batch = x.shape[0]
    for train in (False, True):
        run = jax.jit(lambda p, s, x, k, train=train: layer.apply(p, s, x, key=k, train=train))
        y, new_state = run(params, state, x, jax.random.key(2))
        expected = tuple(batch if (i == 0 and d == -1) else d for i, d in enumerate(out_shape))
        assert y.shape == expected, (train, out_shape, y.shape)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    if input_shape[0] == -1:  # the batch dimension is carried through
        assert out_shape[0] == -1


# ------------------------------------------------------------------ flax parity


def test_dense_matches_flax():
    layer = L.Dense(5)
    params, _ = _init(layer, (-1, 3))
    for x in (_input((4, 3)), _input((2, 6, 3))):
        y, _ = layer.apply(params, (), x)
        ref = nn.Dense(5).apply({"params": {"kernel": params["w"], "bias": params["b"]}}, x)
        chex.assert_trees_all_close(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kernel, strides, padding, shape",
    [
        ((3,), 1, "SAME", (2, 9, 3)),
        ((4,), 2, "VALID", (2, 11, 3)),
        ((3, 3), 1, "SAME", (2, 7, 6, 3)),
        ((3, 2), (2, 1), "VALID", (2, 8, 7, 3)),
        ((3, 3), 2, "SAME", (2, 8, 7, 3)),
    ],
)
def test_conv_matches_flax(kernel, strides, padding, shape):
    layer = L.Conv(4, kernel, strides, padding)
    params, _ = _init(layer, shape)
    x = _input(shape)
    y, _ = layer.apply(params, (), x)
    flax_conv = nn.Conv(4, kernel, strides=strides, padding=padding)
    ref = flax_conv.apply({"params": {"kernel": params["w"], "bias": params["b"]}}, x)
    chex.assert_trees_all_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fast_variance, tol", [(False, 1e-6), (True, 1e-5)])
@pytest.mark.parametrize("shape", [(16, 3), (4, 5, 5, 2)])
def test_batchnorm_matches_flax(shape, fast_variance, tol):
    """flax.linen.BatchNorm with the same momentum (flax convention) and eps: our
    two-pass variance is flax's use_fast_variance=False exactly; flax's default
    one-pass variance agrees up to float32 rounding."""
    layer = L.BatchNorm(momentum=0.9, eps=1e-5)
    params, state = _init(layer, shape)
    x = 2.0 * _input(shape) + 0.5
    flax_bn = nn.BatchNorm(momentum=0.9, epsilon=1e-5, use_fast_variance=fast_variance)
    variables = {"params": params, "batch_stats": state}
    for _ in range(2):  # two training steps: the running statistics compound
        y, state = layer.apply(params, state, x, train=True)
        ref, updates = flax_bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        variables = {"params": params, **updates}
        chex.assert_trees_all_close(y, ref, rtol=tol, atol=tol)
        chex.assert_trees_all_close(state, dict(updates["batch_stats"]), rtol=tol, atol=tol)
    y, new_state = layer.apply(params, state, x, train=False)
    ref = flax_bn.apply(variables, x, use_running_average=True)
    chex.assert_trees_all_close(y, ref, rtol=tol, atol=tol)
    assert new_state is state  # eval leaves the running statistics alone
    # The running update is flax's: momentum * running + (1 - momentum) * batch (biased var).
    xs = np.asarray(x, np.float64).reshape(-1, shape[-1])
    _, s0 = _init(layer, shape)
    _, s1 = layer.apply(params, s0, x, train=True)
    np.testing.assert_allclose(s1["mean"], 0.9 * s0["mean"] + 0.1 * xs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(s1["var"], 0.9 * s0["var"] + 0.1 * xs.var(0, ddof=0), rtol=1e-5)


@pytest.mark.parametrize("fast_variance, tol", [(False, 1e-6), (True, 1e-5)])
def test_layernorm_matches_flax(fast_variance, tol):
    """eps inside the square root, biased variance: flax LayerNorm(epsilon=1e-5)."""
    layer = L.LayerNorm(eps=1e-5)
    params, _ = _init(layer, (-1, 6))
    x = 3.0 * _input((2, 4, 6)) + 1.0
    y, _ = layer.apply(params, (), x)
    ref = nn.LayerNorm(epsilon=1e-5, use_fast_variance=fast_variance).apply({"params": params}, x)
    chex.assert_trees_all_close(y, ref, rtol=tol, atol=tol)


def test_rmsnorm_matches_flax():
    """y = x / sqrt(mean(x^2) + eps) * scale: flax RMSNorm(epsilon=1e-6)."""
    layer = L.RMSNorm(eps=1e-6)
    params, _ = _init(layer, (-1, 6))
    x = _input((2, 4, 6)) * 1e-3  # small enough for eps to matter
    y, _ = layer.apply(params, (), x)
    ref = nn.RMSNorm(epsilon=1e-6).apply({"params": params}, x)
    chex.assert_trees_all_close(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_pooling_matches_flax(padding):
    x = _input((2, 7, 8, 3))
    for ours, theirs in [(L.MaxPool, nn.max_pool), (L.AvgPool, nn.avg_pool)]:
        y, _ = ours((3, 2), strides=(2, 1), padding=padding).apply((), (), x)
        ref = theirs(x, (3, 2), strides=(2, 1), padding=padding)
        chex.assert_trees_all_close(y, ref, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_drops_the_stated_fraction_and_preserves_the_mean(rate):
    """With n = 2**18 entries, the dropped fraction has standard deviation
    sqrt(rate (1 - rate) / n) and the output mean sqrt(mean(x^2) rate / ((1 - rate) n));
    both are checked within 5 standard deviations."""
    n, keep = 2**18, 1 - rate
    x = jax.random.uniform(jax.random.key(3), (512, 512), minval=1.0, maxval=2.0)
    y, _ = L.Dropout(rate).apply((), (), x, key=jax.random.key(4), train=True)
    dropped = float(jnp.mean(y == 0))
    assert abs(dropped - rate) < 5 * np.sqrt(rate * keep / n)
    sigma = np.sqrt(float(jnp.mean(x**2)) * rate / (keep * n))
    assert abs(float(jnp.mean(y)) - float(jnp.mean(x))) < 5 * sigma
    kept = y != 0
    chex.assert_trees_all_close(y[kept], x[kept] / keep, rtol=1e-6)  # inverted scaling


def test_dropout_eval_identity_and_edge_rates():
    x = _input((8, 16))
    drop = L.Dropout(0.5)
    np.testing.assert_array_equal(drop.apply((), (), x, train=False)[0], x)
    a = drop.apply((), (), x, key=jax.random.key(1), train=True)[0]
    b = drop.apply((), (), x, key=jax.random.key(1), train=True)[0]
    c = drop.apply((), (), x, key=jax.random.PRNGKey(2), train=True)[0]  # raw keys work too
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(L.Dropout(0.0).apply((), (), x, key=KEY, train=True)[0], x)
    np.testing.assert_array_equal(L.Dropout(1.0).apply((), (), x, key=KEY, train=True)[0], 0.0)


def test_serial_composes_and_splits_the_key_per_layer():
    layers = [L.Dense(6), L.Dropout(0.5), L.Dense(6), L.Dropout(0.5)]
    model = L.serial(*layers)
    _, params, state = _init_jit(model, (-1, 4))
    x, key = _input((5, 4)), jax.random.key(9)
    y, _ = model.apply(params, state, x, key=key, train=True)
    h = x
    for layer, p, k in zip(layers, params, jax.random.split(key, 4)):
        h, _ = layer.apply(p, (), h, key=k, train=True)
    chex.assert_trees_all_close(y, h)
    assert not np.array_equal(y, model.apply(params, state, x, key=KEY, train=True)[0])


def test_residual_adds_the_input_and_mlp_structure():
    inner = L.Dense(4)
    params, _ = _init(inner, (-1, 4))
    x = _input((3, 4))
    y, _ = L.residual(inner).apply(params, (), x)
    chex.assert_trees_all_close(y, x + inner.apply(params, (), x)[0])
    out_shape, params, state = _init_jit(L.mlp([8, 8, 3], activation=L.Tanh), (-1, 5))
    assert out_shape == (-1, 3) and state == ((),) * 5
    assert [jnp.shape(p["w"]) for p in params[::2]] == [(5, 8), (8, 8), (8, 3)]
    assert params[1] == () and params[3] == ()


def test_maxpool_accepts_integer_inputs():
    x = jnp.arange(2 * 4 * 3).reshape(2, 4, 3)
    y, _ = L.MaxPool(2).apply((), (), x)
    np.testing.assert_array_equal(y, np.asarray(x).reshape(2, 2, 2, 3).max(axis=2))


# ------------------------------------------------------------------- gradients

GRAD_CASES = [
    ("dense", L.Dense(3), (2, 4), False),
    ("conv1d", L.Conv(3, 3, strides=2), (2, 7, 2), False),
    ("conv2d", L.Conv(2, (2, 3), padding="VALID"), (2, 4, 5, 2), False),
    ("maxpool", L.MaxPool((2, 2), strides=1, padding="SAME"), (2, 4, 4, 2), False),
    ("avgpool", L.AvgPool(3, strides=2, padding="SAME"), (2, 7, 2), False),
    ("flatten", L.Flatten, (2, 3, 2), False),
    ("identity", L.Identity, (2, 5), False),
    ("relu", L.Relu, (3, 5), False),
    ("sigmoid", L.Sigmoid, (3, 5), False),
    ("tanh", L.Tanh, (3, 5), False),
    ("gelu", L.Gelu, (3, 5), False),
    ("leaky_relu", L.LeakyRelu(0.2), (3, 5), False),
    ("softmax", L.Softmax, (3, 5), False),
    ("dropout_train", L.Dropout(0.4), (3, 5), True),
    ("batchnorm_train", L.BatchNorm(), (6, 3), True),
    ("batchnorm_eval", L.BatchNorm(), (6, 3), False),
    ("layernorm", L.LayerNorm(), (3, 5), False),
    ("rmsnorm", L.RMSNorm(), (3, 5), False),
    ("serial", L.serial(L.Dense(4), L.Relu, L.Dense(2)), (3, 3), False),
    ("residual", L.residual(L.serial(L.Dense(4), L.Tanh)), (3, 4), False),
    ("mlp", L.mlp([4, 3], activation=L.Gelu), (2, 3), False),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_centered_differences(case, x64):
    _, layer, shape, train = case
    params, state = _init(layer, shape, jnp.float64)
    x = _input(shape, jnp.float64)
    key = jax.random.key(5)
    out = layer.apply(params, state, x, key=key, train=train)[0]
    w = jax.random.normal(jax.random.key(6), out.shape, jnp.float64)  # a generic cotangent
    f = lambda px: jnp.sum(layer.apply(px[0], state, px[1], key=key, train=train)[0] * w)
    # One compiled program for both (op-by-op execution of the vmapped differences is slow).
    analytic, numeric = jax.jit(lambda t: (jax.grad(f)(t), _numerical_grad(f, t)))((params, x))
    assert ravel_pytree(analytic)[0].dtype == jnp.float64
    assert jnp.any(analytic[1] != 0)
    chex.assert_trees_all_close(analytic, numeric, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------------------- jit


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_and_no_jit_agree(self):
        model = L.serial(
            L.Conv(4, (3, 3), strides=2),
            L.BatchNorm(),
            L.Relu,
            L.AvgPool((2, 2)),
            L.Flatten,
            L.Dropout(0.3),
            L.Dense(8),
            L.LayerNorm(),
            L.residual(L.serial(L.Dense(8), L.Gelu)),
            L.RMSNorm(),
            L.Dense(3),
            L.Softmax,
        )
        _, params, state = _init_jit(model, (-1, 9, 9, 2))
        x, key = _input((4, 9, 9, 2)), jax.random.key(3)
        for train in (True, False):
            f = lambda p, s, x, k, train=train: model.apply(p, s, x, key=k, train=train)
            got = self.variant(f)(params, state, x, key)
            chex.assert_trees_all_close(got, f(params, state, x, key), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ errors


def _assert_raises_before_compiling(exc, match, fn, *args):
    """`fn(*args)` raises eagerly and while tracing under jit (before compiling)."""
    with pytest.raises(exc, match=match):
        fn(*args)
    with pytest.raises(exc, match=match):
        jax.jit(fn).lower(*args)


def test_dense_wrong_trailing_dimension():
    params = _init_jit(L.Dense(5), (-1, 3))[1]
    apply = lambda p, x: L.Dense(5).apply(p, (), x)
    match = r"Dense\(5\) expects inputs whose last dimension is 3.*\(3, 5\).*\(4, 7\)"
    _assert_raises_before_compiling(ValueError, match, apply, params, jnp.ones((4, 7)))


@pytest.mark.parametrize(
    "layer, input_shape, bad_shape, match",
    [
        (L.Conv(2, 3), (-1, 8, 3), (2, 8, 4), r"Conv\(2, kernel_size=\(3,\)\) expects .* 3 channels.*\(2, 8, 4\)"),
        (L.Conv(2, (3, 3)), (-1, 8, 8, 3), (2, 8, 8, 1), r"3 channels.*\(2, 8, 8, 1\)"),
        (L.Conv(2, (3, 3)), (-1, 8, 8, 3), (2, 8, 3), r"is 2-D and expects .*\(batch, height, width, channels\).*\(2, 8, 3\)"),
        (L.MaxPool((2, 2)), (-1, 8, 8, 3), (8, 3), r"MaxPool.*is 2-D .*\(8, 3\)"),
    ],
)
def test_conv_and_pool_wrong_input_shape(layer, input_shape, bad_shape, match):
    params = _init_jit(layer, input_shape)[1]
    apply = lambda p, x: layer.apply(p, (), x)
    _assert_raises_before_compiling(ValueError, match, apply, params, jnp.ones(bad_shape))


@pytest.mark.parametrize(
    "layer, shape",
    [
        (L.Dense(2), (3, 4)),
        (L.Conv(2, (3, 3)), (1, 5, 5, 2)),
        (L.AvgPool(2), (1, 4, 2)),
        (L.BatchNorm(), (3, 4)),
        (L.LayerNorm(), (3, 4)),
        (L.RMSNorm(), (3, 4)),
        (L.Dropout(0.5), (3, 4)),
        (L.Relu, (3, 4)),
        (L.Softmax, (3, 4)),
    ],
)
def test_integer_inputs_raise(layer, shape):
    _, params, state = _init_jit(layer, shape)
    apply = lambda p, x: layer.apply(p, state, x, key=KEY, train=True)
    match = r"needs a floating-point input, but got dtype int32 with shape " + re.escape(str(shape))
    _assert_raises_before_compiling(TypeError, match, apply, params, jnp.ones(shape, jnp.int32))


def test_dropout_train_without_key_raises():
    model = L.serial(L.Dense(3), L.Dropout(0.5))
    _, params, state = _init_jit(model, (-1, 4))
    apply = lambda p, x: model.apply(p, state, x, train=True)
    _assert_raises_before_compiling(ValueError, r"Dropout\(rate=0.5\).*needs a PRNG key", apply, params, jnp.ones((2, 4)))
    model.apply(params, state, jnp.ones((2, 4)), train=False)  # eval needs no key


@pytest.mark.parametrize(
    "layer, input_shape, edit, match",
    [
        (L.Dense(5), (-1, 3), lambda p: {**p, "w": jnp.ones((3, 4))}, r"Dense\(5\) got params .* expected \{'w': \(\?, 5\), 'b': \(5,\)\}.*'w': \(3, 4\)"),
        (L.Dense(5), (-1, 3), lambda p: {"w": p["w"]}, r"Dense\(5\) got params that do not match"),
        (L.Dense(5), (-1, 3), lambda p: (p["w"], p["b"]), r"Dense\(5\) got params that do not match"),
        (L.Conv(2, (3, 3)), (-1, 5, 5, 1), lambda p: {**p, "w": jnp.ones((3, 1, 2))}, r"Conv\(2, .*expected \{'w': \(3, 3, \?, 2\)"),
        (L.LayerNorm(), (-1, 4), lambda p: {**p, "scale": jnp.ones(3)}, r"LayerNorm.*'scale': \(4,\)"),
        (L.Relu, (-1, 4), lambda p: {"w": jnp.ones(4)}, r"Relu has no params, so it expects \(\)"),
        (L.mlp([3, 2]), (-1, 4), lambda p: p[:2], r"serial of 3 layers .* tuple of length 3.*length 2"),
        (L.mlp([3, 2]), (-1, 4), lambda p: (p[2], p[1], p[0]), r"Dense\(3\) got params"),
    ],
)
def test_mismatched_params_raise(layer, input_shape, edit, match):
    _, params, state = _init_jit(layer, input_shape)
    apply = lambda p, x: layer.apply(p, state, x)
    x = jnp.ones(tuple(2 if d == -1 else d for d in input_shape))
    layer.apply(params, state, x)  # the unedited params work
    _assert_raises_before_compiling(ValueError, match, apply, edit(params), x)


def test_mismatched_state_raises():
    _, params, state = _init_jit(L.BatchNorm(), (-1, 3))
    with pytest.raises(ValueError, match=r"BatchNorm.* got state .*'var': \(3,\)"):
        L.BatchNorm().apply(params, {"mean": state["mean"]}, jnp.ones((2, 3)))
    model = L.serial(L.BatchNorm(), L.Relu)
    _, params, state = _init_jit(model, (-1, 3))
    with pytest.raises(ValueError, match=r"serial of 2 layers expects state .* length 2"):
        model.apply(params, state[:1], jnp.ones((2, 3)))


def test_residual_shape_change_raises():
    with pytest.raises(ValueError, match=r"residual.*maps \(-1, 4\) to \(-1, 3\)"):
        L.residual(L.Dense(3)).init(KEY, (-1, 4))
    params = _init_jit(L.Dense(3), (-1, 4))[1]
    with pytest.raises(ValueError, match=r"residual.*maps \(2, 4\) to \(2, 3\)"):
        L.residual(L.Dense(3)).apply(params, (), jnp.ones((2, 4)))


def test_bad_constructor_arguments_and_shapes_raise():
    with pytest.raises(ValueError, match=r'padding must be "SAME" or "VALID", got .FULL.'):
        L.Conv(2, 3, padding="FULL")
    with pytest.raises(ValueError, match=r"rate is the probability of dropping and must be in \[0, 1\]"):
        L.Dropout(1.5)
    with pytest.raises(ValueError, match=r"VALID padding needs each spatial size >= \(5, 5\).*\(-1, 4, 8, 1\)"):
        L.Conv(2, (5, 5), padding="VALID").init(KEY, (-1, 4, 8, 1))
    with pytest.raises(ValueError, match=r"Dense\(2\).init needs the number of input features"):
        L.Dense(2).init(KEY, (-1, -1))
