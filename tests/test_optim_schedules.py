"""Schedules: step-by-step parity with optax, closed-form properties, tracing and validation."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxnn.optim import schedules as S

EXTRA = 25  # steps evaluated past the end of every schedule
NUM_STEPS = 160  # one fixed length (>= T + EXTRA for every drawn T) so eager ops compile once
RTOL = {False: 1e-6, True: 1e-12}  # float32 / float64

values = st.floats(-3.0, 3.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
positive = st.floats(1e-3, 3.0)
exponents = st.sampled_from([1.0, 0.5, 2.0, 3.0, 1.7])


def _assert_parity(ours, ref, num_steps, x64):
    """Compare on steps 0..num_steps+EXTRA as an int array and as Python ints."""
    assert num_steps + EXTRA <= NUM_STEPS
    steps = jnp.arange(NUM_STEPS)
    got = np.asarray(jnp.broadcast_to(ours(steps), steps.shape))
    want = np.asarray(jnp.broadcast_to(ref(steps), steps.shape))
    assert got.dtype == (np.float64 if x64 else np.float32), got.dtype
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=RTOL[x64], atol=RTOL[x64] * scale)
    for t in (num_steps // 2, num_steps + EXTRA - 1):  # Python-int steps
        np.testing.assert_allclose(
            np.asarray(ours(t)), np.asarray(ref(t)), rtol=RTOL[x64], atol=RTOL[x64] * scale
        )


def _precision(x64):
    return jax.enable_x64(True) if x64 else contextlib.nullcontext()


def _f(v, x64):
    """A value as an array of the test dtype (optax keeps Python floats weak)."""
    return jnp.asarray(v, jnp.float64 if x64 else jnp.float32)


@pytest.mark.parametrize("x64", [False, True])
@given(init=values, end=values, steps=st.integers(1, 50), begin=st.integers(0, 20))
def test_linear_schedule_matches_optax(x64, init, end, steps, begin):
    with _precision(x64):
        _assert_parity(
            S.linear_schedule(_f(init, x64), end, steps, begin),
            optax.linear_schedule(_f(init, x64), end, steps, begin),
            steps + begin,
            x64,
        )


@pytest.mark.parametrize("x64", [False, True])
@given(
    init=positive,
    steps=st.integers(1, 30),
    rate=st.floats(0.05, 2.0),
    begin=st.integers(0, 20),
    staircase=st.booleans(),
    end=st.one_of(st.none(), st.floats(0.01, 4.0)),
)
def test_exponential_decay_matches_optax(x64, init, steps, rate, begin, staircase, end):
    with _precision(x64):
        kwargs = dict(transition_begin=begin, staircase=staircase, end_value=end)
        _assert_parity(
            S.exponential_decay(_f(init, x64), steps, rate, **kwargs),
            optax.exponential_decay(_f(init, x64), steps, rate, **kwargs),
            3 * steps + begin,
            x64,
        )


@pytest.mark.parametrize("x64", [False, True])
@given(init=values, steps=st.integers(1, 60), alpha=st.floats(0.0, 1.0), exponent=exponents)
def test_cosine_decay_matches_optax(x64, init, steps, alpha, exponent):
    with _precision(x64):
        _assert_parity(
            S.cosine_decay_schedule(_f(init, x64), steps, alpha, exponent),
            optax.cosine_decay_schedule(_f(init, x64), steps, alpha, exponent),
            steps,
            x64,
        )


@pytest.mark.parametrize("x64", [False, True])
@given(
    init=st.floats(0.0, 1.0),
    peak=st.one_of(st.just(0.0), positive),
    warmup=st.integers(0, 20),
    length=st.integers(1, 60),
    end=st.floats(0.0, 0.5),
    exponent=exponents,
)
def test_warmup_cosine_matches_optax(x64, init, peak, warmup, length, end, exponent):
    with _precision(x64):
        args = (_f(init, x64), peak, warmup, warmup + length, end, exponent)
        _assert_parity(
            S.warmup_cosine_decay_schedule(*args),
            optax.warmup_cosine_decay_schedule(*args),
            warmup + length,
            x64,
        )


@pytest.mark.parametrize("x64", [False, True])
@given(
    init=values,
    table=st.dictionaries(st.integers(0, 50), st.floats(0.0, 2.0), max_size=4),
)
def test_piecewise_constant_matches_optax(x64, init, table):
    with _precision(x64):
        _assert_parity(
            S.piecewise_constant_schedule(_f(init, x64), table),
            optax.piecewise_constant_schedule(_f(init, x64), table),
            50,
            x64,
        )


@pytest.mark.parametrize("x64", [False, True])
@given(b1=st.integers(0, 20), gap=st.integers(0, 20), init=positive)
def test_join_schedules_matches_optax(x64, b1, gap, init):
    with _precision(x64):

        def parts(lib):
            return [
                lib.linear_schedule(_f(0.0, x64), init, 10),
                lib.cosine_decay_schedule(_f(init, x64), 15, 0.1),
                lib.exponential_decay(_f(init, x64), 5, 0.5, staircase=True),
            ]

        bounds = [b1, b1 + gap]
        _assert_parity(
            S.join_schedules(parts(S), bounds),
            optax.join_schedules(parts(optax), bounds),
            b1 + gap + 20,
            x64,
        )


def test_constant_schedule():
    sched = S.constant_schedule(0.3)
    assert sched(0) == 0.3 and sched(jnp.asarray(10**6)) == 0.3
    for t in (0, 7, 1000):
        assert sched(t) == optax.constant_schedule(0.3)(t)


# ---------------------------------------------------------------------------
# Closed-form properties
# ---------------------------------------------------------------------------


def test_cosine_reaches_alpha_times_init_at_decay_steps():
    init, alpha, steps = 2.0, 0.05, 40
    sched = S.cosine_decay_schedule(init, steps, alpha=alpha)
    np.testing.assert_allclose(sched(0), init, rtol=1e-6)
    np.testing.assert_allclose(sched(steps // 2), init * (1 + alpha) / 2, rtol=1e-6)
    for t in (steps, steps + 1, 10 * steps):
        np.testing.assert_allclose(sched(t), alpha * init, rtol=1e-6)
    values = np.asarray(sched(jnp.arange(steps + 1)))
    assert np.all(np.diff(values) < 0)  # strictly decreasing until decay_steps


def test_warmup_cosine_peaks_at_warmup_steps():
    init, peak, end, warmup, total = 0.01, 0.5, 0.02, 15, 100
    sched = S.warmup_cosine_decay_schedule(init, peak, warmup, total, end_value=end)
    values = np.asarray(sched(jnp.arange(total + 10)))
    assert int(np.argmax(values)) == warmup
    np.testing.assert_allclose(values[warmup], peak, rtol=1e-6)
    np.testing.assert_allclose(values[0], init, rtol=1e-6)
    np.testing.assert_allclose(values[warmup // 2 + 1], init + (peak - init) * 8 / 15, rtol=1e-6)
    np.testing.assert_allclose(values[total:], end, rtol=1e-6)


def test_piecewise_constant_scales_from_each_boundary_on():
    sched = S.piecewise_constant_schedule(1.0, {30: 0.5, 10: 0.1})
    expected = {0: 1.0, 9: 1.0, 10: 0.1, 29: 0.1, 30: 0.05, 1000: 0.05}
    for t, v in expected.items():
        np.testing.assert_allclose(sched(t), v, rtol=1e-6)
    assert S.piecewise_constant_schedule(0.7)(123) == 0.7


def test_join_switches_at_boundaries_with_offset_steps():
    sched = S.join_schedules(
        [S.constant_schedule(1.0), S.linear_schedule(2.0, 0.0, 10), S.constant_schedule(-1.0)],
        [5, 12],
    )
    # The second schedule sees step - 5: 2.0 at step 5, 2 - 2 * (6 / 10) at step 11.
    expected = {0: 1.0, 4: 1.0, 5: 2.0, 6: 1.8, 11: 0.8, 12: -1.0, 100: -1.0}
    for t, v in expected.items():
        np.testing.assert_allclose(sched(t), v, rtol=1e-6)


def test_exponential_staircase_is_step_decay():
    sched = S.exponential_decay(0.1, transition_steps=30, decay_rate=0.1, staircase=True)
    for t, v in {0: 0.1, 29: 0.1, 30: 0.01, 59: 0.01, 60: 0.001}.items():
        np.testing.assert_allclose(sched(t), v, rtol=1e-5)
    begin = S.exponential_decay(1.0, 10, 0.5, transition_begin=5, end_value=0.3)
    for t, v in {0: 1.0, 5: 1.0, 15: 0.5, 25: 0.3, 500: 0.3}.items():
        np.testing.assert_allclose(begin(t), v, rtol=1e-6)
    growth = S.exponential_decay(1.0, 10, 2.0, end_value=3.0)  # rate > 1: end_value caps
    np.testing.assert_allclose(growth(10), 2.0, rtol=1e-6)
    np.testing.assert_allclose(growth(100), 3.0, rtol=1e-6)


# ---------------------------------------------------------------------------
# Traced values: vmap and jit
# ---------------------------------------------------------------------------


def test_vmap_over_peak_value_equals_separate_evaluations():
    peaks = jnp.array([0.0, 0.1, 0.5, 2.0])
    steps = jnp.arange(130)

    def curve(peak):
        return S.warmup_cosine_decay_schedule(0.01, peak, 10, 120, end_value=0.001)(steps)

    batched = jax.vmap(curve)(peaks)
    for i, peak in enumerate([0.0, 0.1, 0.5, 2.0]):
        ref = optax.warmup_cosine_decay_schedule(0.01, peak, 10, 120, end_value=0.001)(steps)
        np.testing.assert_allclose(batched[i], curve(peak), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(batched[i], ref, rtol=1e-6, atol=1e-7)


def test_jit_with_a_new_value_does_not_recompile():
    traces = []

    @jax.jit
    def value(peak, end, step):
        traces.append(1)  # runs once per trace
        return S.warmup_cosine_decay_schedule(0.0, peak, 5, 50, end_value=end)(step)

    for peak, end, step in [(1.0, 0.1, 3), (0.3, 0.0, 7), (0.0, 0.0, 40), (2.0, 0.5, 60)]:
        got = value(jnp.float32(peak), jnp.float32(end), jnp.int32(step))
        ref = optax.warmup_cosine_decay_schedule(0.0, peak, 5, 50, end_value=end)(step)
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    assert len(traces) == 1


def test_traced_arguments_give_the_concrete_values():
    """Every argument optax branches on in Python may be traced here."""
    builders = {
        "linear": lambda a: S.linear_schedule(a[0], a[1], a[2], a[3]),
        "exp": lambda a: S.exponential_decay(a[0], a[2], a[4], a[3], end_value=a[1]),
        "exp_stair": lambda a: S.exponential_decay(a[0], a[2], a[4], a[3], staircase=True),
        "cosine": lambda a: S.cosine_decay_schedule(a[0], a[2], a[5], a[4]),
        "warmup": lambda a: S.warmup_cosine_decay_schedule(a[1], a[0], a[3], a[2] + a[3], a[5]),
        "join": lambda a: S.join_schedules(
            [S.constant_schedule(a[0]), S.constant_schedule(a[1])], [a[3]]
        ),
        "piecewise": lambda a: S.piecewise_constant_schedule(a[0], {7: a[5], 20: a[4]}),
    }
    steps = jnp.arange(60)
    arg_sets = [
        (1.0, 0.2, 10, 4, 0.5, 0.1),
        (0.5, 0.6, 0, 0, 2.0, 0.0),  # transition_steps 0: optax's constant schedule
        (0.0, 0.3, 25, 1, 0.9, 1.0),  # peak 0 in warmup-cosine: alpha = 0
    ]
    for name, build in builders.items():
        traced_fn = jax.jit(lambda a, b=build: jnp.broadcast_to(b(a)(steps), steps.shape))
        for args in arg_sets:
            if name in ("cosine", "warmup") and args[2] == 0:
                continue  # decay_steps must be positive
            concrete = jnp.broadcast_to(build(args)(steps), steps.shape)
            traced = traced_fn(tuple(jnp.asarray(x) for x in args))
            np.testing.assert_allclose(traced, concrete, rtol=1e-6, atol=1e-7, err_msg=name)


# ---------------------------------------------------------------------------
# Validation of concrete arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: S.linear_schedule(1.0, 0.0, -1), "transition_steps"),
        (lambda: S.linear_schedule(1.0, 0.0, 10, -2), "transition_begin"),
        (lambda: S.exponential_decay(1.0, -5, 0.5), "transition_steps"),
        (lambda: S.exponential_decay(1.0, 5, 0.0), "decay_rate"),
        (lambda: S.exponential_decay(1.0, 5, -0.5), "decay_rate"),
        (lambda: S.exponential_decay(1.0, 5, 0.5, transition_begin=-1), "transition_begin"),
        (lambda: S.cosine_decay_schedule(1.0, 0), "decay_steps"),
        (lambda: S.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), "decay_steps"),
        (lambda: S.warmup_cosine_decay_schedule(0.0, 1.0, -1, 10), "warmup_steps"),
        (lambda: S.piecewise_constant_schedule(1.0, {10: -0.1}), "boundaries_and_scales"),
        (lambda: S.join_schedules([S.constant_schedule(1.0)], [3]), "boundar"),
        (lambda: S.join_schedules([S.constant_schedule(1.0)] * 3, [5, 2]), "boundaries"),
        (lambda: S.join_schedules([], []), "schedule"),
    ],
)
def test_bad_concrete_arguments_raise_naming_the_argument(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_zero_transition_steps_is_a_constant_schedule_like_optax():
    for ours, ref in [
        (S.linear_schedule(0.7, 0.1, 0), optax.linear_schedule(0.7, 0.1, 0)),
        (S.exponential_decay(0.7, 0, 0.5), optax.exponential_decay(0.7, 0, 0.5)),
    ]:
        for t in (0, 5, 100):
            assert ours(t) == ref(t) == 0.7
