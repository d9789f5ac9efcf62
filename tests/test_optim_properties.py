"""Properties of `jaxnn.optim` that do not need optax as the reference.

* Traced hyperparameters: a `jax.vmap` over learning rate, betas, weight decay,
  clip norm, ... of a compiled training loop equals the separate runs, and a
  second call with new hyperparameter values does not recompile.
* Convergence: every optimizer reaches the minimum of a parabola and of the
  Rosenbrock function (optax's alias_test settings: 10 000 steps, the
  learning rates below, tolerance rtol = atol = 3e-2).
* Textbook forms: heavy ball, look-ahead Nesterov, Adam(b1=0) = bias-corrected
  RMSProp, AdamW vs Adam + L2 in closed form.
* Bad input: ValueErrors naming the argument; tree-structure mismatches
  printing both structures, with and without jit.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn.optim as jo

# ---------------------------------------------------------------------------
# A small non-quadratic problem on a tree. Its gradient is element-wise (no
# matmul or reduction), so a vmapped run does the same floating-point operations
# as a single one and any difference would come from the optimizer.
# ---------------------------------------------------------------------------

_rng = np.random.default_rng(0)
A = {"w": _rng.uniform(0.5, 2.0, (3, 2)), "b": _rng.uniform(0.5, 2.0, (2,))}
A = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), A)
Y = jax.tree.map(lambda a: jnp.asarray(_rng.standard_normal(a.shape), jnp.float32), A)
PARAMS0 = jax.tree.map(lambda a: jnp.asarray(_rng.standard_normal(a.shape), jnp.float32), A)
TRAIN_STEPS = 50


def _loss(params):
    """sum (a * theta - y)^2 + 0.1 * sum theta^4, minimised leaf by leaf."""
    terms = jax.tree.map(lambda p, a, y: jnp.sum((a * p - y) ** 2 + 0.1 * p**4), params, A, Y)
    return sum(jax.tree.leaves(terms))


def _train(make, hp, traces=None):
    """TRAIN_STEPS steps of `make(hp)`; returns (final params, loss per step)."""
    if traces is not None:
        traces.append(1)  # runs once per trace: counts compilations
    opt = make(hp)

    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(_loss)(p)
        u, s = opt.update(g, s, p)
        return (jo.apply_updates(p, u), s), loss

    (p, _), losses = jax.lax.scan(step, (PARAMS0, opt.init(PARAMS0)), None, length=TRAIN_STEPS)
    return p, losses


# name -> (factory of traced hyperparameters, a batch of 4 values per hyperparameter)
SWEEPS = {
    "sgd_nesterov": (
        lambda h: jo.sgd(h["lr"], momentum=h["momentum"], nesterov=True),
        {"lr": [0.01, 0.03, 0.05, 0.1], "momentum": [0.0, 0.5, 0.9, 0.8]},
    ),
    "momentum": (
        lambda h: jo.momentum(h["lr"], h["beta"]),
        {"lr": [0.01, 0.03, 0.05, 0.1], "beta": [0.9, 0.5, 0.0, 0.7]},
    ),
    "adagrad": (
        lambda h: jo.adagrad(h["lr"], h["init"], h["eps"]),
        {"lr": [0.1, 0.3, 0.5, 1.0], "init": [0.1, 0.0, 1.0, 0.5], "eps": [1e-7, 1e-3, 1e-5, 0.1]},
    ),
    "rmsprop_centered_momentum": (
        lambda h: jo.rmsprop(h["lr"], h["decay"], h["eps"], centered=True, momentum=h["momentum"]),
        {
            "lr": [1e-3, 3e-3, 1e-2, 3e-3],
            "decay": [0.9, 0.99, 0.5, 0.95],
            "eps": [1e-8, 1e-4, 1e-2, 1e-6],
            "momentum": [0.0, 0.9, 0.5, 0.3],
        },
    ),
    "adam": (
        lambda h: jo.adam(h["lr"], h["b1"], h["b2"], h["eps"]),
        {
            "lr": [1e-3, 1e-2, 3e-2, 0.1],
            "b1": [0.9, 0.0, 0.5, 0.95],
            "b2": [0.999, 0.9, 0.99, 0.5],
            "eps": [1e-8, 1e-3, 1e-6, 1e-1],
        },
    ),
    "adamw": (
        lambda h: jo.adamw(h["lr"], h["b1"], h["b2"], weight_decay=h["wd"]),
        {
            "lr": [1e-3, 1e-2, 3e-2, 0.1],
            "b1": [0.9, 0.0, 0.5, 0.95],
            "b2": [0.999, 0.9, 0.99, 0.5],
            "wd": [0.0, 1e-4, 1e-2, 0.1],
        },
    ),
    "clip_by_global_norm_adam": (
        lambda h: jo.chain(jo.clip_by_global_norm(h["clip"]), jo.adam(h["lr"])),
        {"clip": [0.01, 0.1, 1.0, 100.0], "lr": [1e-2, 3e-2, 1e-2, 0.1]},
    ),
    "clip_sgd": (
        lambda h: jo.chain(jo.clip(h["delta"]), jo.sgd(h["lr"])),
        {"delta": [0.01, 0.1, 1.0, 100.0], "lr": [0.05, 0.05, 0.01, 0.1]},
    ),
    "noisy_sgd": (
        lambda h: jo.noisy_sgd(h["lr"], h["eta"], h["gamma"], key=0),
        {
            "lr": [0.01, 0.05, 0.1, 0.03],
            "eta": [0.0, 0.01, 0.1, 1.0],
            "gamma": [0.55, 0.0, 1.0, 0.3],
        },
    ),
}


@functools.cache
def _compiled(name):
    """(single-run jit, vmapped jit, trace log) for one sweep, built once per module."""
    make = SWEEPS[name][0]
    traces = []
    single = jax.jit(lambda hp: _train(make, hp, traces))
    batched = jax.jit(jax.vmap(lambda hp: _train(make, hp)))
    return single, batched, traces


def _batch(name, shift=1.0):
    return {k: jnp.asarray(np.asarray(v) * shift, jnp.float32) for k, v in SWEEPS[name][1].items()}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_vmap_over_hyperparameters_equals_separate_runs(name):
    single, batched, _ = _compiled(name)
    hp = _batch(name)
    got = batched(hp)
    assert got[1].shape == (4, TRAIN_STEPS)
    for i in range(4):
        want = single({k: v[i] for k, v in hp.items()})
        assert np.all(np.isfinite(want[1]))
        # rtol 1e-5, not bit-exactness: XLA simplifies scalar arithmetic differently in
        # the batched and single programs (a division by a broadcast scalar such as the
        # bias correction 1 - b**t becomes a multiplication by its reciprocal in one of
        # them), an ulp per step that Adam's dynamics amplify; measured worst case over
        # the sweeps below: 2.6e-6 relative (adamw).
        row = jax.tree.map(lambda x, i=i: x[i], got)
        chex.assert_trees_all_close(row, want, rtol=1e-5, atol=0)
    # The sweep is not degenerate: different hyperparameters give different runs.
    assert len({float(v) for v in got[1][:, -1]}) == 4


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_new_hyperparameter_values_do_not_recompile(name):
    single, batched, traces = _compiled(name)
    hp = _batch(name)
    single({k: v[0] for k, v in hp.items()})
    batched(hp)  # compile both programs here, whatever ran before (xdist splits tests)
    before = (len(traces), single._cache_size(), batched._cache_size())
    single({k: v[1] * 0.5 for k, v in hp.items()})
    single({k: v[2] for k, v in hp.items()})
    batched(_batch(name, shift=0.5))
    batched(_batch(name, shift=0.25))
    assert (len(traces), single._cache_size(), batched._cache_size()) == before
    assert single._cache_size() == 1 and batched._cache_size() == 1 and len(traces) == 1


def test_schedule_learning_rate_keeps_a_step_counter():
    sched = lambda count: 0.1 / (1.0 + count)
    opt = jo.sgd(sched, momentum=0.9)
    state = opt.init(PARAMS0)
    assert isinstance(state[1], jo.ScaleByScheduleState) and int(state[1].count) == 0
    g = jax.tree.map(jnp.ones_like, PARAMS0)
    u, state = opt.update(g, state)
    assert int(state[1].count) == 1
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: -0.1 * x, g))  # sched(0) first
    u, state = opt.update(g, state)
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: -0.05 * 1.9 * x, g))


# ---------------------------------------------------------------------------
# Convergence on optax's alias_test targets and settings.
# ---------------------------------------------------------------------------


def _parabola():
    x0, xstar = jnp.array([-1.0, 10.0, 1.0]), jnp.array([1.0, -1.0, 1.0])
    return x0, xstar, lambda x: jnp.sum((x - xstar) ** 2)


def _rosenbrock():
    x0, xstar = jnp.array([0.0, 0.0]), jnp.array([1.0, 1.0])
    return x0, xstar, lambda x: (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


CONVERGENCE = {
    "sgd_momentum": lambda: jo.sgd(1e-3, momentum=0.9),
    "sgd_nesterov": lambda: jo.sgd(1e-3, momentum=0.9, nesterov=True),
    "momentum": lambda: jo.momentum(1e-3),
    "nesterov": lambda: jo.nesterov(1e-3),
    "adagrad": lambda: jo.adagrad(1.0),
    "rmsprop": lambda: jo.rmsprop(5e-3),
    "rmsprop_momentum": lambda: jo.rmsprop(5e-3, momentum=0.9),
    "rmsprop_centered": lambda: jo.rmsprop(5e-3, centered=True),
    "adam": lambda: jo.adam(1e-1),
    "adamw": lambda: jo.adamw(1e-1),
    "nadam": lambda: jo.adam(1e-2, nesterov=True),
    "noisy_sgd": lambda: jo.noisy_sgd(1e-3, eta=1e-4, key=0),
}


@pytest.mark.parametrize("target", [_parabola, _rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_reaches_known_minimum(name, target):
    """10 000 steps from optax's starting points reach the argmin within 3e-2."""
    opt = CONVERGENCE[name]()
    x0, xstar, f = target()

    @jax.jit
    def run(x):
        def step(carry, _):
            x, s = carry
            u, s = opt.update(jax.grad(f)(x), s, x)
            return (jo.apply_updates(x, u), s), None

        return jax.lax.scan(step, (x, opt.init(x)), None, length=10_000)[0][0]

    np.testing.assert_allclose(run(x0), xstar, rtol=3e-2, atol=3e-2)


