"""`dataset_loss` / `model_loss`: BatchNorm modes against hand-computed references,
and data parallelism over four host devices against one device."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import landscape as L
from jaxnn import layers

# ------------------------------------------------------------------ bn_mode


def _bn_net(key):
    model = layers.serial(layers.Dense(4), layers.BatchNorm(eps=1e-5), layers.Relu, layers.Dense(2))
    _, params, state = model.init(key, (-1, 3))
    # non-trivial running statistics, scale and bias
    state = jax.tree.map(lambda s: s, state)
    bn = 1
    state = list(state)
    state[bn] = {"mean": jnp.array([0.3, -0.2, 0.1, 0.5]), "var": jnp.array([0.5, 2.0, 1.5, 0.8])}
    params = list(params)
    params[bn] = {"scale": jnp.array([1.5, 0.7, 1.0, 2.0]), "bias": jnp.array([0.1, -0.3, 0.2, 0])}
    return model, tuple(params), tuple(state)


def _reference(params, state, x, y, mode, batch_size):
    """numpy forward pass: Dense -> BatchNorm -> relu -> Dense, mean squared error."""
    p = [jax.tree.map(lambda a: np.asarray(a, np.float64), q) for q in params]
    bn = jax.tree.map(lambda a: np.asarray(a, np.float64), state[1])
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        h = xb @ p[0]["w"] + p[0]["b"]
        if mode == "batch":
            mean, var = h.mean(0), h.var(0)  # biased variance of this batch
        else:
            mean, var = bn["mean"], bn["var"]
        h = (h - mean) / np.sqrt(var + 1e-5) * p[1]["scale"] + p[1]["bias"]
        out = np.maximum(h, 0) @ p[3]["w"] + p[3]["b"]
        total += np.mean((out - yb) ** 2) * len(xb)
    return total / len(x)


@pytest.mark.parametrize("mode", ["running", "batch"])
def test_model_loss_bn_modes_match_hand_computed_reference(x64, mode):
    model, params, state = _bn_net(jax.random.key(0))
    k = jax.random.split(jax.random.key(1), 2)
    x, y = jax.random.normal(k[0], (14, 3)) * 2 + 1, jax.random.normal(k[1], (14, 2))
    mse = lambda pred, t: jnp.mean((pred - t) ** 2)
    for bs in (5, 14):  # 5: batches of 5, 5 and a remainder of 4, each with its own statistics
        got = L.model_loss(model, state, (x, y), mse, bs, bn_mode=mode)(params)
        np.testing.assert_allclose(got, _reference(params, state, x, y, mode, bs), rtol=1e-12)
    other = "batch" if mode == "running" else "running"
    assert abs(float(got) - _reference(params, state, x, y, other, 14)) > 1e-3


def test_model_loss_batch_mode_passes_key_to_dropout():
    model = layers.serial(layers.Dense(3), layers.Dropout(0.5))
    _, params, state = model.init(jax.random.key(0), (-1, 2))
    x, y = jnp.ones((6, 2)), jnp.zeros((6, 3))
    mse = lambda pred, t: jnp.mean((pred - t) ** 2)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        L.model_loss(model, state, (x, y), mse, bn_mode="batch")(params)
    key = jax.random.key(3)
    got = L.model_loss(model, state, (x, y), mse, bn_mode="batch", key=key)(params)
    pred, _ = model.apply(params, state, x, key=key, train=True)
    np.testing.assert_allclose(got, mse(pred, y), rtol=1e-6)


# ------------------------------------------------------------------ data parallel

_PROGRAM = """
import json, sys, jax, jax.numpy as jnp, numpy as np
from jaxnn import landscape as L
k = jax.random.split(jax.random.key(0), 4)
x = jax.random.normal(k[0], (200, 6)); y = jax.random.normal(k[1], (200, 2))
params = {"w1": jax.random.normal(k[2], (6, 5)) * 0.5, "w2": jax.random.normal(k[3], (5, 2))}
def per_batch(p, b):
    return jnp.mean((jnp.tanh(b[0] @ p["w1"]) @ p["w2"] - b[1]) ** 2)
out = {"devices": jax.device_count()}
for bs in (48,):  # 4 batches of 48 in the scan and a remainder of 8, all split over 4
    f = L.dataset_loss(per_batch, (x, y), bs)
    hlo = jax.jit(f).lower(params).compile().as_text()
    v = L.random_direction(jax.random.key(7), params, norm=None, ignore=None)
    eig = L.hessian_top_eigenvalues(f, params, jax.random.key(1), k=2, num_iters=20)
    tr = L.hessian_trace(f, params, jax.random.key(2), num_samples=16)
    spec = L.hessian_spectrum(f, params, jax.random.key(3), order=12, num_runs=2)
    out[str(bs)] = {
        "loss": float(jax.jit(f)(params)),
        "all_reduce": "all-reduce" in hlo,
        "hvp": [np.asarray(a).tolist() for a in jax.tree.leaves(L.hvp(f, params, v))],
        "eig": np.asarray(eig.eigenvalues).tolist(),
        "trace": [float(tr.estimate), float(tr.standard_error)],
        "nodes": np.asarray(spec.nodes).tolist(),
        "weights": np.asarray(spec.weights).tolist(),
    }
print(json.dumps(out))
"""


def _run(devices):
    root = os.path.dirname(os.path.dirname(os.path.abspath(L.__file__)))
    flags = f"--xla_force_host_platform_device_count={devices}"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu", PYTHONPATH=root)
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dataset_loss_and_curvature_data_parallel_over_four_devices_equal_one_device():
    res = _run(4)
    assert res["devices"] == 4
    ns: dict = {}
    exec(_PROGRAM.split("out = {")[0], ns)  # the same problem on this process's single device
    assert jax.device_count() == 1
    for bs in (48,):
        got = res[str(bs)]
        assert got["all_reduce"]  # the batch is split: each device reduces its part
        f = L.dataset_loss(ns["per_batch"], (ns["x"], ns["y"]), bs)
        p = ns["params"]
        # float32 sums in another order: a few ulps of the loss (~1e-7 relative)
        np.testing.assert_allclose(got["loss"], float(jax.jit(f)(p)), rtol=1e-5)
        v = L.random_direction(jax.random.key(7), p, norm=None, ignore=None)
        for a, b in zip(got["hvp"], jax.tree.leaves(L.hvp(f, p, v)), strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-5)
        eig = L.hessian_top_eigenvalues(f, p, jax.random.key(1), k=2, num_iters=20)
        np.testing.assert_allclose(got["eig"], eig.eigenvalues, rtol=1e-4)
        # Hutchinson and SLQ on the same probes: every z^T H z (and every Lanczos
        # coefficient) differs only by the order of the float32 sums over the split batch
        tr = L.hessian_trace(f, p, jax.random.key(2), num_samples=16)
        np.testing.assert_allclose(got["trace"], [tr.estimate, tr.standard_error], rtol=1e-4)
        spec = L.hessian_spectrum(f, p, jax.random.key(3), order=12, num_runs=2)
        np.testing.assert_allclose(got["nodes"], spec.nodes, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(got["weights"], spec.weights, rtol=1e-3, atol=1e-4)
