"""Slices (interpolate / slice_1d / slice_2d), dataset losses, sharding and bad input."""

import json
import os
import subprocess
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import landscape as L
from jaxnn._engine import ById

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def compiles():
    """A list that grows by one entry per XLA compilation while the test runs."""
    events = []

    def listener(event, duration, **kwargs):
        if event == _COMPILE_EVENT:
            events.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield events
    jax.monitoring.unregister_event_duration_listener(listener)


def _mlp_problem(seed=0):
    k = jax.random.split(jax.random.key(seed), 6)
    params = {
        "l1": {"w": jax.random.normal(k[0], (3, 8)), "b": jax.random.normal(k[1], (8,))},
        "l2": {"w": jax.random.normal(k[2], (8, 1)), "b": jnp.zeros(1)},
    }
    x, y = jax.random.normal(k[3], (16, 3)), jax.random.normal(k[4], (16, 1))

    def loss_fn(p):
        h = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"][None, :])
        return jnp.mean((h @ p["l2"]["w"] + p["l2"]["b"][None, :] - y) ** 2)

    dx = L.random_direction(jax.random.key(10), params)
    dy = L.random_direction(jax.random.key(11), params, ignore=None)
    return loss_fn, params, dx, dy


def _axpy(p, *terms):
    """p + c1 * d1 + c2 * d2 + ... for terms = (c1, d1, c2, d2, ...)."""
    for c, d in zip(terms[::2], terms[1::2], strict=True):
        p = jax.tree.map(lambda u, v, c=c: u + c * v, p, d)
    return p


def _loop_2d(loss_fn, p, dx, dy, xs, ys):
    f = jax.jit(loss_fn)
    return np.array([[f(_axpy(p, x, dx, y, dy)) for x in xs] for y in ys])


def test_slice_2d_equals_python_loop_for_any_chunk_size(compiles):
    loss_fn, p, dx, dy = _mlp_problem()
    xs, ys = jnp.linspace(-1, 1, 6), jnp.linspace(-0.5, 1.5, 5)  # asymmetric grid
    want = _loop_2d(loss_fn, p, dx, dy, xs, ys)
    for chunk in (None, 1, 7, 1000):
        z = L.slice_2d(loss_fn, p, dx, dy, xs, ys, chunk_size=chunk)
        assert z.shape == (5, 6)
        np.testing.assert_allclose(z, want, rtol=2e-5, atol=1e-6)
    _, info = L.slice_2d(loss_fn, p, dx, dy, xs, ys, return_info=True)
    assert (info.chunk_size, info.num_chunks, info.num_padded) == (30, 1, 30)
    _, info = L.slice_2d(loss_fn, p, dx, dy, xs, ys, chunk_size=7, return_info=True)
    assert info.num_padded == 35  # padded to whole chunks
    xs2 = xs + 1
    n = len(compiles)
    z2 = L.slice_2d(loss_fn, p, dx, dy, xs2, ys, chunk_size=7)  # same shapes, new values
    assert len(compiles) == n, f"recompiled: {compiles[n:]}"
    np.testing.assert_allclose(z2, _loop_2d(loss_fn, p, dx, dy, xs2, ys), rtol=2e-5)


def test_slice_2d_orientation_rows_follow_ys():
    loss_fn = lambda p: p["v"][0] + 0.0 * p["v"][1]  # only the dx coordinate matters
    p = {"v": jnp.zeros(2)}
    dx, dy = {"v": jnp.array([1.0, 0.0])}, {"v": jnp.array([0.0, 1.0])}
    xs, ys = jnp.array([0.0, 1.0, 2.0, 3.0]), jnp.array([-1.0, 5.0, 7.0])
    z = np.asarray(L.slice_2d(loss_fn, p, dx, dy, xs, ys, chunk_size=5))
    assert z.shape == (3, 4)
    np.testing.assert_array_equal(z, np.broadcast_to(np.asarray(xs), (3, 4)))
    z = np.asarray(L.slice_2d(lambda q: q["v"][1], p, dx, dy, xs, ys))
    np.testing.assert_array_equal(z, np.broadcast_to(np.asarray(ys)[:, None], (3, 4)))


