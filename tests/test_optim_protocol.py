"""jaxnn optimizers as optax citizens: the extra-args protocol and optax's corner cases.

Each case runs the same thing on optax and on jaxnn and compares. The two
sides execute the same floating-point operations (jaxnn repeats optax's), so
updates are compared with a tight rtol of 1e-6 (float32), not bit for bit:
they are traced by different Python code, and XLA may fuse them differently.
"""

import warnings

import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn.optim as jo

RTOL = 1e-6  # float32; the two libraries perform the same operations


def _params():
    return {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.2])}


def _loss(p):
    return jnp.sum(p["w"] ** 2) + 0.5 * jnp.sum((p["b"] - 1.0) ** 2)


def _run(opt, steps=8):
    """`steps` updates passing `value=loss`, in one jitted scan; returns params and state."""

    def step(carry, _):
        p, s = carry
        value, grad = jax.value_and_grad(_loss)(p)
        u, s = opt.update(grad, s, p, value=value)
        return (optax.apply_updates(p, u), s), None

    p = _params()
    return jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), length=steps)[0])(p)


def _close(got, want):
    chex.assert_trees_all_close(got, want, rtol=RTOL, atol=1e-7)


ALIASES = {
    "sgd": lambda: jo.sgd(0.1, momentum=0.9),
    "adam": lambda: jo.adam(0.1),
    "adamw": lambda: jo.adamw(0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    "rmsprop": lambda: jo.rmsprop(0.1, centered=True),
    "adagrad": lambda: jo.adagrad(0.1),
    "noisy_sgd": lambda: jo.noisy_sgd(0.1, key=0),
    "inject": lambda: jo.inject_hyperparams(jo.adam)(learning_rate=0.1),
    "partition": lambda: jo.partition({"a": jo.adam(0.1), "s": jo.sgd(0.1)}, {"w": "a", "b": "s"}),
}


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_every_optimizer_is_an_optax_transformation_taking_extra_args(name):
    opt = ALIASES[name]()
    assert isinstance(opt, optax.GradientTransformationExtraArgs)
    p = _params()
    g = jax.grad(_loss)(p)
    plain = opt.update(g, opt.init(p), p)[0]
    extra = opt.update(g, opt.init(p), p, value=_loss(p), grad=g, anything=1)[0]
    chex.assert_trees_all_equal(plain, extra)  # same program: extra args are ignored


def test_an_optimizer_built_from_a_three_argument_update_accepts_extra_args():
    def update(updates, state, params=None):
        return jax.tree.map(lambda g: -g, updates), state

    opt = jo.Optimizer(lambda p: (), update)
    assert opt.update(jnp.ones(2), (), None, value=1.0)[0].tolist() == [-1.0, -1.0]


def test_polyak_sgd_inside_chain_gets_value_like_optax():
    p_ours = _run(jo.chain(jo.scale(0.5), optax.polyak_sgd()))[0]
    p_ref = _run(optax.chain(optax.scale(0.5), optax.polyak_sgd()))[0]
    _close(p_ours, p_ref)
    assert float(_loss(p_ours)) < float(_loss(_params()))


@pytest.mark.slow  # ~20 s: compiles two zoom line searches
def test_lbfgs_line_search_inside_chain_matches_optax():
    def run(opt, steps=10):
        value_and_grad = optax.value_and_grad_from_state(_loss)

        def step(carry, _):
            p, s = carry
            value, grad = value_and_grad(p, state=s)
            u, s = opt.update(grad, s, p, value=value, grad=grad, value_fn=_loss)
            return (optax.apply_updates(p, u), s), None

        p = _params()
        return jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), length=steps)[0][0])(p)

    ours = run(jo.chain(jo.identity(), optax.lbfgs()))
    ref = run(optax.chain(optax.identity(), optax.lbfgs()))
    _close(ours, ref)
    np.testing.assert_allclose(ours["b"], [1.0, 1.0], atol=1e-4)  # the minimizer


def test_reduce_on_plateau_inside_chain_lowers_the_rate_like_optax():
    def make(lib):
        return lib.chain(lib.sgd(1.1), optax.contrib.reduce_on_plateau(patience=1, factor=0.5))

    p_ours, s_ours = _run(make(jo), steps=12)
    p_ref, s_ref = _run(make(optax), steps=12)
    _close(p_ours, p_ref)
    assert float(s_ours[1].scale) == float(s_ref[1].scale) < 1.0  # lr 1.1 oscillates: reduced


def test_masked_forwards_extra_args_and_masks_compatible_ones_like_optax():
    mask = {"w": True, "b": False}
    grads_like = jax.tree.map(jnp.ones_like, _params())

    def inner(lib):
        def update(updates, state, params=None, *, value, tags):
            del params
            factor = value * sum(jnp.sum(t) for t in jax.tree.leaves(tags))
            return jax.tree.map(lambda g: factor * g, updates), state

        return optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)

    for compatible in (False, True):
        ours = jo.masked(inner(jo), mask, mask_compatible_extra_args=compatible)
        ref = optax.masked(inner(optax), mask, mask_compatible_extra_args=compatible)
        tags = grads_like  # masked to {"w"} only when `compatible`
        got = ours.update(grads_like, ours.init(_params()), value=3.0, tags=tags)[0]
        want = ref.update(grads_like, ref.init(_params()), value=3.0, tags=tags)[0]
        _close(got, want)


def test_partition_forwards_extra_args_like_optax():
    labels = {"w": "polyak", "b": "sgd"}

    def make(lib):
        return lib.partition({"polyak": optax.polyak_sgd(), "sgd": lib.sgd(0.1)}, labels)

    _close(_run(make(jo))[0], _run(make(optax))[0])


