"""Tests for jaxnn.train: the step, evaluation, fit's safeguards, train_scan and optimize."""

import importlib.util
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import data, diagnostics, layers, losses, train

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _regression(n=64, d=3, seed=0):
    kx, kw = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    y = x @ jax.random.normal(kw, (d, 1)) + 0.5
    return x, y


def _linear_params(d=3):
    return {"w": jnp.zeros((d, 1)), "b": jnp.zeros((1,))}


def _mse_loss(params, batch):
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"][None, :] - y) ** 2)


def _counting_layer():
    """A Dense(1) whose state counts the train-mode calls (tests model_state threading)."""
    dense = layers.Dense(1)

    def init(key, input_shape):
        shape, params, _ = dense.init(key, input_shape)
        return shape, params, {"count": jnp.zeros((), jnp.int32)}

    def apply(params, state, x, *, key=None, train=False):
        y, _ = dense.apply(params, (), x)
        return y, {"count": state["count"] + int(train)}

    return layers.Layer(init, apply)


# ------------------------------------------------------------------- the step


def test_make_train_step_equals_a_manual_optax_step():
    x, y = _regression()
    opt = optax.adam(0.1)
    params = {"w": jnp.full((3, 1), 0.3), "b": jnp.ones((1,))}
    state = train.init_train_state(params, opt, jax.random.key(0))
    assert int(state.step) == 0 and state.model_state == ()
    step = train.make_train_step(train.stateless(_mse_loss), opt)

    p, s = params, opt.init(params)
    for _ in range(3):
        state, metrics = step(state, (x, y))
        loss, grads = jax.value_and_grad(_mse_loss)(p, (x, y))
        updates, s = opt.update(grads, s, p)
        chex.assert_trees_all_close(metrics["loss"], loss, rtol=1e-6)
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))
        chex.assert_trees_all_close(metrics["grad_norm"], norm, rtol=1e-6)
        p = optax.apply_updates(p, updates)
        chex.assert_trees_all_close(state.params, p, rtol=1e-6, atol=1e-7)
        chex.assert_trees_all_close(state.opt_state, s, rtol=1e-6, atol=1e-7)
    assert int(state.step) == 3


def test_step_splits_the_key_and_passes_params_to_the_optimizer():
    x, y = _regression()
    seen = []

    def loss_fn(params, model_state, batch, key):
        seen.append(key)
        return _mse_loss(params, batch), model_state

    key = jax.random.key(7)
    opt = optax.adamw(0.1, weight_decay=0.5)  # needs params in update
    state = train.init_train_state(_linear_params(), opt, key)
    new_state, _ = train.make_train_step(loss_fn, opt, jit=False)(state, (x, y))
    expected_carry, expected_step_key = jax.random.split(key)
    chex.assert_trees_all_equal(
        jax.random.key_data(seen[0]), jax.random.key_data(expected_step_key)
    )
    chex.assert_trees_all_equal(
        jax.random.key_data(new_state.key), jax.random.key_data(expected_carry)
    )


def test_supervised_loss_with_penalty_and_raw_uint32_key():
    model = layers.Dense(1)
    _, params, state = model.init(jax.random.PRNGKey(0), (-1, 3))
    x, y = _regression()
    loss_fn = train.supervised_loss(model, losses.mse, penalty=losses.l2_penalty)
    value, new_state = loss_fn(params, state, (x, y), jax.random.PRNGKey(1))
    expected = losses.mse(x @ params["w"] + params["b"][None, :], y) + losses.l2_penalty(params)
    chex.assert_trees_all_close(value, expected, rtol=1e-6)
    assert new_state == ()


# ------------------------------------------------------------------ evaluate