# ---------------------------------------------------------------------------
# Textbook forms (float64, on the non-quadratic Rosenbrock function).
# ---------------------------------------------------------------------------


def _rosen(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def _trajectory(opt, x0, steps):
    def step(carry, _):
        x, s = carry
        u, s = opt.update(jax.grad(_rosen)(x), s, x)
        x = jo.apply_updates(x, u)
        return (x, s), x

    return jax.jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), None, length=steps)[1])(x0)


def test_heavy_ball_equals_momentum(x64):
    lr, beta, steps = 1e-3, 0.9, 2000
    x0 = jnp.array([-1.2, 1.0])

    def step(carry, _):
        x, v = carry
        v = beta * v + jax.grad(_rosen)(x)
        x = x - lr * v
        return (x, v), x

    want = jax.jit(lambda x: jax.lax.scan(step, (x, jnp.zeros_like(x)), None, length=steps)[1])(x0)
    got = _trajectory(jo.momentum(lr, beta), x0, steps)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_lookahead_nesterov_matches_after_change_of_variables(x64):
    r"""w <- b w + grad L(phi - lr b w), phi <- phi - lr w  maps to `nesterov` via
    theta = phi - lr b w (the look-ahead point), v = w; theta_0 = phi_0 since w_0 = 0."""
    lr, beta, steps = 1e-3, 0.9, 2000
    x0 = jnp.array([-1.2, 1.0])

    def step(carry, _):
        phi, w = carry
        w = beta * w + jax.grad(_rosen)(phi - lr * beta * w)
        phi = phi - lr * w
        return (phi, w), phi - lr * beta * w

    want = jax.jit(lambda x: jax.lax.scan(step, (x, jnp.zeros_like(x)), None, length=steps)[1])(x0)
    got = _trajectory(jo.nesterov(lr, beta), x0, steps)
    assert float(jnp.linalg.norm(got[-1] - x0)) > 0.5  # it travelled along the valley
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # ...and it is a different method from heavy ball on the same function.
    assert float(jnp.max(jnp.abs(got - _trajectory(jo.momentum(lr, beta), x0, steps)))) > 1e-4


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_adam_without_momentum_is_bias_corrected_rmsprop(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        x0 = jnp.array([-1.2, 1.0], dtype)
        got = _trajectory(jo.adam(1e-2, b1=0.0, b2=0.99, eps=1e-6), x0, 500)
        want = _trajectory(
            jo.rmsprop(1e-2, decay=0.99, eps=1e-6, eps_in_sqrt=False, bias_correction=True), x0, 500
        )
        # m/(sqrt(v)+eps) vs (1/(sqrt(v)+eps))*m: at most 1 ulp apart per step.
        np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == jnp.float64 else 1e-5)


