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

from jaxnn import layers as L
from jaxnn.gradcheck import numerical_grad

KEY = jax.random.key(0)
IMPLS = ("patches", "lax")

# (id, layer, input_shape); -1 is an unknown batch size.
SHAPE_CASES = [
    ("dense", L.Dense(5), (-1, 3)),
    ("dense_3d_input", L.Dense(5), (2, 4, 3)),
    ("conv1d_same", L.Conv(4, 3), (-1, 10, 2)),
    ("conv1d_valid_s2", L.Conv(4, (3,), strides=2, padding="VALID"), (2, 11, 2)),
    ("conv2d_same_s2", L.Conv(4, (3, 3), strides=2), (2, 9, 7, 3)),
    ("conv2d_valid_s21", L.Conv(4, (2, 3), strides=(2, 1), padding="VALID"), (-1, 8, 9, 3)),
    ("conv3d", L.Conv(2, (2, 2, 2), padding="VALID"), (1, 4, 3, 4, 1)),
    ("conv1d_dilated", L.Conv(4, 3, kernel_dilation=2, padding="VALID"), (-1, 11, 2)),
    ("conv2d_groups", L.Conv(6, (3, 3), strides=2, feature_group_count=3), (2, 7, 8, 3)),
    ("conv1d_lax", L.Conv(4, 3, strides=2, impl="lax"), (2, 9, 2)),
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


# Test data is drawn with numpy and every computation under test runs inside one
# jax.jit per test: op-by-op (eager) execution compiles a program for every new
# primitive and shape, which would dominate the run time of this module.


def _shapes(layer, input_shape):
    """`layer.init(KEY, input_shape)` traced abstractly (nothing is computed):
    the declared output shape and the ShapeDtypeStructs of params and state."""
    out = {}

    def init(key):
        out["shape"], params, state = layer.init(key, input_shape)
        return params, state

    params, state = jax.eval_shape(init, KEY)
    return out["shape"], params, state


def _params(layer, input_shape, dtype=np.float32, seed=0):
    """Params and state of `layer` filled with generic values (numpy): normal
    draws, except running variances, which are drawn from [0.5, 1.5]."""
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        if jax.tree_util.keystr(path).endswith("['var']"):
            return rng.uniform(0.5, 1.5, leaf.shape).astype(dtype)
        return (0.5 * rng.standard_normal(leaf.shape)).astype(dtype)

    _, params, state = _shapes(layer, input_shape)
    return jax.tree_util.tree_map_with_path(fill, (params, state))


def _input(shape, dtype=np.float32, seed=1):
    """Normal draws pushed at least 0.1 away from the kinks of ReLU at 0 (batch -1 -> 3)."""
    z = np.random.default_rng(seed).standard_normal([3 if d == -1 else d for d in shape])
    return (z + 0.1 * np.sign(z)).astype(dtype)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_declared_output_shape_equals_applied_shape(case):
    """The shape init declares is the shape apply returns, in both modes. apply is
    traced with jax.eval_shape: shapes are static in JAX, so these are exactly the
    shapes of the arrays apply computes (the tests below execute every layer)."""
    _, layer, input_shape = case
    out_shape, params, state = _shapes(layer, input_shape)
    assert isinstance(out_shape, tuple) and all(type(d) is int for d in out_shape)
    assert len(out_shape) >= 1 and (out_shape[0] == -1) == (input_shape[0] == -1)
    x = _input(input_shape)
    for train in (False, True):
        run = lambda p, s, x, train=train: layer.apply(p, s, x, key=KEY, train=train)
        y, new_state = jax.eval_shape(run, params, state, x)
        assert y.shape == (x.shape[0], *out_shape[1:]), (train, out_shape, y.shape)
        assert y.dtype == jnp.float32
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


# ------------------------------------------------------------------------ dtypes


def _float_dtypes(tree):
    return {leaf.dtype for leaf in jax.tree_util.tree_leaves(tree)}


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_float32_stays_float32_under_x64(case, x64):
    """One rule under x64: parameters default to float32 and a float32 input gives a
    float32 output and float32 state (dtypes are static, so eval_shape is exact)."""
    _, layer, input_shape = case
    _, params, state = _shapes(layer, input_shape)
    assert _float_dtypes((params, state)) <= {jnp.dtype(jnp.float32)}
    for train in (False, True):
        run = lambda p, s, x, train=train: layer.apply(p, s, x, key=KEY, train=train)
        y, new_state = jax.eval_shape(run, params, state, _input(input_shape))
        assert y.dtype == jnp.float32, (train, y.dtype)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


F64 = jnp.float64
F64_CASES = [
    ("dense", L.Dense(5, dtype=F64), (-1, 3)),
    ("mlp", L.mlp([4, 2], dtype=F64), (-1, 3)),
    ("conv_patches", L.Conv(4, 3, dtype=F64, impl="patches"), (-1, 9, 2)),
    ("conv_lax", L.Conv(4, (2, 2), dtype=F64, impl="lax"), (-1, 5, 4, 2)),
    ("batchnorm", L.BatchNorm(dtype=F64), (-1, 3)),
    ("layernorm", L.LayerNorm(dtype=F64), (-1, 3)),
    ("rmsnorm", L.RMSNorm(dtype=F64), (-1, 3)),
]


@pytest.mark.parametrize("case", F64_CASES, ids=[c[0] for c in F64_CASES])
def test_dtype_float64_gives_float64_parameters_and_outputs(case, x64):
    _, layer, input_shape = case
    _, params, state = _shapes(layer, input_shape)
    assert _float_dtypes((params, state)) == {jnp.dtype(F64)}
    for x_dtype in (np.float32, np.float64):  # float32 inputs promote to the parameters' float64
        run = lambda p, s, x: layer.apply(p, s, x, key=KEY, train=True)
        y, new_state = jax.eval_shape(run, params, state, _input(input_shape, x_dtype))
        assert y.dtype == F64
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


@pytest.mark.parametrize("impl", IMPLS)
def test_conv_promotes_a_float64_input_with_a_float32_kernel(impl, x64):
    """Like Dense (x @ w) and flax: the input and kernel are promoted to float64."""
    conv = L.Conv(4, (3, 2), impl=impl)
    params, _ = _params(conv, (-1, 6, 5, 3))  # float32
    x = _input((2, 6, 5, 3), np.float64)
    params64 = jax.tree_util.tree_map(lambda a: a.astype(np.float64), params)
    y, y64 = jax.jit(lambda p, q, x: (conv.apply(p, (), x)[0], conv.apply(q, (), x)[0]))(
        params, params64, x
    )
    assert y.dtype == F64
    chex.assert_trees_all_close(y, y64, rtol=1e-13, atol=1e-13)  # the same float64 products


# ------------------------------------------------------------------ flax parity


@jax.jit
def _dense_pair(params, x):
    ref = nn.Dense(5).apply({"params": {"kernel": params["w"], "bias": params["b"]}}, x)
    return L.Dense(5).apply(params, (), x)[0], ref


@pytest.mark.parametrize("shape", [(4, 3), (2, 6, 3)])
def test_dense_matches_flax(shape):
    params, _ = _params(L.Dense(5), (-1, 3))
    y, ref = _dense_pair(params, _input(shape))
    chex.assert_trees_all_close(y, ref, rtol=1e-6, atol=1e-6)


CONV_CASES = [  # kernel, strides, padding, kernel_dilation, feature_group_count, input shape
    ((3,), 1, "SAME", 1, 1, (2, 9, 3)),
    ((4,), 2, "VALID", 1, 1, (2, 11, 3)),
    ((3, 2), (2, 1), "VALID", 1, 1, (2, 8, 7, 3)),
    ((3, 3), 2, "SAME", 1, 1, (2, 8, 7, 3)),
    ((5,), 3, "SAME", 1, 1, (2, 40, 1)),
    ((3,), 2, "SAME", 2, 1, (2, 10, 2)),
    ((2, 3), 1, "VALID", (2, 1), 1, (2, 7, 6, 3)),
    ((3,), 1, "SAME", 1, 2, (2, 9, 4)),
    ((3, 3), (1, 2), "SAME", 2, 4, (2, 9, 8, 4)),
    ((2, 2, 2), (1, 2, 1), "SAME", 1, 1, (1, 4, 5, 3, 2)),
    ((2, 3, 2), 1, "VALID", (1, 2, 1), 2, (1, 4, 6, 3, 2)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv_matches_flax(case):
    """Both implementations (patches x matmul and lax.conv_general_dilated) against
    flax.linen.Conv, output and gradients, in float32. The sums have at most
    prod(kernel) * C = 36 terms of size ~1, so float32 rounding is ~1e-6; 1e-5 leaves
    room for the different summation orders."""
    kernel, strides, padding, dilation, groups, shape = case
    kw = dict(kernel_dilation=dilation, feature_group_count=groups)
    ours = {impl: L.Conv(4, kernel, strides, padding, impl=impl, **kw) for impl in IMPLS}
    flax_conv = nn.Conv(4, kernel, strides=strides, padding=padding, **kw)
    params, _ = _params(ours["lax"], shape)

    @jax.jit
    def run(params, x):
        flax_params = lambda p: {"params": {"kernel": p["w"], "bias": p["b"]}}
        fns = {impl: lambda p, x, c=c: c.apply(p, (), x)[0] for impl, c in ours.items()}
        fns["flax"] = lambda p, x: flax_conv.apply(flax_params(p), x)
        w = jnp.cos(jnp.arange(4.0)).reshape((1,) * (x.ndim - 1) + (4,))  # generic weights
        grads = {k: jax.grad(lambda p, x, f=f: jnp.sum(jnp.tanh(f(p, x)) * w), (0, 1))(params, x)
                 for k, f in fns.items()}  # fmt: skip
        return {k: f(params, x) for k, f in fns.items()}, grads

    ys, grads = run(params, _input(shape))
    for impl in IMPLS:
        chex.assert_trees_all_close(ys[impl], ys["flax"], rtol=1e-5, atol=1e-5)
        chex.assert_trees_all_close(grads[impl], grads["flax"], rtol=1e-5, atol=1e-5)


def test_conv_auto_picks_patches_on_cpu_and_lax_when_asked():
    """On the CPU backend "auto" traces no convolution primitive (patches x matmul)."""
    x, conv = _input((2, 9, 3)), {impl: L.Conv(4, 3, impl=impl) for impl in ("auto", "lax")}
    params, _ = _params(conv["lax"], (2, 9, 3))
    text = {k: str(jax.make_jaxpr(c.apply)(params, (), x)) for k, c in conv.items()}
    assert "conv_general_dilated" in text["lax"]
    assert ("conv_general_dilated" in text["auto"]) == (jax.default_backend() != "cpu")


@pytest.mark.parametrize("fast_variance, tol", [(False, 1e-6), (True, 1e-5)])
@pytest.mark.parametrize("shape", [(16, 3), (4, 5, 5, 2)])
def test_batchnorm_matches_flax(shape, fast_variance, tol):
    """flax.linen.BatchNorm with the same momentum (flax convention) and eps: our
    two-pass variance is flax's use_fast_variance=False exactly; flax's default
    one-pass variance agrees up to float32 rounding."""
    layer = L.BatchNorm(momentum=0.9, eps=1e-5)
    flax_bn = nn.BatchNorm(momentum=0.9, epsilon=1e-5, use_fast_variance=fast_variance)

    @jax.jit
    def run(params, state, x):
        ours, theirs, variables = [], [], {"params": params, "batch_stats": state}
        for _ in range(2):  # two training steps: the running statistics compound
            y, state = layer.apply(params, state, x, train=True)
            ref, upd = flax_bn.apply(
                variables, x, use_running_average=False, mutable=["batch_stats"]
            )
            variables = {"params": params, **upd}
            ours.append((y, state))
            theirs.append((ref, dict(upd["batch_stats"])))
        ours.append(layer.apply(params, state, x, train=False))
        theirs.append((flax_bn.apply(variables, x, use_running_average=True), state))
        return ours, theirs

    params, state = _params(layer, shape)
    x = 2.0 * _input(shape) + 0.5
    ours, theirs = run(params, state, x)
    chex.assert_trees_all_close(ours, theirs, rtol=tol, atol=tol)
    # The running update is flax's: momentum * running + (1 - momentum) * batch, biased var.
    xs = x.astype(np.float64).reshape(-1, shape[-1])
    new_state = ours[0][1]
    np.testing.assert_allclose(new_state["mean"], 0.9 * state["mean"] + 0.1 * xs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new_state["var"], 0.9 * state["var"] + 0.1 * xs.var(0), rtol=1e-5)
    chex.assert_trees_all_close(ours[2][1], ours[1][1])  # eval leaves the statistics alone


@pytest.mark.parametrize("fast_variance, tol", [(False, 1e-6), (True, 1e-5)])
def test_layernorm_matches_flax(fast_variance, tol):
    """eps inside the square root, biased variance: flax LayerNorm(epsilon=1e-5)."""
    layer, flax_ln = L.LayerNorm(eps=1e-5), nn.LayerNorm(1e-5, use_fast_variance=fast_variance)
    params, _ = _params(layer, (-1, 6))
    pair = jax.jit(lambda p, x: (layer.apply(p, (), x)[0], flax_ln.apply({"params": p}, x)))
    y, ref = pair(params, 3.0 * _input((2, 4, 6)) + 1.0)
    chex.assert_trees_all_close(y, ref, rtol=tol, atol=tol)


def test_rmsnorm_matches_flax():
    """y = x / sqrt(mean(x^2) + eps) * scale: flax RMSNorm(epsilon=1e-6)."""
    layer, flax_rms = L.RMSNorm(eps=1e-6), nn.RMSNorm(epsilon=1e-6)
    params, _ = _params(layer, (-1, 6))
    pair = jax.jit(lambda p, x: (layer.apply(p, (), x)[0], flax_rms.apply({"params": p}, x)))
    y, ref = pair(params, 1e-3 * _input((2, 4, 6)))  # small enough for eps to matter
    chex.assert_trees_all_close(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_pooling_matches_flax(padding):
    """MaxPool pads with -inf; AvgPool counts padding in the average (flax's default)."""

    @jax.jit
    def run(x):
        args = dict(strides=(2, 1), padding=padding)
        ours = [P((3, 2), **args).apply((), (), x)[0] for P in (L.MaxPool, L.AvgPool)]
        return ours, [nn.max_pool(x, (3, 2), **args), nn.avg_pool(x, (3, 2), **args)]

    ours, theirs = run(_input((2, 7, 8, 3)))
    chex.assert_trees_all_close(ours, theirs, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------- behaviour


@jax.jit
def _dropout_train(x, key, rate):  # the rate may be traced: one compilation for all rates
    return L.Dropout(rate).apply((), (), x, key=key, train=True)[0]


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_drops_the_stated_fraction_and_preserves_the_mean(rate):
    """With n = 2**18 entries, the dropped fraction has standard deviation
    sqrt(rate (1 - rate) / n) and the output mean sqrt(mean(x^2) rate / ((1 - rate) n));
    both are checked within 5 standard deviations."""
    n, keep = 2**18, 1 - rate
    x = np.random.default_rng(3).uniform(1.0, 2.0, (512, 512)).astype(np.float32)
    y = np.asarray(_dropout_train(x, jax.random.key(4), rate))
    assert abs(np.mean(y == 0) - rate) < 5 * np.sqrt(rate * keep / n)
    sigma = np.sqrt(np.mean(np.square(x, dtype=np.float64)) * rate / (keep * n))
    assert abs(np.mean(y, dtype=np.float64) - np.mean(x, dtype=np.float64)) < 5 * sigma
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(keep), rtol=1e-6)  # inverted scaling


def test_dropout_eval_identity_and_edge_rates():
    x = _input((8, 16))
    np.testing.assert_array_equal(L.Dropout(0.5).apply((), (), x, train=False)[0], x)
    a = _dropout_train(x, jax.random.key(1), 0.5)
    np.testing.assert_array_equal(a, _dropout_train(x, jax.random.key(1), 0.5))  # same key
    assert not np.array_equal(a, _dropout_train(x, jax.random.key(2), 0.5))
    np.testing.assert_array_equal(_dropout_train(x, KEY, 0.0), x)
    np.testing.assert_array_equal(_dropout_train(x, KEY, 1.0), 0.0)
    raw = _dropout_train(x, jax.random.PRNGKey(1), 0.5)
    np.testing.assert_array_equal(raw, a)  # raw uint32 keys work and agree with typed ones


def test_serial_composes_and_splits_the_key_per_layer():
    layers = [L.Dense(6), L.Dropout(0.5), L.Dense(6), L.Dropout(0.5)]
    model = L.serial(*layers)

    @jax.jit
    def run(params, x, key):
        y = model.apply(params, ((),) * 4, x, key=key, train=True)[0]
        h = x
        for layer, p, k in zip(layers, params, jax.random.split(key, 4), strict=True):
            h = layer.apply(p, (), h, key=k, train=True)[0]
        return y, h, model.apply(params, ((),) * 4, x, key=KEY, train=True)[0]

    params, _ = _params(model, (-1, 4))
    y, manual, other_key = run(params, _input((5, 4)), jax.random.key(9))
    chex.assert_trees_all_close(y, manual)
    assert not np.array_equal(y, other_key)


def test_residual_adds_the_input():
    inner = L.Dense(4)
    params, _ = _params(inner, (-1, 4))
    x = _input((3, 4))
    y, h = jax.jit(lambda p, x: (L.residual(inner).apply(p, (), x)[0], inner.apply(p, (), x)[0]))(
        params, x
    )
    chex.assert_trees_all_close(y, x + h)


def test_mlp_structure():
    out_shape, params, state = _shapes(L.mlp([8, 8, 3], activation=L.Tanh), (-1, 5))
    assert out_shape == (-1, 3) and state == ((),) * 5
    assert [p["w"].shape for p in params[::2]] == [(5, 8), (8, 8), (8, 3)]
    assert [p["b"].shape for p in params[::2]] == [(8,), (8,), (3,)]
    assert params[1] == () and params[3] == ()


def test_maxpool_accepts_integer_inputs():
    x = np.arange(2 * 4 * 3, dtype=np.int32).reshape(2, 4, 3)
    y, _ = L.MaxPool(2).apply((), (), x)
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y, x.reshape(2, 2, 2, 3).max(axis=2))


# ------------------------------------------------------------------- gradients

GRAD_CASES = [
    ("dense", L.Dense(3), (2, 4), False),
    ("conv1d", L.Conv(3, 3, strides=2), (2, 7, 2), False),
    ("conv2d", L.Conv(2, (2, 3), padding="VALID"), (2, 4, 5, 2), False),
    ("conv1d_lax", L.Conv(3, 3, strides=2, impl="lax"), (2, 7, 2), False),
    (
        "conv2d_dilated_groups",
        L.Conv(4, (2, 2), kernel_dilation=2, feature_group_count=2),
        (2, 5, 4, 2),
        False,
    ),  # fmt: skip
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
    """Gradients with respect to params and input, in float64, at generic values."""
    _, layer, shape, train = case
    params, state = _params(layer, shape, np.float64)
    x = _input(shape, np.float64)
    out_shape, _, _ = _shapes(layer, shape)
    w = np.random.default_rng(6).standard_normal(out_shape)  # a generic cotangent
    key = jax.random.key(5)
    f = lambda px: jnp.sum(layer.apply(px[0], state, px[1], key=key, train=train)[0] * w)
    analytic, numeric = jax.jit(lambda t: (jax.grad(f)(t), numerical_grad(f, t)))((params, x))
    assert all(g.dtype == jnp.float64 for g in jax.tree_util.tree_leaves(analytic))
    assert np.any(np.asarray(analytic[1]) != 0)
    chex.assert_trees_all_close(analytic, numeric, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------------------- jit

JIT_MODEL = L.serial(
    L.Conv(4, (3, 3), strides=2),
    L.BatchNorm(),
    L.Relu,
    L.MaxPool((2, 2)),
    L.Flatten,
    L.Dropout(0.3),
    L.Dense(8),
    L.LayerNorm(),
    L.residual(L.serial(L.Dense(8), L.Gelu)),
    L.RMSNorm(),
    L.Dense(3),
    L.Softmax,
)


@functools.cache
def _jit_model_reference():
    """Inputs and the op-by-op (no jit) outputs of JIT_MODEL in both modes, computed once
    (the without_jit variant then reuses the compiled single operations)."""
    params, state = _params(JIT_MODEL, (-1, 9, 9, 2))
    args = (params, state, _input((4, 9, 9, 2)), jax.random.key(3))
    outs = [JIT_MODEL.apply(*args[:3], key=args[3], train=t) for t in (True, False)]
    return args, outs


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_and_no_jit_agree(self):
        args, expected = _jit_model_reference()
        for train, want in zip((True, False), expected, strict=True):
            f = lambda p, s, x, k, train=train: JIT_MODEL.apply(p, s, x, key=k, train=train)
            chex.assert_trees_all_close(self.variant(f)(*args), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ errors


def _assert_raises_before_compiling(exc, match, fn, *args):
    """`fn(*args)` raises eagerly and while tracing under jit (before compiling)."""
    with pytest.raises(exc, match=match):
        fn(*args)
    with pytest.raises(exc, match=match):
        jax.jit(fn).lower(*args)


def test_dense_wrong_trailing_dimension():
    params, _ = _params(L.Dense(5), (-1, 3))
    apply = lambda p, x: L.Dense(5).apply(p, (), x)
    match = r"Dense\(5\) expects inputs whose last dimension is 3.*\(3, 5\).*\(4, 7\)"
    _assert_raises_before_compiling(ValueError, match, apply, params, np.ones((4, 7)))


@pytest.mark.parametrize(
    "layer, input_shape, bad_shape, match",
    [
        (
            L.Conv(2, 3),
            (-1, 8, 3),
            (2, 8, 4),
            r"Conv\(2, kernel_size=\(3,\)\) expects .* 3 channels.*\(2, 8, 4\)",
        ),
        (L.Conv(2, (3, 3)), (-1, 8, 8, 3), (2, 8, 8, 1), r"3 channels.*\(2, 8, 8, 1\)"),
        (
            L.Conv(2, (3, 3)),
            (-1, 8, 8, 3),
            (2, 8, 3),
            r"is 2-D and expects .*\(batch, height, width, channels\).*\(2, 8, 3\)",
        ),
        (L.MaxPool((2, 2)), (-1, 8, 8, 3), (8, 3), r"MaxPool.*is 2-D .*\(8, 3\)"),
    ],
)
def test_conv_and_pool_wrong_input_shape(layer, input_shape, bad_shape, match):
    params, _ = _params(layer, input_shape)
    apply = lambda p, x: layer.apply(p, (), x)
    _assert_raises_before_compiling(ValueError, match, apply, params, np.ones(bad_shape))


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
    params, state = _params(layer, shape)
    apply = lambda p, x: layer.apply(p, state, x, key=KEY, train=True)
    match = r"needs a floating-point input, but got dtype int32 with shape " + re.escape(str(shape))
    _assert_raises_before_compiling(TypeError, match, apply, params, np.ones(shape, np.int32))


def test_dropout_train_without_key_raises():
    model = L.serial(L.Dense(3), L.Dropout(0.5))
    params, state = _params(model, (-1, 4))
    apply = lambda p, x: model.apply(p, state, x, train=True)
    _assert_raises_before_compiling(
        ValueError, r"Dropout\(rate=0.5\).*needs a PRNG key", apply, params, np.ones((2, 4))
    )
    jax.eval_shape(lambda p, x: model.apply(p, state, x), params, np.ones((2, 4)))  # eval: no key


@pytest.mark.parametrize(
    "layer, input_shape, edit, match",
    [
        (
            L.Dense(5),
            (-1, 3),
            lambda p: {**p, "w": np.ones((3, 4))},
            r"Dense\(5\) got params .* expected \{'w': \(\?, 5\), 'b': \(5,\)\}.*'w': \(3, 4\)",
        ),
        (L.Dense(5), (-1, 3), lambda p: {"w": p["w"]}, r"Dense\(5\) got params that do not match"),
        (
            L.Dense(5),
            (-1, 3),
            lambda p: (p["w"], p["b"]),
            r"Dense\(5\) got params that do not match",
        ),
        (
            L.Conv(2, (3, 3)),
            (-1, 5, 5, 1),
            lambda p: {**p, "w": np.ones((3, 1, 2))},
            r"Conv\(2, .*expected \{'w': \(3, 3, \?, 2\)",
        ),
        (
            L.LayerNorm(),
            (-1, 4),
            lambda p: {**p, "scale": np.ones(3)},
            r"LayerNorm.*'scale': \(4,\)",
        ),
        (L.Relu, (-1, 4), lambda p: {"w": np.ones(4)}, r"Relu has no params, so it expects \(\)"),
        (
            L.mlp([3, 2]),
            (-1, 4),
            lambda p: p[:2],
            r"serial of 3 layers .* tuple of length 3.*length 2",
        ),
        (L.mlp([3, 2]), (-1, 4), lambda p: (p[2], p[1], p[0]), r"Dense\(3\) got params"),
    ],
)
def test_mismatched_params_raise(layer, input_shape, edit, match):
    params, state = _params(layer, input_shape)
    apply = lambda p, x: layer.apply(p, state, x)
    x = np.ones(tuple(2 if d == -1 else d for d in input_shape))
    jax.eval_shape(apply, params, x)  # the unedited params work
    _assert_raises_before_compiling(ValueError, match, apply, edit(params), x)


def test_mismatched_state_raises():
    params, state = _params(L.BatchNorm(), (-1, 3))
    with pytest.raises(ValueError, match=r"BatchNorm.* got state .*'var': \(3,\)"):
        L.BatchNorm().apply(params, {"mean": state["mean"]}, np.ones((2, 3)))
    model = L.serial(L.BatchNorm(), L.Relu)
    params, state = _params(model, (-1, 3))
    with pytest.raises(ValueError, match=r"serial of 2 layers expects state .* length 2"):
        model.apply(params, state[:1], np.ones((2, 3)))


def test_residual_shape_change_raises():
    with pytest.raises(ValueError, match=r"residual.*maps \(-1, 4\) to \(-1, 3\)"):
        _shapes(L.residual(L.Dense(3)), (-1, 4))
    params, _ = _params(L.Dense(3), (-1, 4))
    with pytest.raises(ValueError, match=r"residual.*maps \(2, 4\) to \(2, 3\)"):
        jax.eval_shape(lambda p, x: L.residual(L.Dense(3)).apply(p, (), x), params, np.ones((2, 4)))


def test_bad_constructor_arguments_and_shapes_raise():
    with pytest.raises(ValueError, match=r'padding must be "SAME" or "VALID", got .FULL.'):
        L.Conv(2, 3, padding="FULL")
    with pytest.raises(
        ValueError, match=r"rate is the probability of dropping and must be in \[0, 1\]"
    ):
        L.Dropout(1.5)
    with pytest.raises(
        ValueError, match=r"VALID padding needs each spatial size >= \(5, 5\).*\(-1, 4, 8, 1\)"
    ):
        L.Conv(2, (5, 5), padding="VALID").init(KEY, (-1, 4, 8, 1))
    with pytest.raises(ValueError, match=r"Dense\(2\).init needs the number of input features"):
        L.Dense(2).init(KEY, (-1, -1))


def test_serial_accepts_empty_state_for_stateless_stacks():
    model = L.mlp([8, 3])
    _, params, state = model.init(jax.random.key(0), (-1, 5))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5)), jnp.float32)
    y_full, s_full = model.apply(params, state, x)
    y_short, s_short = model.apply(params, (), x)
    np.testing.assert_array_equal(np.asarray(y_full), np.asarray(y_short))
    assert s_full == ((), (), ()) and s_short == ()
    # A stateful layer inside still needs its state: the shorthand is refused by it.
    bn = L.serial(L.Dense(4), L.BatchNorm())
    _, p_bn, _ = bn.init(jax.random.key(1), (-1, 5))
    with pytest.raises((ValueError, TypeError)):
        bn.apply(p_bn, (), x, train=False)