def test_evaluate_equals_a_manual_computation():
    model = layers.serial(layers.Dense(16), layers.Relu, layers.Dense(4))
    _, params, state = model.init(jax.random.key(0), (-1, 5))
    x = jax.random.normal(jax.random.key(1), (50, 5))
    y = jax.random.randint(jax.random.key(2), (50,), 0, 4)
    logits, _ = model.apply(params, state, x)
    manual_acc = float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y)))
    manual_loss = float(losses.softmax_cross_entropy(logits, y))

    full = train.evaluate(model, params, state, x, y)
    assert full["accuracy"] == pytest.approx(manual_acc, abs=1e-12)
    assert full["loss"] == pytest.approx(manual_loss, rel=1e-5)
    batched = train.evaluate(model, params, state, x, y, batch_size=7)  # last batch of 1
    assert batched["accuracy"] == pytest.approx(manual_acc, abs=1e-12)
    assert batched["loss"] == pytest.approx(manual_loss, rel=1e-5)
    one_hot = train.evaluate(model, params, state, x, jax.nn.one_hot(y, 4), batch_size=16)
    assert one_hot["accuracy"] == pytest.approx(manual_acc, abs=1e-12)


def test_evaluate_uses_eval_mode_and_regression_accuracy_is_nan():
    model = layers.serial(layers.Dense(1), layers.Dropout(0.9))
    _, params, state = model.init(jax.random.key(0), (-1, 3))
    x, y = _regression()
    out = train.evaluate(model, params, state, x, y, loss=losses.mse, batch_size=10)
    expected = losses.mse(x @ params[0]["w"] + params[0]["b"][None, :], y)  # no dropout at eval
    assert out["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert np.isnan(out["accuracy"])
    with pytest.raises(ValueError, match="same leading"):
        train.evaluate(model, params, state, x, y[:10], loss=losses.mse)


# ----------------------------------------------------------------------- fit


def _classification(n=120, seed=0):
    x = jax.random.normal(jax.random.key(seed), (n, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(jnp.int32)
    return np.asarray(x), np.asarray(y)


def test_fit_history_lengths_and_model_state():
    x, y = _classification()
    model = _counting_layer()
    _, params, state = model.init(jax.random.key(0), (-1, 4))
    res = train.fit(
        model,
        params,
        optax.sgd(0.1),
        (x, y[:, None].astype(np.float32)),
        key=jax.random.key(1),
        epochs=3,
        batch_size=32,  # 120 // 32 = 3 steps per epoch, remainder dropped
        model_state=state,
        loss=losses.mse,
        val_data=(x[:50], y[:50, None].astype(np.float32)),
        progress=False,
    )
    h = res.history
    assert len(h["loss"]) == len(h["grad_norm"]) == 9
    assert len(h["val_loss"]) == len(h["val_accuracy"]) == len(h["epoch_loss"]) == 3
    assert h["epoch_loss"][0] == pytest.approx(np.mean(h["loss"][:3]))
    assert int(res.model_state["count"]) == 9
    assert not res.diverged and not res.stopped_early and res.diverged_step is None
    assert res.message == "Finished 3 epochs (9 steps)."


def test_fit_accepts_a_dataset_and_learns():
    x, y = _classification(200)
    ds = data.Dataset(x[:150], y[:150], x[150:], y[150:])
    model = layers.serial(layers.Dense(16), layers.Relu, layers.Dense(2))
    _, params, state = model.init(jax.random.key(0), (-1, 4))
    res = train.fit(
        model, params, optax.adam(1e-2), ds, key=jax.random.key(0), epochs=20,
        batch_size=25, model_state=state, val_data=(ds.x_test, ds.y_test), progress=False,
    )  # fmt: skip
    assert len(res.history["loss"]) == 20 * 6
    assert res.history["val_accuracy"][-1] > 0.9
    assert diagnostics.diagnose(res.history["epoch_loss"])["decreased"]


def _counter_model():
    """Params {"t": scalar}; outputs t. With loss -t and SGD(1), t counts the steps."""

    def init(key, input_shape):
        return (), {"t": jnp.zeros(())}, ()

    def apply(params, state, x, *, key=None, train=False):
        return params["t"], state

    return layers.Layer(init, apply)


def test_fit_stops_on_a_nan_loss_at_a_known_step():
    model = _counter_model()
    _, params, state = model.init(None, ())

    def nan_from_5(t, y):  # loss -t while t < 5, NaN from t = 5 on
        return -t + jnp.where(t >= 5, jnp.nan, 0.0)

    x = np.zeros((8, 1), np.float32)
    res = train.fit(
        model, params, optax.sgd(1.0), (x, x), key=jax.random.key(0), epochs=4,
        batch_size=2, loss=nan_from_5, progress=False,
    )  # fmt: skip
    assert res.diverged and res.diverged_step == 5
    assert float(res.params["t"]) == 5.0  # the NaN step's update was discarded
    assert len(res.history["loss"]) == 6 and np.isnan(res.history["loss"][-1])
    assert res.history["loss"][:5] == [0.0, -1.0, -2.0, -3.0, -4.0]
    assert diagnostics.first_nonfinite(res.history["loss"]) == 5
    assert "diverged at step 5 (epoch 1, batch 1)" in res.message
    assert len(res.history["epoch_loss"]) == 1  # epoch 1 did not complete


def test_fit_stops_when_the_optimizer_produces_nan_params():
    def init(params):
        return jnp.zeros((), jnp.int32)

    def update(grads, count, params=None):  # SGD(0.1) that returns NaN at its 4th call
        bad = jnp.where(count == 3, jnp.nan, 1.0)
        return jax.tree.map(lambda g: -0.1 * g * bad, grads), count + 1

    x, y = _regression()
    res = train.fit(
        layers.Dense(1), _linear_params(), optax.GradientTransformation(init, update), (x, y),
        key=jax.random.key(0), epochs=2, batch_size=16, loss=losses.mse, progress=False,
    )  # fmt: skip
    assert res.diverged and res.diverged_step == 3
    assert int(res.opt_state) == 3
    assert all(np.isfinite(res.history["loss"])) and len(res.history["loss"]) == 4
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(res.params))
    assert "update made the parameters non-finite" in res.message


def test_fit_with_a_huge_learning_rate_returns_the_last_finite_params():
    x, y = _regression(n=32)
    model = layers.Dense(1)
    opt = optax.sgd(1e3)
    res = train.fit(
        model, _linear_params(), opt, (x, y), key=jax.random.key(0), epochs=500,
        batch_size=32, loss=losses.mse, progress=False,
    )  # fmt: skip
    assert res.diverged and 0 < res.diverged_step < 100
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(res.params))
    # Replay the full-batch steps by hand: fit returned the state before the bad step.
    step = train.make_train_step(train.supervised_loss(model, losses.mse), opt)
    state = train.init_train_state(_linear_params(), opt, jax.random.key(0))
    for _ in range(res.diverged_step):
        state, _ = step(state, (x, y))
    chex.assert_trees_all_close(res.params, state.params, rtol=1e-4)
    nxt, metrics = step(state, (x, y))  # ... and the next step is the bad one
    finite_params = all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(nxt.params))
    assert not (bool(jnp.isfinite(metrics["loss"])) and finite_params)