def test_slice_1d_and_interpolate_equal_loops(compiles):
    loss_fn, p, dx, _ = _mlp_problem(1)
    alphas = jnp.linspace(-1, 2, 11)
    f = jax.jit(loss_fn)
    want = np.array([f(_axpy(p, a, dx)) for a in alphas])
    np.testing.assert_allclose(L.slice_1d(loss_fn, p, dx, alphas, chunk_size=4), want, rtol=2e-5)
    q = _axpy(p, 1.0, dx)
    mix = lambda a: jax.tree.map(lambda u, v: (1 - a) * u + a * v, p, q)
    want = np.array([f(mix(a)) for a in alphas])
    got = L.interpolate(loss_fn, p, q, alphas)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    alphas2 = alphas * 2
    n = len(compiles)
    L.interpolate(loss_fn, p, q, alphas2)
    assert len(compiles) == n, f"recompiled: {compiles[n:]}"


def test_grid_is_one_program_not_per_point_python():
    calls = []
    loss_fn, p, dx, dy = _mlp_problem()

    def counted(q):
        calls.append(1)
        return loss_fn(q)

    xs = jnp.linspace(-1, 1, 101)
    z = L.slice_2d(counted, p, dx, dy, xs, xs)
    assert z.shape == (101, 101) and bool(jnp.all(jnp.isfinite(z)))
    assert len(calls) <= 3  # eval_shape check + one trace, not 10201 calls
    # the default chunk keeps chunk * nbytes(params) under the backend's budget
    # (256 MiB on accelerators, 8 MiB on CPU, where big chunks fall out of cache)
    from jaxnn import _engine

    budget = _engine.CPU_CHUNK_BYTES if jax.default_backend() == "cpu" else _engine.MAX_CHUNK_BYTES
    big = {"w": jax.ShapeDtypeStruct((1000, 1000), jnp.float32)}
    assert L.default_chunk_size(big, 10201) == max(1, budget // 4_000_000)
    nbytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(p))
    assert L.default_chunk_size(p, 10201) == min(10201, budget // nbytes)
    # activations count too: 4 MiB per evaluation -> at most budget / 4 MiB points per chunk
    wide = lambda q: jnp.sum(jnp.tanh(jnp.ones((1024, 1024)) * q["l2"]["b"][0]))
    assert L.default_chunk_size(p, 10201, wide) <= max(1, budget // 2**22)
    _, info = L.slice_2d(wide, p, dx, dy, xs[:10], xs[:10], return_info=True)
    assert info.chunk_size <= max(1, budget // 2**22) and info.num_chunks * info.chunk_size >= 100


_SHARDED = """
import json, jax, jax.numpy as jnp, numpy as np
from jaxnn import landscape as L
from jaxnn._engine import ById
k = jax.random.split(jax.random.key(0), 3)
p = {"w": jax.random.normal(k[0], (4, 3)), "b": jnp.zeros(3)}
x = jax.random.normal(k[1], (10, 4))
loss_fn = lambda q: jnp.mean(jnp.tanh(x @ q["w"] + q["b"][None, :]) ** 2)
dx = L.random_direction(k[2], p)
dy = L.random_direction(jax.random.key(5), p)
xs, ys = jnp.linspace(-1, 1, 7), jnp.linspace(-2, 1, 5)
z, info = L.slice_2d(loss_fn, p, dx, dy, xs, ys, chunk_size=3, return_info=True)
pieces = info.sharding.devices_indices_map((info.num_padded,)).values()
print(json.dumps({
    "devices": jax.device_count(), "num_devices": info.num_devices,
    "spec": str(getattr(info.sharding, "spec", None)),
    "raw_devices": len(info.sharding.device_set),
    "shard_len": [v[0].stop - v[0].start for v in pieces],
    "z_devices": len(z.sharding.device_set), "z_replicated": z.sharding.is_fully_replicated,
    "num_padded": info.num_padded, "z": np.asarray(z).tolist()}))
"""


def test_slice_2d_sharded_over_four_host_devices_equals_single_device():
    root = os.path.dirname(os.path.dirname(os.path.abspath(L.__file__)))
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=root,
    )
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["devices"] == res["num_devices"] == res["raw_devices"] == 4
    assert "grid" in res["spec"]
    assert res["num_padded"] == 36 and res["shard_len"] == [9, 9, 9, 9]  # 35 points -> 4 x 3 x 3
    assert res["z_devices"] == 4 and res["z_replicated"]
    ns = {}
    exec(_SHARDED.split("z, info = L.slice_2d")[0], ns)  # the same problem, on this single device
    want = L.slice_2d(ns["loss_fn"], ns["p"], ns["dx"], ns["dy"], ns["xs"], ns["ys"])
    np.testing.assert_allclose(np.asarray(res["z"]), want, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ dataset losses


def test_dataset_loss_equals_full_data_mean_with_remainder(x64):
    k = jax.random.split(jax.random.key(0), 3)
    x, y = jax.random.normal(k[0], (23, 3)), jax.random.normal(k[1], (23,))
    w = jax.random.normal(k[2], (3,))
    per_batch = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    full = per_batch(w, (x, y))
    for bs in (1, 5, 7, 23, 100, None):
        f = L.dataset_loss(per_batch, (x, y), bs)
        np.testing.assert_allclose(jax.jit(f)(w), full, rtol=1e-13)
    f = L.dataset_loss(per_batch, (x, y), 5)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(w), jax.grad(per_batch)(w, (x, y)), rtol=1e-12)


class _Model(NamedTuple):
    init: object
    apply: object


def _centering_model():
    """y = (x - mu) @ w with mu the batch mean when training, the running mean otherwise."""

    def apply(params, state, x, *, key=None, train=False):
        mu = jnp.mean(x, axis=0) if train else state["mean"]
        new_state = {"mean": 0.9 * state["mean"] + 0.1 * mu} if train else state
        return (x - mu[None, :]) @ params["w"], new_state

    return _Model(init=None, apply=apply)


def test_model_loss_uses_running_statistics(x64):
    model = _centering_model()
    k = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(k[0], (10, 3)) + 2.0
    y = jax.random.normal(k[1], (10, 2))
    params, state = {"w": jax.random.normal(k[2], (3, 2))}, {"mean": jnp.array([0.5, -1.0, 3.0])}
    mse = lambda pred, t: jnp.mean((pred - t) ** 2)
    per_example = lambda pred, t: jnp.mean((pred - t) ** 2, axis=-1)  # reduction="none"
    want = jnp.mean(((x - state["mean"][None, :]) @ params["w"] - y) ** 2)
    for loss, bs in ((mse, 3), (per_example, 4), (mse, None)):
        got = L.model_loss(model, state, (x, y), loss, batch_size=bs)(params)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    train_mode = mse(model.apply(params, state, x, train=True)[0], y)
    assert abs(float(train_mode) - float(want)) > 1e-3
    z = L.slice_1d(L.model_loss(model, state, (x, y), mse, 4), params, params, jnp.zeros(1))
    np.testing.assert_allclose(z[0], want, rtol=1e-12)


# ------------------------------------------------------------------ bad input


def test_bad_input_raises_before_compiling(compiles):
    loss_fn, p, dx, dy = _mlp_problem()
    xs = jnp.linspace(-1, 1, 3)
    L.slice_2d(loss_fn, p, dx, dy, xs, xs)  # warm up
    n = len(compiles)
    wrong_tree = {"l1": dx["l1"]}
    wrong_shape = jax.tree.map(lambda a: a, dx)
    wrong_shape["l2"]["w"] = np.ones((1, 8), np.float32)
    cases = [
        (ValueError, "same tree structure", lambda: L.slice_2d(loss_fn, p, wrong_tree, dy, xs, xs)),
        (
            ValueError,
            r"dy\['l2'\]\['w'\] has shape \(1, 8\)",
            lambda: L.slice_2d(loss_fn, p, dx, wrong_shape, xs, xs),
        ),
        (ValueError, "params_b must have", lambda: L.interpolate(loss_fn, p, wrong_tree, xs)),
        (
            ValueError,
            r"scalar, but it returned an array of shape \(8,\)",
            lambda: L.slice_1d(lambda q: q["l1"]["b"], p, dx, xs),
        ),
        (TypeError, "single scalar array", lambda: L.slice_1d(lambda q: (1.0, 2.0), p, dx, xs)),
        (TypeError, "callable", lambda: L.slice_1d("loss", p, dx, xs)),
        (ValueError, "xs is empty", lambda: L.slice_2d(loss_fn, p, dx, dy, np.zeros(0), xs)),
        (
            ValueError,
            r"ys must be a 1-D.*\(3, 1\)",
            lambda: L.slice_2d(loss_fn, p, dx, dy, xs, np.zeros((3, 1))),
        ),
        (ValueError, "alphas is empty", lambda: L.slice_1d(loss_fn, p, dx, [])),
        (ValueError, "alphas must be a 1-D", lambda: L.interpolate(loss_fn, p, p, 0.5)),
        (
            ValueError,
            "chunk_size must be a positive int, got 0",
            lambda: L.slice_2d(loss_fn, p, dx, dy, xs, xs, chunk_size=0),
        ),
        (ValueError, "got -2", lambda: L.slice_1d(loss_fn, p, dx, xs, chunk_size=-2)),
        (
            TypeError,
            "chunk_size must be a positive int",
            lambda: L.slice_1d(loss_fn, p, dx, xs, chunk_size=2.5),
        ),
        (ValueError, "same leading", lambda: L.dataset_loss(loss_fn, (xs, np.ones(4)), 2)),
        (
            ValueError,
            "batch_size must be a positive int",
            lambda: L.dataset_loss(loss_fn, (xs,), 0),
        ),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()
    assert len(compiles) == n, f"compiled before raising: {compiles[n:]}"
    f = L.dataset_loss(lambda w, b: b[0] * w, (xs,), 2)
    with pytest.raises(ValueError, match="per_batch_loss.*scalar"):
        f(1.0)


def test_201x201_grid_memory_stays_within_the_documented_bound():
    # The bound of jaxnn/_engine.py: temporaries <= chunk * bytes_per_point + 32 * N,
    # read off the compiled program (no wall clock), for a 51^2 and a 201^2 grid.
    from jaxnn import _engine
    from jaxnn.landscape.slices import _coefficients, _PointLoss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 20)), jnp.float32)
    params = {
        "w1": jnp.asarray(rng.normal(size=(20, 64)), jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(64, 1)), jnp.float32),
    }
    loss = lambda p: jnp.mean(jnp.tanh(x @ p["w1"]) @ p["w2"])
    # the engine's estimate, as slice_2d computes it: a perturbed copy + all intermediates
    per_point = 4 * (20 * 64 + 64) + _engine.jaxpr_bytes(jax.make_jaxpr(loss)(params))
    temps = {}
    for nx in (51, 201):
        xs = jnp.linspace(-1.0, 1.0, nx)
        coef = _coefficients("2d", (xs, xs))
        chunk, num_chunks, _ = _engine.plan(coef.shape[0], None, per_point)
        compiled = _engine._evaluate.lower(
            (params, params, params), coef, fn=_PointLoss(ById(loss)), chunk=chunk,
            num_chunks=num_chunks, mesh=None,
        ).compile()  # fmt: skip
        temps[nx] = compiled.memory_analysis().temp_size_in_bytes
        assert 0 < temps[nx] <= chunk * per_point + 32 * nx * nx, (nx, chunk, temps[nx])
    assert temps[201] - temps[51] <= 32 * (201**2 - 51**2)  # O(N) only through the tables
