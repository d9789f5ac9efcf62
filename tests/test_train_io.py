"""`fit`/`evaluate` on your own data, extra-args optimizers, and the logging callbacks."""

import csv
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import data, layers, losses, train

_MODEL = layers.serial(layers.Dense(8), layers.Relu, layers.Dense(2))
_OPT = optax.sgd(0.1, momentum=0.9)


def _arrays(n=48):
    x = np.asarray(jax.random.normal(jax.random.key(0), (n, 4)), np.float32)
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int32)


def _params():
    return _MODEL.init(jax.random.key(1), (-1, 4))[1]


class _Tensor:
    """Stands in for a torch tensor: numpy-convertible through `__array__` only."""

    def __init__(self, a):
        self._a = np.asarray(a)

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


class _Loader:
    """Stands in for a DataLoader: `iter()` starts a fresh pass, batches are tensors."""

    def __init__(self, batches):
        self._batches = batches

    def __iter__(self):
        return iter([(_Tensor(x), _Tensor(y)) for x, y in self._batches])

    def __len__(self):
        return len(self._batches)


def test_fit_and_evaluate_accept_iterables_of_batches():
    x, y = _arrays()
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)]
    fit = lambda d: train.fit(_MODEL, _params(), _OPT, d, key=jax.random.key(0), epochs=3,  # noqa: E731
                              progress=False)  # fmt: skip
    results = [fit(batches), fit(lambda: iter(batches)), fit(_Loader(batches))]
    # Reference: the same batches, in the same order, every epoch, through make_train_step.
    step = train.make_train_step(train.supervised_loss(_MODEL), _OPT)
    _, train_key = jax.random.split(jax.random.key(0))
    state = train.init_train_state(_params(), _OPT, train_key)
    for _ in range(3):
        for b in batches:
            state, _ = step(state, b)
    for res in results:
        assert len(res.history["loss"]) == 9 and len(res.history["epoch_loss"]) == 3
        chex.assert_trees_all_close(res.params, state.params, rtol=1e-6, atol=1e-7)
    full = train.evaluate(_MODEL, state.params, (), x, y, batch_size=16)
    for d in (batches, _Loader(batches), (x, y), iter(batches)):  # a one-shot pass is fine here
        got = train.evaluate(_MODEL, state.params, (), d)
        assert got["accuracy"] == pytest.approx(full["accuracy"], abs=1e-12)
        assert got["loss"] == pytest.approx(full["loss"], rel=1e-6)
    with pytest.raises(TypeError, match="one-shot iterator"):
        train.fit(_MODEL, _params(), _OPT, iter(batches), key=jax.random.key(0), epochs=2)


def test_lbfgs_through_optimize_matches_optax_documented_loop():
    def rosenbrock(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    x0, opt, steps = jnp.asarray([-1.2, 1.0]), optax.lbfgs(), 60
    final, hist = train.optimize(rosenbrock, opt, x0, steps)
    # optax's documented L-BFGS loop (its value_and_grad_from_state reuses the line
    # search's value and gradient), as a fixed-length scan instead of a while_loop.
    value_and_grad = optax.value_and_grad_from_state(rosenbrock)

    def step(carry, _):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(
            grad, state, params, value=value, grad=grad, value_fn=rosenbrock
        )
        return (optax.apply_updates(params, updates), state), params

    (ref, _), traj = jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)
    # Same algorithm and program structure; the value/gradient are recomputed here but
    # reused from the line search there, which XLA may round differently in the last
    # bit: a float32 tolerance of a few ulps, not bit-equality.
    np.testing.assert_allclose(hist["params"][:-1], traj, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, [1.0, 1.0], atol=1e-4)  # Rosenbrock's minimum