def _conflicting_data():
    """Validation targets are the negated training targets: training makes val loss worse."""
    x, y = _regression(n=64)
    return (x, y), (x, -y)


def test_early_stopping_restores_the_best_epoch():
    train_data, val_data = _conflicting_data()
    kwargs = dict(
        key=jax.random.key(3), batch_size=16, loss=losses.mse, val_data=val_data, progress=False
    )
    model = layers.Dense(1)
    res = train.fit(model, _linear_params(), optax.sgd(0.05), train_data, epochs=50,
                    patience=2, **kwargs)  # fmt: skip
    assert res.stopped_early and not res.diverged
    val = res.history["val_loss"]
    assert len(val) == 3 and val[0] < val[1] < val[2]  # best epoch 0, then 2 bad epochs
    assert "restored the parameters of epoch 0" in res.message
    one_epoch = train.fit(model, _linear_params(), optax.sgd(0.05), train_data, epochs=1, **kwargs)
    chex.assert_trees_all_close(res.params, one_epoch.params, rtol=1e-6)
    chex.assert_trees_all_close(res.opt_state, one_epoch.opt_state, rtol=1e-6)
    # Patience that never runs out still returns the best epoch's params.
    res = train.fit(model, _linear_params(), optax.sgd(0.05), train_data, epochs=3,
                    patience=10, **kwargs)  # fmt: skip
    assert not res.stopped_early and "best epoch 0" in res.message
    chex.assert_trees_all_close(res.params, one_epoch.params, rtol=1e-6)


