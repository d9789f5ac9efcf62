"""Tests for jaxnn.diagnostics on constructed loss curves and tiny models."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import diagnostics, layers, train

T = np.arange(1000, dtype=np.float64)


# ------------------------------------------------------------ first_nonfinite


@pytest.mark.parametrize(
    "curve, expected",
    [
        ([1.0, 0.5, 0.25], -1),
        ([1.0, 0.5, float("nan"), 0.1], 2),
        ([float("inf")], 0),
        ([1.0, -float("inf"), float("nan")], 1),
        ([], -1),
    ],
)
def test_first_nonfinite(curve, expected):
    assert diagnostics.first_nonfinite(curve) == expected
    assert diagnostics.first_nonfinite(np.asarray(curve)) == expected
    assert diagnostics.first_nonfinite(jnp.asarray(curve, jnp.float32)) == expected


def test_first_nonfinite_rejects_non_curves():
    with pytest.raises(ValueError, match="1-D loss curve"):
        diagnostics.first_nonfinite(np.zeros((2, 3)))


# ------------------------------------------------------------------- diagnose


def test_diagnose_smooth_exponential_decay():
    d = diagnostics.diagnose(10 * np.exp(-T / 100))
    assert d["decreased"] and not d["diverged"] and not d["plateau"] and not d["oscillation"]
    assert d["first_nonfinite_step"] == -1
    assert d["num_finite"] == 1000
    assert d["initial"] == pytest.approx(np.mean(10 * np.exp(-T[:100] / 100)))


def test_diagnose_decrease_then_plateau():
    curve = np.where(T < 300, 2.0 - T / 300, 1.0)
    d = diagnostics.diagnose(curve)
    assert d["decreased"] and d["plateau"]
    assert not d["diverged"] and not d["oscillation"]


def test_diagnose_flat_curve_is_a_plateau_without_decrease():
    curve = math.log(10) + 1e-5 * np.sin(T)
    d = diagnostics.diagnose(curve)
    assert d["plateau"] and not d["decreased"] and not d["diverged"]
    assert not d["oscillation"]  # wiggles of 1e-5 are far below 5 % of the level


def test_diagnose_linear_decrease_is_not_a_plateau():
    d = diagnostics.diagnose(10.0 - T / 100)  # 10 -> 0.01
    assert d["decreased"] and not d["plateau"]


def test_diagnose_nan_marks_divergence_and_uses_the_finite_prefix():
    curve = 10 * np.exp(-T / 100)
    curve[500:] = np.nan
    d = diagnostics.diagnose(curve)
    assert d["diverged"] and d["first_nonfinite_step"] == 500
    assert d["num_finite"] == 500
    assert d["decreased"]  # the finite prefix still went down


def test_diagnose_blow_up_without_nan_is_divergence():
    d = diagnostics.diagnose(np.exp(T / 100))
    assert d["diverged"] and d["first_nonfinite_step"] == -1 and not d["decreased"]


def test_diagnose_zigzag_is_oscillation():
    zigzag = 1.0 + 0.5 * (-1.0) ** T
    d = diagnostics.diagnose(zigzag)
    assert d["oscillation"] and not d["decreased"] and not d["diverged"]
    # A decaying zig-zag (gradient descent bouncing across a valley) too.
    bouncing = np.exp(-T / 2000) * (1.0 + 0.3 * (-1.0) ** T)
    assert diagnostics.diagnose(bouncing)["oscillation"]


def test_diagnose_edge_cases():
    all_bad = diagnostics.diagnose([float("nan"), 1.0])
    assert all_bad["diverged"] and all_bad["first_nonfinite_step"] == 0
    assert not all_bad["decreased"] and math.isnan(all_bad["final"])
    single = diagnostics.diagnose([1.0])
    assert not single["diverged"] and not single["decreased"] and not single["plateau"]
    with pytest.raises(ValueError, match="window"):
        diagnostics.diagnose([1.0, 0.5], window=0)


def test_diagnose_window_changes_head_and_tail():
    curve = np.concatenate([np.full(10, 5.0), np.full(90, 1.0)])
    assert diagnostics.diagnose(curve, window=10)["initial"] == 5.0
    assert diagnostics.diagnose(curve, window=20)["initial"] == 3.0


# ------------------------------------------------------------- sanity checks


def test_initial_loss_check():
    ok = diagnostics.initial_loss_check(jnp.zeros((32, 10)), 10)
    assert ok.passed and bool(ok)
    assert ok.value == pytest.approx(math.log(10), rel=1e-5)
    assert ok.expected == pytest.approx(math.log(10))
    logits = 20.0 * jax.random.normal(jax.random.key(0), (32, 10))
    bad = diagnostics.initial_loss_check(logits, 10)
    assert not bad.passed and bad.value > 2 * math.log(10)
    assert "outside" in bad.message
    labels = jnp.arange(32) % 10
    with_labels = diagnostics.initial_loss_check(0.01 * logits, 10, labels)
    assert with_labels.passed
    with pytest.raises(ValueError, match=r"\(n, 10\)"):
        diagnostics.initial_loss_check(jnp.zeros((4, 3)), 10)
    with pytest.raises(ValueError, match="labels"):
        diagnostics.initial_loss_check(jnp.zeros((4, 10)), 10, jnp.zeros((5,), jnp.int32))


def test_initial_loss_check_on_a_freshly_initialised_mlp():
    model = layers.serial(
        layers.Dense(64), layers.Relu, layers.Dense(10, w_init=jax.nn.initializers.normal(1e-2))
    )
    _, params, state = model.init(jax.random.key(0), (-1, 20))
    x = jax.random.normal(jax.random.key(1), (64, 20))
    logits, _ = model.apply(params, state, x)
    assert diagnostics.initial_loss_check(logits, 10).passed


def _tiny_problem():
    model = layers.serial(layers.Dense(32), layers.Tanh, layers.Dense(3))
    _, params, state = model.init(jax.random.key(0), (-1, 5))
    x = jax.random.normal(jax.random.key(1), (8, 5))
    y = jnp.arange(8, dtype=jnp.int32) % 3
    return model, params, state, (x, y)


def test_overfit_small_batch_passes_with_a_working_optimizer():
    model, params, state, batch = _tiny_problem()
    check = diagnostics.overfit_small_batch(
        train.supervised_loss(model), optax.adam(1e-2), params, batch, model_state=state
    )
    assert check.passed, check.message
    assert check.value <= 0.01


def test_overfit_small_batch_fails_when_nothing_is_learned():
    model, params, state, batch = _tiny_problem()
    check = diagnostics.overfit_small_batch(
        train.supervised_loss(model), optax.sgd(0.0), params, batch, model_state=state
    )
    assert not check.passed and "did not reach" in check.message


def test_gradient_check(x64):
    params = {"w": jnp.asarray([[0.3, -1.2], [0.7, 0.1]]), "b": jnp.asarray([0.5, -0.2])}

    def f(p):
        return jnp.sum(jnp.tanh(p["w"] @ jnp.asarray([1.0, 2.0]) + p["b"]) ** 2)

    good = diagnostics.gradient_check(f, params)
    assert good.passed and good.value < 1e-6, good.message

    @jax.custom_jvp
    def bad_square(x):
        return x**2

    @bad_square.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return x**2, 3.0 * x * t  # wrong: should be 2 x t

    bad = diagnostics.gradient_check(
        lambda p: jnp.sum(bad_square(p["w"])) + jnp.sum(p["b"]), params
    )
    assert not bad.passed and bad.value > 0.1
    assert "['w']" in bad.message
