"""jaxnn.losses against optax.losses, closed forms, stability and error messages."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxnn import losses

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(values, reduction):
    return {"mean": jnp.mean, "sum": jnp.sum, "none": lambda v: v}[reduction](values)


def _regression_data(seed=0, shape=(8, 3), dtype=np.float32):
    # numpy draws: no per-shape compilation of random ops in the tests
    rng = np.random.default_rng(seed)
    pred = 2.0 * rng.standard_normal(shape)
    target = 2.0 * rng.standard_normal(shape)
    return jnp.asarray(pred, dtype), jnp.asarray(target, dtype)


def _class_data(seed=0, batch=(8,), num_classes=5, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((*batch, num_classes))
    labels = rng.integers(0, num_classes, batch)
    return jnp.asarray(logits, jnp.float32), jnp.asarray(labels, jnp.int32)


# ------------------------------------------------------------- optax parity


# With and without jit (what chex.variants does for TestCase classes).
VARIANTS = pytest.mark.parametrize(
    "variant",
    [lambda f: f, lambda f: jax.jit(f, static_argnames="reduction")],
    ids=["without_jit", "with_jit"],
)


@VARIANTS
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_optax(variant, reduction):
    pred, target = _regression_data()
    cases = [
        (losses.mse, optax.losses.squared_error(pred, target)),
        (losses.mae, jnp.abs(pred - target)),  # optax has no absolute-error loss
    ]
    for fn, expected in cases:
        got = variant(fn)(pred, target, reduction=reduction)
        chex.assert_trees_all_close(got, _reduce(expected, reduction), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_matches_optax(reduction, delta):
    pred, target = _regression_data(1)
    expected = optax.losses.huber_loss(pred, target, delta=delta)
    got = losses.huber(pred, target, delta, reduction=reduction)
    chex.assert_trees_all_close(got, _reduce(expected, reduction), rtol=1e-6)


def test_huber_delta_may_be_traced():
    pred, target = _regression_data(3)
    deltas = jnp.array([0.5, 1.0, 2.0])
    swept = jax.vmap(lambda d: losses.huber(pred, target, d))(deltas)
    expected = [jnp.mean(optax.losses.huber_loss(pred, target, delta=float(d))) for d in deltas]
    chex.assert_trees_all_close(swept, jnp.stack(expected), rtol=1e-6)


def test_mse_has_no_half_factor_and_mean_is_over_all_elements():
    pred, target = _regression_data(2, (4, 3))
    chex.assert_trees_all_close(losses.mse(pred, target), jnp.sum((pred - target) ** 2) / 12)
    chex.assert_trees_all_close(
        losses.mse(pred, target), 2 * jnp.mean(optax.losses.l2_loss(pred, target))
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch", [(8,), (2, 3)])
def test_softmax_cross_entropy_matches_optax(reduction, batch):
    logits, labels = _class_data(batch=batch)
    expected = optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)
    chex.assert_trees_all_close(
        losses.softmax_cross_entropy(logits, labels, reduction=reduction),
        _reduce(expected, reduction),
        rtol=1e-6,
    )
    probs = jax.nn.softmax(_class_data(9, batch)[0])
    expected = optax.losses.softmax_cross_entropy(logits, probs)
    chex.assert_trees_all_close(
        losses.softmax_cross_entropy(logits, probs, reduction=reduction),
        _reduce(expected, reduction),
        rtol=1e-6,
    )
    assert losses.softmax_cross_entropy(logits, labels, reduction="none").shape == batch


@VARIANTS
def test_one_hot_and_integer_labels_agree(variant):
    logits, labels = _class_data(3)
    ce = variant(losses.softmax_cross_entropy)
    chex.assert_trees_all_close(
        ce(logits, jax.nn.one_hot(labels, 5)), ce(logits, labels), rtol=1e-6
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_optax(reduction):
    logits, _ = _regression_data(4, (6, 2))
    labels = jnp.asarray(np.random.default_rng(5).random(logits.shape) < 0.5)
    expected = optax.losses.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32))
    chex.assert_trees_all_close(
        losses.binary_cross_entropy(logits, labels, reduction=reduction),
        _reduce(expected, reduction),
        rtol=1e-6,
    )
    soft = jnp.asarray(np.random.default_rng(6).random(logits.shape), jnp.float32)
    chex.assert_trees_all_close(
        losses.binary_cross_entropy(logits, soft),
        jnp.mean(optax.losses.sigmoid_binary_cross_entropy(logits, soft)),
        rtol=1e-6,
    )


def test_penalties_match_optax_tree_norms():
    params = {"w": [jnp.arange(6.0).reshape(2, 3) - 2.5], "b": (jnp.array([-1.5, 2.0]),)}
    chex.assert_trees_all_close(losses.l2_penalty(params), optax.tree.norm(params, squared=True))
    chex.assert_trees_all_close(losses.l1_penalty(params), optax.tree.norm(params, ord=1))
    # No factor 1/2: d/dw sum(w^2) = 2w.
    grads = jax.grad(losses.l2_penalty)(params)
    chex.assert_trees_all_close(grads, jax.tree.map(lambda w: 2 * w, params))
    assert float(losses.l2_penalty({})) == 0.0 and float(losses.l1_penalty([])) == 0.0


def test_float64_parity(x64):
    logits, labels = _class_data(7)
    logits = logits.astype(jnp.float64)
    got = losses.softmax_cross_entropy(logits, labels, label_smoothing=0.1)
    expected = optax.losses.softmax_cross_entropy(
        logits, optax.smooth_labels(jax.nn.one_hot(labels, 5, dtype=jnp.float64), 0.1)
    )
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, jnp.mean(expected), rtol=1e-13)
    pred, target = _regression_data(8, dtype=np.float64)
    np.testing.assert_allclose(
        losses.huber(pred, target), jnp.mean(optax.losses.huber_loss(pred, target)), rtol=1e-13
    )


@given(
    batch=st.sampled_from([1, 6]),
    num_classes=st.sampled_from([2, 7]),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_property_matches_optax(batch, num_classes, scale, seed):
    logits, labels = _class_data(seed, (batch,), num_classes, scale)
    expected = _optax_ce(logits, labels)
    got = _jit_ce_none(logits, labels)
    chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-5 * scale)


# jitted once per shape: far fewer compilations than op-by-op dispatch
_optax_ce = jax.jit(optax.losses.softmax_cross_entropy_with_integer_labels)
_jit_ce_none = jax.jit(lambda z, y: losses.softmax_cross_entropy(z, y, reduction="none"))


# ------------------------------------------------------ closed forms, stability


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradient_is_softmax_minus_targets(smoothing):
    logits, labels = _class_data(10)
    grad = jax.grad(lambda z: losses.softmax_cross_entropy(z, labels, smoothing, reduction="sum"))
    targets = optax.smooth_labels(jax.nn.one_hot(labels, 5), smoothing)
    chex.assert_trees_all_close(grad(logits), jax.nn.softmax(logits) - targets, atol=1e-6)
    mean_grad = jax.grad(lambda z: losses.softmax_cross_entropy(z, labels, smoothing))(logits)
    chex.assert_trees_all_close(mean_grad, (jax.nn.softmax(logits) - targets) / 8, atol=1e-7)


def test_label_smoothing_equals_optax_smooth_labels_then_ce():
    logits, labels = _class_data(11)
    # alpha = 1 (uniform targets, labels ignored) is rejected: label_smoothing is in [0, 1).
    for alpha in [0.0, 0.1, 0.5, 0.99]:
        smoothed = optax.smooth_labels(jax.nn.one_hot(labels, 5), alpha)
        expected = jnp.mean(optax.losses.softmax_cross_entropy(logits, smoothed))
        chex.assert_trees_all_close(
            losses.softmax_cross_entropy(logits, labels, label_smoothing=alpha), expected, rtol=1e-6
        )
        chex.assert_trees_all_close(
            losses.softmax_cross_entropy(logits, jax.nn.one_hot(labels, 5), alpha),
            expected,
            rtol=1e-6,
        )


def test_label_smoothing_may_be_traced():
    logits, labels = _class_data(12)
    alphas = jnp.array([0.0, 0.1, 0.3])
    swept = jax.vmap(lambda a: losses.softmax_cross_entropy(logits, labels, a))(alphas)
    for a, value in zip(alphas, swept, strict=True):
        chex.assert_trees_all_close(value, losses.softmax_cross_entropy(logits, labels, float(a)))


@pytest.mark.parametrize("magnitude", [1e4, -1e4])
def test_large_logits_give_finite_values_and_gradients(magnitude):
    logits = magnitude * jnp.array([[1.0, -1.0, 0.5], [-0.3, 1.0, 1.0]])
    labels = jnp.array([1, 0])
    for fn, args in [
        (losses.softmax_cross_entropy, (labels,)),
        (losses.softmax_cross_entropy, (jax.nn.one_hot(labels, 3),)),
        (lambda z, y: losses.softmax_cross_entropy(z, y, 0.1), (labels,)),
        (losses.binary_cross_entropy, (jnp.ones_like(logits),)),
    ]:
        value, grad = jax.value_and_grad(fn)(logits, *args)
        assert jnp.isfinite(value), fn
        assert jnp.all(jnp.isfinite(grad)), fn
    # Loss of a confidently wrong prediction is the logit gap, not inf.
    value = losses.softmax_cross_entropy(jnp.array([[1e4, -1e4]]), jnp.array([1]))
    chex.assert_trees_all_close(value, jnp.float32(2e4))


def test_binary_cross_entropy_gradient_is_sigmoid_minus_labels():
    logits, _ = _regression_data(13, (5, 2))
    labels = jnp.asarray(np.random.default_rng(1).random(logits.shape) < 0.5, jnp.float32)
    grad = jax.grad(lambda z: losses.binary_cross_entropy(z, labels, reduction="sum"))(logits)
    chex.assert_trees_all_close(grad, jax.nn.sigmoid(logits) - labels, atol=1e-6)


def test_accuracy():
    logits = jnp.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    labels = jnp.array([0, 1, 0, 2])
    assert float(losses.accuracy(logits, labels)) == 0.5
    assert float(losses.accuracy(logits, jax.nn.one_hot(labels, 3))) == 0.5
    assert losses.accuracy(logits, labels).dtype == jnp.float32


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "logits_shape, labels, match",
    [
        ((4, 3), jnp.zeros((5,), jnp.int32), r"logits.shape\[:-1\] = \(4,\); got labels \(5,\)"),
        ((4, 3), jnp.zeros((4, 5)), r"num_classes = 3\); got labels \(4, 5\)"),
        ((4, 3), jnp.zeros((4,)), r"same ndim .* \(4, 3\); got labels \(4,\) \(float32\)"),
        ((4, 3), jnp.zeros((4, 1), jnp.int32), r"got labels \(4, 1\) \(int32\)"),
    ],
)
def test_cross_entropy_label_shape_errors(logits_shape, labels, match):
    logits = jnp.zeros(logits_shape)
    with pytest.raises(ValueError, match=match):
        losses.softmax_cross_entropy(logits, labels)
    with pytest.raises(ValueError, match=match):  # raised while tracing, before compiling
        jax.jit(losses.softmax_cross_entropy)(logits, labels)
    with pytest.raises(ValueError, match=match):
        losses.accuracy(logits, labels)


@pytest.mark.parametrize(
    "fn",
    [
        losses.mse,
        losses.mae,
        losses.huber,
        losses.softmax_cross_entropy,
        losses.binary_cross_entropy,
    ],
)
def test_integer_predictions_are_rejected(fn):
    pred = jnp.zeros((4, 3), jnp.int32)
    target = jnp.zeros((4,), jnp.int32) if fn is losses.softmax_cross_entropy else pred
    with pytest.raises(TypeError, match=r"floating-point dtype; got int32 with shape \(4, 3\)"):
        fn(pred, target)


def test_regression_shape_mismatch_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match=r"predictions \(8, 1\) .* targets \(8,\)"):
        losses.mse(jnp.zeros((8, 1)), jnp.zeros((8,)))
    with pytest.raises(ValueError, match=r"logits \(8,\) .* labels \(8, 1\)"):
        losses.binary_cross_entropy(jnp.zeros((8,)), jnp.zeros((8, 1)))


def test_unknown_reduction():
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'avg'"):
        losses.mse(jnp.zeros(3), jnp.zeros(3), reduction="avg")


def test_mae_gradient_at_zero_residual_is_the_documented_subgradient():
    # |x| is not differentiable at 0; the docstring promises JAX's choice, +1.
    p = jnp.array([1.0, 2.0, 3.0, 4.0])
    t = jnp.array([1.0, 0.0, 3.0, 5.0])
    g = jax.grad(losses.mae)(p, t)
    np.testing.assert_array_equal(np.asarray(g), np.array([1.0, 1.0, 1.0, -1.0]) / 4)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_traced_out_of_range_labels_give_nan(smoothing):
    """Under jit the ids are unknown while tracing: an example whose id is outside [0, C)
    has loss NaN (with and without smoothing); the other examples are unaffected."""
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
    f = jax.jit(lambda z, y: losses.softmax_cross_entropy(z, y, smoothing, reduction="none"))
    got = np.asarray(f(logits, jnp.array([0, 3, -1, 2])))
    assert np.isnan(got[1]) and np.isnan(got[2])
    want = f(logits, jnp.array([0, 0, 0, 2]))
    np.testing.assert_allclose(got[[0, 3]], np.asarray(want)[[0, 3]], rtol=1e-6)
    assert np.isnan(f(logits, jnp.array([0, 1, 3, 2])).mean())