def test_fit_progress_bar_is_off_unless_asked(capsys):
    x, y = _regression(n=16)
    args = (layers.Dense(1), _linear_params(), optax.sgd(0.1), (x, y))
    kwargs = dict(key=jax.random.key(0), epochs=2, batch_size=8, loss=losses.mse)
    train.fit(*args, **kwargs)  # progress=None: pytest's capture is not a terminal
    train.fit(*args, progress=False, **kwargs)
    assert capsys.readouterr().err == ""
    train.fit(*args, progress=True, **kwargs)
    assert "fit" in capsys.readouterr().err


def test_fit_errors():
    x, y = _regression(n=16)
    model = layers.Dense(1)
    kw = dict(key=jax.random.key(0), epochs=1, loss=losses.mse, progress=False)
    with pytest.raises(ValueError, match=r"batch_size` \(32\) is larger than the number of"):
        train.fit(model, _linear_params(), optax.sgd(0.1), (x, y), batch_size=32, **kw)
    with pytest.raises(ValueError, match="needs `val_data`"):
        train.fit(model, _linear_params(), optax.sgd(0.1), (x, y), batch_size=8, patience=2, **kw)
    with pytest.raises(ValueError, match="same leading"):
        train.fit(model, _linear_params(), optax.sgd(0.1), (x, y[:8]), batch_size=8, **kw)
    # Parameters that do not fit the model: the layer's own error comes through.
    wrong = {"w": jnp.zeros((5, 1)), "b": jnp.zeros((1,))}
    with pytest.raises(ValueError, match="Dense"):
        train.fit(model, wrong, optax.sgd(0.1), (x, y), batch_size=8, **kw)


# ---------------------------------------------------------------- train_scan


def test_train_scan_equals_a_loop_of_make_train_step():
    x, y = _regression(n=50)
    opt = optax.sgd(0.05, momentum=0.9)
    key = jax.random.key(11)
    state, hist = train.train_scan(
        train.stateless(_mse_loss), opt, _linear_params(), (x, y), key=key, num_steps=7,
        batch_size=16,
    )  # fmt: skip
    assert hist["loss"].shape == hist["grad_norm"].shape == (7,)
    # The documented batching: 50 // 16 = 3 steps per epoch, ceil(7 / 3) = 3 epochs.
    data_key, train_key = jax.random.split(key)
    perms = [jax.random.permutation(k, 50) for k in jax.random.split(data_key, 3)]
    idx = [p[i * 16 : (i + 1) * 16] for p in perms for i in range(3)][:7]
    step = train.make_train_step(train.stateless(_mse_loss), opt)
    ref = train.init_train_state(_linear_params(), opt, train_key)
    for t in range(7):
        ref, m = step(ref, (x[idx[t]], y[idx[t]]))
        chex.assert_trees_all_close(hist["loss"][t], m["loss"], rtol=1e-5)
    chex.assert_trees_all_close(state.params, ref.params, rtol=1e-5, atol=1e-6)
    assert int(state.step) == 7