def test_reduce_on_plateau_lowers_the_rate_in_fit():
    x = np.asarray(jax.random.normal(jax.random.key(3), (64, 3)), np.float32)
    noise = np.asarray(jax.random.normal(jax.random.key(4), (64, 1)), np.float32)
    y = x @ np.ones((3, 1), np.float32) + noise  # the loss plateaus at the noise floor
    opt = optax.chain(
        optax.sgd(0.1), optax.contrib.reduce_on_plateau(patience=3, factor=0.5, accumulation_size=1)
    )
    params = {"w": jnp.zeros((3, 1)), "b": jnp.zeros((1,))}
    res = train.fit(layers.Dense(1), params, opt, (x, y), key=jax.random.key(0), epochs=10,
                    batch_size=16, loss=losses.mse, progress=False)  # fmt: skip
    plateau = res.opt_state[1]
    assert float(plateau.scale) < 1.0  # the rate was reduced (it starts at 1)
    assert float(plateau.best_value) == pytest.approx(min(res.history["loss"]), rel=1e-6)


def test_csv_and_json_loggers_write_every_event(tmp_path):
    x, y = _arrays()
    loggers = [
        train.CSVLogger(tmp_path / "log.csv", every_steps=2),
        train.JSONLogger(tmp_path / "log.json", every_steps=2),
    ]
    seen = []
    res = train.fit(_MODEL, _params(), _OPT, (x, y), key=jax.random.key(0), epochs=2,
                    batch_size=16, val_data=(x, y), progress=False,
                    callbacks=[*loggers, seen.append])  # fmt: skip
    assert [i.event for i in seen] == ["epoch", "epoch"] and seen[-1].step == 6
    chex.assert_trees_all_equal(seen[-1].params, res.params)
    records = json.loads((tmp_path / "log.json").read_text())
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [("step", 2), ("epoch", 3), ("step", 4), ("step", 6), ("epoch", 6)]
    assert [(r["event"], r["step"]) for r in records] == expected
    assert [(r["event"], int(r["step"])) for r in rows] == expected
    h = res.history
    for got in (records, [{k: v for k, v in r.items() if v != ""} for r in rows]):
        assert [float(r["loss"]) for r in got if r["event"] == "step"] == pytest.approx(
            [h["loss"][1], h["loss"][3], h["loss"][5]], rel=1e-7
        )
        epochs = [r for r in got if r["event"] == "epoch"]
        assert [float(r["epoch_loss"]) for r in epochs] == h["epoch_loss"]
        assert [float(r["val_accuracy"]) for r in epochs] == h["val_accuracy"]


def test_dataset_and_data_batches_are_still_accepted():
    x, y = _arrays()
    ds = data.Dataset(x, y, x[:8], y[:8])
    res = train.fit(_MODEL, _params(), _OPT, ds, key=jax.random.key(0), epochs=1,
                    batch_size=16, progress=False)  # fmt: skip
    assert len(res.history["loss"]) == 3


def test_lbfgs_in_train_scan_solves_least_squares():
    x = np.asarray(jax.random.normal(jax.random.key(5), (32, 3)), np.float32)
    y = x @ np.asarray([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    params = {"w": jnp.zeros((3, 1)), "b": jnp.zeros((1,))}
    loss_fn = train.stateless(lambda p, b: jnp.mean((b[0] @ p["w"] + p["b"][None, :] - b[1]) ** 2))
    # Full batch (batch_size = n): every step's value_fn is the whole least-squares loss.
    state, hist = train.train_scan(loss_fn, optax.lbfgs(), params, (x, y), key=jax.random.key(0),
                                   num_steps=20, batch_size=32)  # fmt: skip
    design = np.concatenate([x, np.ones((32, 1), np.float32)], axis=1)
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    # float32 normal equations of a well-conditioned 4-unknown problem: ~1e-5 absolute.
    np.testing.assert_allclose(state.params["w"], solution[:3], atol=1e-4)
    np.testing.assert_allclose(state.params["b"], solution[3], atol=1e-4)
    assert float(hist["loss"][-1]) < 1e-8