def test_inject_hyperparams_forwards_extra_args_like_optax():
    def make(lib):
        return lib.inject_hyperparams(optax.polyak_sgd)(max_learning_rate=0.5)

    _close(_run(make(jo))[0], _run(make(optax))[0])


class _HalveWhenLossRises:
    """A stateful schedule: the rate halves each step the loss (an extra arg) rose."""

    def init(self):
        return {"lr": jnp.asarray(1.2), "last": jnp.asarray(jnp.inf)}

    def update(self, state, *, value, **extra):
        lr = jnp.where(value > state["last"], 0.5 * state["lr"], state["lr"])
        return {"lr": lr, "last": value}

    def __call__(self, state, **extra):
        return state["lr"]


def test_inject_hyperparams_accepts_a_stateful_schedule_like_optax():
    assert isinstance(_HalveWhenLossRises(), optax.schedules.StatefulSchedule)

    def make(lib):
        return lib.inject_hyperparams(lib.sgd)(learning_rate=_HalveWhenLossRises())

    p_ours, s_ours = _run(make(jo))
    p_ref, s_ref = _run(make(optax))
    _close(p_ours, p_ref)
    _close(s_ours.hyperparams_states, s_ref.hyperparams_states)
    assert float(s_ours.hyperparams["learning_rate"]) < 1.2  # lr 1.2 overshoots: halved


MAPPED = {
    "masked": lambda lib: lib.masked(lib.adam(0.1), {"w": True, "b": False}),
    "adamw_mask_tree": lambda lib: lib.adamw(0.1, mask={"w": True, "b": False}),
    "adamw_mask_fn": lambda lib: lib.adamw(
        0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ),
    "partition": lambda lib: lib.partition(
        {"a": lib.adam(0.1), "s": lib.sgd(0.1, momentum=0.9)}, {"w": "a", "b": "s"}
    ),
}


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_tree_map_params_works_like_optax(name):
    p = _params()
    got, want = (
        optax.tree.map_params(opt, lambda x: x + 7.0, opt.init(p))
        for opt in (MAPPED[name](jo), MAPPED[name](optax))
    )
    # Same layout (the state classes are jaxnn's and optax's twins, with the same names).
    assert str(jax.tree.structure(got)) == str(jax.tree.structure(want))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)  # zeros + 7: exact in any program


class _Pair(eqx.Module):
    """An equinox Module that is callable: as a mask it must be used as a tree."""

    w: jax.Array | bool
    b: jax.Array | bool

    def __call__(self, x):
        return x


def test_a_callable_pytree_mask_is_used_as_a_tree_like_optax():
    params, mask = _Pair(jnp.ones(3), jnp.ones(2)), _Pair(True, False)
    for make in (
        lambda lib: lib.masked(lib.scale(2.0), mask),
        lambda lib: lib.adamw(0.1, weight_decay=0.5, mask=mask),
    ):
        ours, ref = make(jo), make(optax)
        got = ours.update(params, ours.init(params), params)[0]
        want = ref.update(params, ref.init(params), params)[0]
        _close(got, want)


def test_apply_updates_passes_none_params_through_like_optax():
    u = {"a": jnp.ones(2)}
    assert jo.apply_updates(None, u) is None and optax.apply_updates(None, u) is None
    params = {"a": jnp.zeros(2), "frozen": None}
    updates = {"a": jnp.ones(2), "frozen": jnp.ones(3)}
    _close(jo.apply_updates(params, updates), optax.apply_updates(params, updates))


def test_add_decayed_weights_passes_none_params_through_like_optax():
    params = {"w": jnp.ones(2), "frozen": None}
    updates = {"w": jnp.full(2, 0.5), "frozen": None}
    ours, ref = jo.add_decayed_weights(0.1), optax.add_decayed_weights(0.1)
    got = ours.update(updates, ours.init(params), params)[0]
    want = ref.update(updates, ref.init(params), params)[0]
    _close(got, want)
    # A gradient for a `None` parameter: nothing to decay (optax raises a TypeError here).
    got = ours.update({"w": updates["w"], "frozen": jnp.ones(1)}, ours.init(params), params)[0]
    assert got["frozen"].tolist() == [1.0]


def test_jaxnn_masked_node_and_states_are_optax_classes():
    assert jo.MaskedNode is optax.MaskedNode and jo.MaskedState is optax.MaskedState
    assert jo.EmptyState is optax.EmptyState


def test_float16_adam_follows_optax_and_warns_that_eps_underflows():
    p = {"w": jnp.ones(3, jnp.float16)}
    g = {"w": jnp.array([0.0, 1.0, -1.0], jnp.float16)}
    with pytest.warns(RuntimeWarning, match="underflows to 0 in float16"):
        s = jo.adam(1e-3).init(p)
    got = jo.adam(1e-3).update(g, s)[0]["w"]
    ref = optax.adam(1e-3)
    want = ref.update(g, ref.init(p))[0]["w"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # 0/0 on the zero gradient
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-3)  # float16 resolution
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jo.adam(1e-3, eps=1e-4).init(p)  # representable in float16: no warning
        jo.adam(1e-3).init({"w": jnp.ones(3)})  # float32: no warning


def test_integer_updates_on_integer_params_are_exact_like_optax():
    params, updates = {"n": jnp.arange(3)}, {"n": jnp.array([1, 1, 2])}
    chex.assert_trees_all_equal(
        jo.apply_updates(params, updates), optax.apply_updates(params, updates)
    )