def test_train_scan_record_params_equals_a_loop_of_make_train_step():
    x, y = _regression(n=40)
    opt, loss_fn = optax.adam(0.05), train.stateless(_mse_loss)
    key = jax.random.key(3)
    run = lambda **kw: train.train_scan(
        loss_fn, opt, _linear_params(), (x, y), key=key, num_steps=6, batch_size=16, **kw
    )
    state, hist = run(record_params=True)
    chex.assert_shape([hist["params"]["w"], hist["params"]["b"]], [(6, 3, 1), (6, 1)])
    # The documented batching: 40 // 16 = 2 steps per epoch, 3 epochs.
    data_key, train_key = jax.random.split(key)
    perms = [jax.random.permutation(k, 40) for k in jax.random.split(data_key, 3)]
    idx = [p[i * 16 : (i + 1) * 16] for p in perms for i in range(2)]
    step = train.make_train_step(loss_fn, opt)
    ref = train.init_train_state(_linear_params(), opt, train_key)
    for t in range(6):
        ref, _ = step(ref, (x[idx[t]], y[idx[t]]))
        recorded = jax.tree.map(lambda a, t=t: a[t], hist["params"])
        chex.assert_trees_all_close(recorded, ref.params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[-1], hist["params"]), state.params)
    _, plain = run()  # off by default: the history is unchanged
    assert sorted(plain) == ["grad_norm", "loss"]
    chex.assert_trees_all_close(plain["loss"], hist["loss"], rtol=1e-6)


def test_train_scan_vmap_over_learning_rates_equals_separate_runs():
    x, y = _regression(n=64)
    lrs = jnp.asarray([0.01, 0.03, 0.1, 0.3])
    key = jax.random.key(0)

    def run(lr):
        return train.train_scan(
            train.stateless(_mse_loss), optax.adam(lr), _linear_params(), (x, y), key=key,
            num_steps=40, batch_size=16,
        )  # fmt: skip

    states, hist = jax.jit(jax.vmap(run))(lrs)
    assert hist["loss"].shape == (4, 40)
    for i, lr in enumerate(lrs):
        state_i, hist_i = jax.jit(run)(lr)
        chex.assert_trees_all_close(hist["loss"][i], hist_i["loss"], rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, i=i: a[i], states.params), state_i.params, rtol=1e-5, atol=1e-6
        )


def test_train_scan_vmap_over_keys_threads_model_state():
    model = _counting_layer()
    _, params, state = model.init(jax.random.key(0), (-1, 3))
    x, y = _regression(n=32)
    keys = jax.random.split(jax.random.key(1), 3)
    run = lambda k: train.train_scan(  # noqa: E731
        train.supervised_loss(model, losses.mse), optax.sgd(0.1), params, (x, y), key=k,
        num_steps=5, batch_size=8, model_state=state,
    )  # fmt: skip
    states, hist = jax.vmap(run)(keys)
    np.testing.assert_array_equal(states.model_state["count"], [5, 5, 5])
    assert not np.allclose(hist["loss"][0], hist["loss"][1])  # different shuffles


def test_train_scan_errors():
    x, y = _regression(n=10)
    with pytest.raises(ValueError, match="larger than the number of training examples"):
        train.train_scan(train.stateless(_mse_loss), optax.sgd(0.1), _linear_params(), (x, y),
                         key=jax.random.key(0), num_steps=3, batch_size=11)  # fmt: skip
    with pytest.raises(ValueError, match="same leading dimension"):
        train.train_scan(train.stateless(_mse_loss), optax.sgd(0.1), _linear_params(),
                         (x, y[:5]), key=jax.random.key(0), num_steps=3, batch_size=2)  # fmt: skip


# ------------------------------------------------------------------ optimize


