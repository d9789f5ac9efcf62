"""inject_hyperparams and partition: step-by-step parity with optax, state semantics, vmap."""

import contextlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn.optim as O
from jaxnn.optim import schedules as S
from jaxnn.optim.partition import PartitionState
from jaxnn.optim.wrappers import InjectHyperparamsState

NUM_STEPS = 100
TOL = {False: 1e-6, True: 1e-12}  # float32 / float64


def _precision(x64):
    return jax.enable_x64(True) if x64 else contextlib.nullcontext()


def _params(dtype):
    return {
        "dense1": {"w": jnp.full((4, 3), 0.5, dtype), "b": jnp.zeros((3,), dtype)},
        "dense2": {"w": jnp.full((3, 2), -0.3, dtype), "b": jnp.full((2,), 0.1, dtype)},
    }


def _grads(params, num_steps, seed=0):
    """A stack of random gradient trees, one per step (leading axis `num_steps`)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    stacked = [
        jax.random.normal(k, (num_steps, *x.shape), x.dtype)
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, stacked)


def _run(opt, params, grads, hyperparam=None):
    """Jitted scan of `num_steps` updates; returns final params, trajectory, hyperparam trace."""

    @jax.jit
    def run(params, grads):
        def step(carry, g):
            p, s = carry
            u, s = opt.update(g, s, p)
            p = optax.apply_updates(p, u)
            h = s.hyperparams[hyperparam] if hyperparam else jnp.zeros([])
            return (p, s), (p, h)

        (p, s), (traj, hs) = jax.lax.scan(step, (params, opt.init(params)), grads)
        return p, s, traj, hs

    return run(params, grads)


def _rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


# ---------------------------------------------------------------------------
# inject_hyperparams
# ---------------------------------------------------------------------------

FACTORIES = {
    # name: (jaxnn factory, optax factory, extra kwargs)
    "adam": (O.adam, optax.adam, {}),
    "sgd_momentum": (O.sgd, optax.sgd, {"momentum": 0.9}),
    "optax_adamw_inside": (optax.adamw, optax.adamw, {"weight_decay": 0.05}),
}


@pytest.mark.parametrize(
    "name, lr_kind, x64",
    [
        ("adam", "schedule", False),
        ("adam", "schedule", True),
        ("adam", "constant", False),
        ("adam", "constant", True),
        ("sgd_momentum", "schedule", False),
        ("sgd_momentum", "schedule", True),
        ("sgd_momentum", "constant", False),
        ("optax_adamw_inside", "schedule", False),
    ],
)
def test_inject_hyperparams_matches_optax_for_100_steps(name, lr_kind, x64):
    ours_factory, ref_factory, kwargs = FACTORIES[name]
    with _precision(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        params = _params(dtype)
        grads = _grads(params, NUM_STEPS)
        if lr_kind == "schedule":
            lr_ours = S.warmup_cosine_decay_schedule(0.0, 0.05, 10, 80, end_value=1e-3)
            lr_ref = optax.warmup_cosine_decay_schedule(0.0, 0.05, 10, 80, end_value=1e-3)
        else:
            lr_ours = lr_ref = 0.02
        ours = O.inject_hyperparams(ours_factory)(learning_rate=lr_ours, **kwargs)
        ref = optax.inject_hyperparams(ref_factory)(learning_rate=lr_ref, **kwargs)
        p1, s1, traj1, lr1 = _run(ours, params, grads, "learning_rate")
        p2, s2, traj2, lr2 = _run(ref, params, grads, "learning_rate")

        assert isinstance(s1, InjectHyperparamsState)
        assert s1.count.dtype == jnp.int32 and int(s1.count) == NUM_STEPS == int(s2.count)
        # A float32 schedule value (int32 count) stays float32, as in optax.
        assert lr1.dtype == lr2.dtype
        assert lr_kind == "schedule" or lr1.dtype == dtype
        tol = TOL[x64]
        chex.assert_trees_all_close(traj1, traj2, rtol=tol, atol=tol)
        chex.assert_trees_all_close(lr1, lr2, rtol=tol, atol=tol)
        leaves1, leaves2 = jax.tree.leaves(s1.inner_state), jax.tree.leaves(s2.inner_state)
        chex.assert_trees_all_close(leaves1, leaves2, rtol=tol, atol=tol)  # classes differ
        chex.assert_trees_all_close(s1.hyperparams, s2.hyperparams, rtol=tol, atol=tol)
        if lr_kind == "schedule":
            # After update k the state holds the value that update used: schedule(k).
            # (Eager vs compiled evaluation: equal to the schedule value's own precision.)
            want = np.asarray(lr_ours(jnp.arange(NUM_STEPS, dtype=jnp.int32)))
            lr_tol = TOL[lr1.dtype == jnp.float64]
            np.testing.assert_allclose(lr1, want, rtol=lr_tol, atol=lr_tol)


def test_state_hyperparams_after_init_is_the_value_for_step_0():
    sched = S.linear_schedule(1.0, 0.0, 10)
    opt = O.inject_hyperparams(O.adam)(learning_rate=sched, b1=0.8)
    state = opt.init({"x": jnp.zeros(3)})
    assert float(state.hyperparams["learning_rate"]) == 1.0
    assert state.hyperparams["b1"].dtype == jnp.float32
    np.testing.assert_allclose(state.hyperparams["b1"], 0.8)
    assert int(state.count) == 0
    for k in range(3):
        _, state = opt.update({"x": jnp.ones(3)}, state)
        np.testing.assert_allclose(state.hyperparams["learning_rate"], sched(k), rtol=1e-6)


def test_changing_a_hyperparameter_mid_run_changes_the_next_update():
    params = {"x": jnp.array([1.0, -2.0, 3.0])}
    g = {"x": jnp.array([0.5, 0.25, -1.0])}
    opt = O.inject_hyperparams(O.sgd)(learning_rate=0.1)
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update(g, state, params)
    np.testing.assert_array_equal(updates["x"], -jnp.float32(0.1) * g["x"])
    # In place, as in optax's docs ...
    state.hyperparams["learning_rate"] = jnp.asarray(0.5)
    updates, state = opt.update(g, state, params)
    np.testing.assert_array_equal(updates["x"], -jnp.float32(0.5) * g["x"])
    assert float(state.hyperparams["learning_rate"]) == 0.5  # the new value persists
    # ... or functionally, inside jit.
    state = state._replace(hyperparams={**state.hyperparams, "learning_rate": jnp.float32(2.0)})
    updates, state = jax.jit(opt.update)(g, state, params)
    np.testing.assert_array_equal(updates["x"], -jnp.float32(2.0) * g["x"])


def test_changing_adam_hyperparameters_mid_run_matches_optax():
    params = _params(jnp.float32)
    grads = _grads(params, 12, seed=3)
    runs = []
    for opt in (
        O.inject_hyperparams(O.adam)(learning_rate=1e-2),
        optax.inject_hyperparams(optax.adam)(learning_rate=1e-2),
    ):
        state, ups, update = opt.init(params), [], jax.jit(opt.update)
        for t in range(12):
            if t == 6:
                state.hyperparams["learning_rate"] = jnp.float32(0.1)
                state.hyperparams["b2"] = jnp.float32(0.9)
            g = jax.tree.map(lambda x, t=t: x[t], grads)
            u, state = update(g, state, params)
            ups.append(u)
        runs.append(ups)
    chex.assert_trees_all_close(runs[0], runs[1], rtol=1e-6, atol=1e-7)
    # The step after the change is Adam's with the new values on the same moments.
    ratio = runs[0][6]["dense1"]["w"] / runs[0][5]["dense1"]["w"]
    assert float(jnp.median(jnp.abs(ratio))) > 3.0


def test_overriding_a_scheduled_hyperparameter_has_no_effect_like_optax():
    sched = S.constant_schedule(0.1)
    opt = O.inject_hyperparams(O.sgd)(learning_rate=sched)
    state = opt.init(jnp.zeros(2))
    state.hyperparams["learning_rate"] = jnp.asarray(5.0)
    updates, state = opt.update(jnp.ones(2), state)
    np.testing.assert_allclose(updates, -0.1 * jnp.ones(2), rtol=1e-6)
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.1, rtol=1e-6)


def test_vmap_over_learning_rate_equals_separate_runs():
    params = _params(jnp.float32)
    grads = _grads(params, 30, seed=1)
    lrs = [1e-3, 1e-2, 1e-1]

    def final(lr, lib=O):
        opt = lib.inject_hyperparams(lib.adam)(learning_rate=lr)
        return _run(opt, params, grads)[0]

    def final_peak(peak):
        sched = S.warmup_cosine_decay_schedule(0.0, peak, 5, 30)
        return _run(O.inject_hyperparams(O.sgd)(learning_rate=sched, momentum=0.9), params, grads)[
            0
        ]

    batched = jax.vmap(final)(jnp.array(lrs))
    batched_peak = jax.vmap(final_peak)(jnp.array(lrs))
    separate, separate_ref = jax.jit(final), jax.jit(lambda lr: final(lr, optax))
    for i, lr in enumerate(lrs):
        got = jax.tree.map(lambda x, i=i: x[i], batched)
        chex.assert_trees_all_close(got, separate(jnp.float32(lr)), rtol=1e-6, atol=1e-6)
        chex.assert_trees_all_close(got, separate_ref(jnp.float32(lr)), rtol=1e-6, atol=1e-6)
        # optax's warmup-cosine branches in Python on the peak: concrete peaks only.
        sched = optax.warmup_cosine_decay_schedule(0.0, lr, 5, 30)
        ref_peak = _run(optax.sgd(sched, momentum=0.9), params, grads)[0]
        got_peak = jax.tree.map(lambda x, i=i: x[i], batched_peak)
        chex.assert_trees_all_close(got_peak, ref_peak, rtol=1e-6, atol=1e-6)


def _clipped_sgd(learning_rate, clip_fn=jnp.tanh):
    """A factory with a non-schedule callable argument (for `static_args`)."""
    inner = optax.sgd(learning_rate)

    def update(updates, state, params=None):
        return inner.update(jax.tree.map(clip_fn, updates), state, params)

    return optax.GradientTransformation(inner.init, update)


def test_static_args_pass_callables_through_like_optax():
    params = _params(jnp.float32)
    grads = _grads(params, 10, seed=2)
    ours = O.inject_hyperparams(_clipped_sgd, static_args="clip_fn")(0.1, clip_fn=jnp.sin)
    ref = optax.inject_hyperparams(_clipped_sgd, static_args="clip_fn")(0.1, clip_fn=jnp.sin)
    p1, s1, *_ = _run(ours, params, grads)
    p2, *_ = _run(ref, params, grads)
    assert set(s1.hyperparams) == {"learning_rate"}
    chex.assert_trees_all_close(p1, p2, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="clip_fun"):
        O.inject_hyperparams(_clipped_sgd, static_args=["clip_fun"])


def test_hyperparam_dtype_and_params_dtype(x64):
    params = {"x": jnp.ones(3, jnp.float64)}
    g = {"x": jnp.full(3, 0.3, jnp.float64)}
    state = O.inject_hyperparams(O.adam)(learning_rate=0.1).init(params)
    assert state.hyperparams["learning_rate"].dtype == jnp.float64
    for dtype in (jnp.float32, jnp.float64):
        ours = O.inject_hyperparams(O.adam, hyperparam_dtype=dtype)(learning_rate=0.1)
        ref = optax.inject_hyperparams(optax.adam, hyperparam_dtype=dtype)(learning_rate=0.1)
        s1, s2 = ours.init(params), ref.init(params)
        assert s1.hyperparams["learning_rate"].dtype == dtype
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = ref.update(g, s2, params)
        chex.assert_trees_all_close(u1, u2, rtol=1e-12, atol=1e-14)
        assert u1["x"].dtype == u2["x"].dtype


def test_update_without_params_keeps_the_state_dtypes(x64):
    """float32 params under x64: the hyperparam dtype follows the gradients (scan-safe)."""
    params = {"x": jnp.ones(3, jnp.float32)}
    opt = O.inject_hyperparams(O.adam)(learning_rate=S.linear_schedule(0.1, 0.0, 10))
    state = opt.init(params)
    _, new_state = opt.update({"x": jnp.ones(3, jnp.float32)}, state)
    chex.assert_trees_all_equal_dtypes(new_state, state)


# ---------------------------------------------------------------------------
# partition
# ---------------------------------------------------------------------------


def _is_bias(leaf):
    return leaf.ndim <= 1


def _label_fn(params):
    return jax.tree.map(lambda x: "bias" if _is_bias(x) else "kernel", params)


def _partition_pair(kind):
    """(ours, optax) transform dicts with the same numerics."""
    if kind == "aliases":
        return (
            {"bias": O.sgd(0.1, momentum=0.9), "kernel": O.adamw(1e-2, weight_decay=0.1)},
            {"bias": optax.sgd(0.1, momentum=0.9), "kernel": optax.adamw(1e-2, weight_decay=0.1)},
        )
    if kind == "clip_inject":  # a global norm per group, a scheduled inner optimizer
        sched_o = S.cosine_decay_schedule(0.05, 40, alpha=0.1)
        sched_r = optax.cosine_decay_schedule(0.05, 40, alpha=0.1)
        return (
            {
                "bias": O.chain(O.clip_by_global_norm(0.5), O.sgd(0.1)),
                "kernel": O.inject_hyperparams(O.adamw)(learning_rate=sched_o),
            },
            {
                "bias": optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(0.1)),
                "kernel": optax.inject_hyperparams(optax.adamw)(learning_rate=sched_r),
            },
        )
    return (  # optax transforms inside jaxnn's partition
        {"bias": optax.sgd(0.1, momentum=0.9), "kernel": optax.adamw(1e-2, weight_decay=0.1)},
        {"bias": optax.sgd(0.1, momentum=0.9), "kernel": optax.adamw(1e-2, weight_decay=0.1)},
    )


@pytest.mark.parametrize(
    "kind, x64", [("aliases", False), ("aliases", True), ("clip_inject", False), ("optax", False)]
)
def test_partition_matches_optax(kind, x64):
    with _precision(x64):
        params = _params(jnp.float64 if x64 else jnp.float32)
        grads = _grads(params, 50)
        ours_tx, ref_tx = _partition_pair(kind)
        label_tree = _label_fn(params)
        ours = O.partition(ours_tx, _label_fn)
        _, s1, traj1, _ = _run(ours, params, grads)
        _, _, traj2, _ = _run(optax.partition(ref_tx, _label_fn), params, grads)
        _, _, traj3, _ = _run(optax.multi_transform(ref_tx, label_tree), params, grads)
        _, _, traj4, _ = _run(O.partition(ours_tx, label_tree), params, grads)
        tol = TOL[x64]
        chex.assert_trees_all_close(traj1, traj2, rtol=tol, atol=tol)
        chex.assert_trees_all_close(traj1, traj3, rtol=tol, atol=tol)
        chex.assert_trees_all_close(traj1, traj4, rtol=0, atol=0)  # labels as fn or tree
        assert isinstance(s1, PartitionState) and set(s1.inner_states) == {"bias", "kernel"}


def test_partition_groups_are_independent():
    """Biases get plain SGD (u = -lr g); kernels are never touched by the bias optimizer."""
    params = _params(jnp.float32)
    g = jax.tree.map(jnp.ones_like, params)
    opt = O.partition({"bias": O.sgd(0.1), "kernel": O.adamw(1e-2, weight_decay=0.1)}, _label_fn)
    updates, state = opt.update(g, opt.init(params), params)
    np.testing.assert_allclose(updates["dense1"]["b"], -0.1 * np.ones(3), rtol=1e-6)
    ref = optax.adamw(1e-2, weight_decay=0.1)
    kernels = {k: params[k]["w"] for k in params}
    ref_updates, _ = ref.update({k: g[k]["w"] for k in g}, ref.init(kernels), kernels)
    for k in params:
        np.testing.assert_allclose(updates[k]["w"], ref_updates[k], rtol=1e-6)


def test_partition_with_a_prefix_label_tree():
    params = _params(jnp.float32)
    grads = _grads(params, 10)
    labels = {"dense1": "frozen_ish", "dense2": "trained"}
    tx_o = {"frozen_ish": O.sgd(1e-4), "trained": O.adam(1e-2)}
    tx_r = {"frozen_ish": optax.sgd(1e-4), "trained": optax.adam(1e-2)}
    _, _, traj1, _ = _run(O.partition(tx_o, labels), params, grads)
    _, _, traj2, _ = _run(optax.partition(tx_r, labels), params, grads)
    chex.assert_trees_all_close(traj1, traj2, rtol=1e-6, atol=1e-6)


def test_partition_missing_label_error_names_the_label():
    params = _params(jnp.float32)
    opt = O.partition({"kernel": O.adam(1e-3)}, _label_fn)
    with pytest.raises(ValueError, match=r"'bias'") as info:
        opt.init(params)
    assert "kernel" in str(info.value)  # lists the keys it has
    with pytest.raises(ValueError, match="prefix"):
        O.partition({"a": O.sgd(0.1)}, {"dense1": "a", "other": "a"}).init(params)