def _adam_direction(g, m, v, count, b1, b2, eps):
    """Closed-form Adam step direction (numpy float64) from state (m, v, count)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    t = count + 1
    return (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


@pytest.mark.parametrize("warm_steps", [0, 7])
def test_adamw_differs_from_adam_plus_l2_as_decoupling_predicts(x64, warm_steps):
    lr, b1, b2, eps, wd = 1e-2, 0.9, 0.999, 1e-8, 0.1
    rng = np.random.default_rng(1)
    theta = {
        "w": jnp.asarray(rng.standard_normal((4, 3))),
        "b": jnp.asarray(rng.standard_normal(3)),
    }
    adamw = jo.adamw(lr, b1, b2, eps, weight_decay=wd)
    adam = jo.adam(lr, b1, b2, eps)
    state = adamw.init(theta)
    for _ in range(warm_steps):  # a non-trivial (count, mu, nu)
        g = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape)), theta)
        _, state = adamw.update(g, state, theta)
    adam_state = (state[0], adam.init(theta)[1])  # same moments for both
    g = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape)), theta)

    u_w, _ = adamw.update(g, state, theta)  # decoupled: decay added after Adam's scaling
    g_l2 = jax.tree.map(lambda gi, p: gi + wd * p, g, theta)  # grad of L + wd/2 |theta|^2
    u_l2, _ = adam.update(g_l2, adam_state, theta)

    s = state[0]
    count = int(s.count)
    for k in theta:
        th, gk = np.asarray(theta[k]), np.asarray(g[k])
        m, v = np.asarray(s.mu[k]), np.asarray(s.nu[k])
        d_w = _adam_direction(gk, m, v, count, b1, b2, eps) + wd * th
        d_l2 = _adam_direction(gk + wd * th, m, v, count, b1, b2, eps)
        predicted = -lr * (d_w - d_l2)
        np.testing.assert_allclose(
            np.asarray(u_w[k]) - np.asarray(u_l2[k]), predicted, rtol=1e-9, atol=1e-15
        )
        assert np.max(np.abs(predicted)) > 1e-4  # the two methods really differ
        if warm_steps == 0:
            # First step: Adam's direction is x / (|x| + eps), element by element.
            sign = lambda x: x / (np.abs(x) + eps)
            first = -lr * (sign(gk) + wd * th - sign(gk + wd * th))
            np.testing.assert_allclose(predicted, first, rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------

LR_TAKERS = {
    "sgd": lambda lr: jo.sgd(lr),
    "momentum": lambda lr: jo.momentum(lr),
    "nesterov": lambda lr: jo.nesterov(lr),
    "adagrad": lambda lr: jo.adagrad(lr),
    "rmsprop": lambda lr: jo.rmsprop(lr, momentum=0.9),
    "adam": lambda lr: jo.adam(lr),
    "adamw": lambda lr: jo.adamw(lr),
    "noisy_sgd": lambda lr: jo.noisy_sgd(lr, key=0),
    "scale_by_learning_rate": lambda lr: jo.scale_by_learning_rate(lr),
}


@pytest.mark.parametrize("name", sorted(LR_TAKERS))
@pytest.mark.parametrize("lr", [-1e-3, float("nan"), np.float32(-0.1), jnp.asarray(-1.0)])
def test_negative_learning_rate_raises(name, lr):
    with pytest.raises(ValueError, match="`learning_rate`"):
        LR_TAKERS[name](lr)


@pytest.mark.parametrize("arg", ["b1", "b2"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
@pytest.mark.parametrize("factory", [jo.adam, jo.adamw, None], ids=["adam", "adamw", "block"])
def test_betas_outside_unit_interval_raise(arg, value, factory):
    make = (
        (lambda **kw: jo.scale_by_adam(**kw))
        if factory is None
        else functools.partial(factory, 1e-3)
    )
    with pytest.raises(ValueError, match=rf"`{arg}` must lie in \[0, 1\)"):
        make(**{arg: value})


EPS_TAKERS = {
    "adam": lambda **kw: jo.adam(1e-3, **kw),
    "adamw": lambda **kw: jo.adamw(1e-3, **kw),
    "rmsprop": lambda **kw: jo.rmsprop(1e-3, **kw),
    "rmsprop_centered": lambda **kw: jo.rmsprop(1e-3, centered=True, **kw),
    "adagrad": lambda **kw: jo.adagrad(1e-3, **kw),
    "scale_by_adam": jo.scale_by_adam,
    "scale_by_rms": jo.scale_by_rms,
    "scale_by_stddev": jo.scale_by_stddev,
    "scale_by_rss": jo.scale_by_rss,
}


@pytest.mark.parametrize("name", sorted(EPS_TAKERS))
def test_negative_eps_raises(name):
    with pytest.raises(ValueError, match="`eps`"):
        EPS_TAKERS[name](eps=-1e-8)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: jo.adam(1e-3, eps_root=-1.0), "eps_root"),
        (lambda: jo.clip_by_global_norm(-1.0), "max_norm"),
        (lambda: jo.clip(-0.5), "max_delta"),
        (lambda: jo.adamw(1e-3, weight_decay=-1e-4), "weight_decay"),
        (lambda: jo.add_decayed_weights(-1e-4), "weight_decay"),
        (lambda: jo.rmsprop(1e-3, decay=1.5), "decay"),
        (lambda: jo.adagrad(1e-3, initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: jo.rmsprop(1e-3, initial_scale=-1.0), "initial_scale"),
        (lambda: jo.noisy_sgd(1e-3, eta=-0.01, key=0), "eta"),
        (lambda: jo.noisy_sgd(1e-3), "key"),
        (lambda: jo.add_noise(0.01, 0.55), "key"),
    ],
)
def test_other_bad_hyperparameters_raise(make, arg):
    with pytest.raises(ValueError, match=f"`?{arg}`?"):
        make()


def test_traced_and_scheduled_hyperparameters_are_not_validated():
    """Checks need concrete numbers; traced values and schedules pass through."""
    g = {"w": jnp.ones(3)}

    @jax.jit
    def step(lr, b1):
        opt = jo.adam(lr, b1=b1)
        return opt.update(g, opt.init(g))[0]

    assert np.all(np.isfinite(step(-1.0, 1.5)["w"]))  # no host sync, no error
    jo.sgd(lambda count: -0.1)  # a schedule is not called at build time


def test_add_decayed_weights_needs_params():
    opt = jo.adamw(1e-3)
    g = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="needs the current parameters"):
        opt.update(g, opt.init(g))


MISMATCH = {
    "sgd": lambda: jo.sgd(0.1),  # stateless parts: nothing to compare, must not crash
    "momentum": lambda: jo.momentum(0.1),
    "adagrad": lambda: jo.adagrad(0.1),
    "rmsprop_centered": lambda: jo.rmsprop(0.1, centered=True),
    "adam": lambda: jo.adam(0.1),
    "adamw": lambda: jo.adamw(0.1),
}


class TestTreeStructureMismatch(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_gradients_with_another_structure_raise_printing_both(self):
        params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
        bad_grads = [
            {"w": jnp.ones((2, 3))},  # a missing leaf
            {"w": jnp.ones((2, 3)), "c": jnp.zeros(3)},  # a renamed leaf
            (jnp.ones((2, 3)), jnp.zeros(3)),  # a tuple instead of a dict
        ]
        for name, make in MISMATCH.items():
            if name == "sgd":
                continue
            opt = make()
            state = opt.init(params)
            update = self.variant(opt.update)
            for grads in bad_grads:
                with self.assertRaises(ValueError) as ctx:
                    update(grads, state, params)
                msg = str(ctx.exception)
                self.assertIn("tree structure", msg)
                self.assertIn(str(jax.tree.structure(grads)), msg)
                self.assertIn(str(jax.tree.structure(params)), msg)


def test_chain_rejects_a_state_of_the_wrong_length():
    opt = jo.chain(jo.scale_by_adam(), jo.scale(-0.1))
    g = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="state tuple of 2 entries"):
        opt.update(g, opt.init(g)[:1])