def test_optimize_trajectory_equals_a_python_loop():
    def rosen(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    opt = optax.adam(0.02)
    x0 = jnp.asarray([-0.5, 1.5])
    final, hist = train.optimize(rosen, opt, x0, 25)
    assert hist["loss"].shape == (26,) and hist["params"].shape == (26, 2)
    assert hist["grad_norm"].shape == (25,)
    p, s = x0, opt.init(x0)
    for t in range(25):
        chex.assert_trees_all_close(hist["params"][t], p, rtol=1e-6)
        chex.assert_trees_all_close(hist["loss"][t], rosen(p), rtol=1e-6)
        updates, s = opt.update(jax.grad(rosen)(p), s, p)
        p = optax.apply_updates(p, updates)
    chex.assert_trees_all_close(final, p, rtol=1e-6)
    chex.assert_trees_all_close(hist["params"][-1], p, rtol=1e-6)
    chex.assert_trees_all_close(hist["loss"][-1], rosen(p), rtol=1e-6)


def test_optimize_vmaps_over_starting_points_and_pytrees():
    fn = lambda p: jnp.sum(p["a"] ** 2) + p["b"] ** 2  # noqa: E731
    starts = {"a": jnp.ones((3, 2)), "b": jnp.asarray([1.0, 2.0, 3.0])}
    finals, hist = jax.vmap(lambda p: train.optimize(fn, optax.sgd(0.25), p, 4))(starts)
    assert hist["params"]["a"].shape == (3, 5, 2) and hist["loss"].shape == (3, 5)
    np.testing.assert_allclose(finals["b"], starts["b"] * 0.5**4)


# ---------------------------------------------------- MNIST-1D acceptance


def _script():
    spec = importlib.util.spec_from_file_location(
        "train_mnist1d", ROOT / "scripts" / "train_mnist1d.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mnist1d_mlp_test_accuracy(seeds, num_steps):
    """Test accuracy of the script's MLP after `num_steps` Adam steps, one vmapped run per seed."""
    ds = data.mnist1d()
    model = layers.mlp([256, 256, 10])

    def run(seed):
        init_key, key = jax.random.split(jax.random.key(seed))
        _, params, state = model.init(init_key, (-1, 40))
        final, _ = train.train_scan(
            train.supervised_loss(model), optax.adam(1e-2), params, (ds.x_train, ds.y_train),
            key=key, num_steps=num_steps, batch_size=100,
        )  # fmt: skip
        logits, _ = model.apply(final.params, state, ds.x_test)
        return losses.accuracy(logits, ds.y_test)

    return np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(seeds)))


def test_mnist1d_mlp_learns_over_seeds():
    """MLP 40-256-256-10, Adam 1e-2, 800 steps (20 epochs), 4 seeds in one vmapped train_scan.

    Measured (2-core AMD EPYC, 6 seeds, default ISA / AVX / SSE4.2): mean 0.652 / 0.661 /
    0.661, single-seed spread (std) 0.023-0.026; a seed's accuracy moves by 2-3 points
    between CPUs and with the vmap batch size (XLA emits different code per instruction
    set and per batch shape). An earlier bound, mean - 3 * (standard error estimated from
    these 4 seeds) >= 0.62, failed on one CPU at 0.617: a standard error estimated from 4
    samples is itself noisy. So the test asserts the mean of the 4 seeds against 0.60, four
    standard errors (0.025 / sqrt(4)) below the measured means, and every seed against 0.50
    (the logistic model reaches 0.32): the MLP learns, on every CPU.
    """
    acc = _mnist1d_mlp_test_accuracy([0, 1, 2, 3], 800)
    assert acc.mean() >= 0.60, acc
    assert acc.min() >= 0.50, acc


@pytest.mark.slow
def test_mnist1d_mlp_accuracy():
    """The script's MLP (6000 steps) reaches the MNIST-1D paper's 68 % on average over seeds.

    Seeds 0/1/2 gave 70.8/69.0/68.9 % on an Intel Xeon; seed 0 gives 67.2 % on an AMD
    EPYC. The mean over the 3 seeds, plus two standard errors, must reach 68 %.
    """
    acc = np.asarray([_script().train_mnist1d("mlp", seed=s, progress=False)["test_accuracy"]
                      for s in range(3)])  # fmt: skip
    assert acc.mean() + 2 * acc.std(ddof=1) / np.sqrt(len(acc)) >= 0.68, acc


@pytest.mark.slow
@pytest.mark.parametrize("name, low, high", [("logreg", 0.28, 0.37), ("cnn", 0.90, 1.0)])
def test_mnist1d_logreg_and_cnn_accuracy(name, low, high):
    out = _script().train_mnist1d(name, seed=0, progress=False)
    assert low <= out["test_accuracy"] <= high, out["test_accuracy"]
