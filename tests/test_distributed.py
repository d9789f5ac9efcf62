"""Two processes on JAX's own distributed runtime give the single-process numbers.

The test starts 2 local processes (`python tests/test_distributed.py worker
<process_id> <port> <out>`), each calling `jax.distributed.initialize` on a
loopback coordinator (127.0.0.1, a free port) with one CPU device; CPU
collectives go through gloo (`jax_cpu_collectives_implementation`, the
default in jax 0.10). Together they compute a `slice_2d` (grid sharded over
the 2 processes' devices), a `sweep` and 20 data-parallel training steps
(batch split by `jaxnn._devices.shard_batch`, parameters replicated,
gradients all-reduced by XLA). Process 0 writes the results; they must equal
the same computations in this (single-device) process within float32
tolerance: the grid and sweep points are the same per-point programs (vmap
vs not may reorder sums), and the data-parallel gradient is a sum of two
half-batch sums instead of one, a different summation order.

The test skips, with the workers' message, only if the distributed runtime
itself cannot start here (e.g. no loopback networking in a sandbox).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TIMEOUT_S = 240  # per worker; both run at once
STARTUP_FAILED = "distributed runtime did not start"


def _problem():
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
    params = {
        "w1": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(4, 2)), jnp.float32),
    }

    def loss(p, xb, yb):
        return jnp.mean((jnp.tanh(xb @ p["w1"]) @ p["w2"] - yb) ** 2)

    del jax
    return params, x, y, loss


def compute() -> dict[str, np.ndarray]:
    """slice_2d, sweep and 20 data-parallel steps; the same code on 1 or 2 processes."""
    import jax
    import jax.numpy as jnp

    import jaxnn.optim as jo
    from jaxnn import _devices, landscape, train
    from jaxnn.train._sweep import sweep

    params, x, y, loss = _problem()
    loss_fn = lambda p: loss(p, x, y)
    dx = jax.tree.map(lambda p: jnp.cos(p), params)
    dy = jax.tree.map(lambda p: jnp.sin(2 * p), params)
    z = landscape.slice_2d(loss_fn, params, dx, dy, jnp.linspace(-1, 1, 5), jnp.linspace(-1, 1, 3))

    def run(lr, scale):
        p = jax.tree.map(lambda w: scale * w, params)
        for _ in range(5):
            p = jax.tree.map(lambda w, g: w - lr * g, p, jax.grad(loss_fn)(p))
        return loss_fn(p)

    swept = sweep(run, {"lr": jnp.array([0.01, 0.1, 0.3]), "scale": jnp.array([0.5, 1.0])})

    opt = jo.sgd(0.1)
    step = train.make_train_step(train.stateless(lambda p, b: loss(p, *b)), opt)
    mesh = _devices.data_mesh()
    state = _devices.replicate(train.init_train_state(params, opt, jax.random.key(0)), mesh)
    losses = []
    for t in range(20):
        rows = (np.arange(8) + 8 * t) % 16
        state, metrics = step(state, _devices.shard_batch((x[rows], y[rows]), mesh))
        losses.append(metrics["loss"])
    out = {"slice_2d": z, "sweep": swept, "train_losses": jnp.stack(losses)}
    out.update({f"params_{k}": v for k, v in state.params.items()})
    out["devices"] = jnp.asarray(jax.device_count())
    return {k: np.asarray(v) for k, v in out.items()}


def _worker(process_id: int, port: int, out: str) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=2,
            process_id=process_id,
            initialization_timeout=60,
        )
    except Exception as err:  # the runtime itself: report and let the test skip
        print(f"{STARTUP_FAILED}: {type(err).__name__}: {err}", flush=True)
        sys.exit(3)
    result = compute()
    if process_id == 0:
        np.savez(out, **result)
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    port, out = _free_port(), tmp_path / "two.npz"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "worker", str(i), str(port), str(out)],
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=TIMEOUT_S)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"a distributed worker ran past {TIMEOUT_S} s: {p.args}")
    if any(STARTUP_FAILED in log for log in logs):
        pytest.skip(
            "; ".join(line for log in logs for line in log.splitlines() if STARTUP_FAILED in line)
        )
    assert all(p.returncode == 0 for p in procs), "\n\n".join(logs)[-4000:]
    two = dict(np.load(out))
    one = compute()
    assert int(two["devices"]) == 2 and int(one["devices"]) == 1
    for name, want in one.items():
        if name == "devices":
            continue
        assert two[name].shape == want.shape, name
        # float32: same per-point programs, sums split over 2 devices (see the module docstring)
        np.testing.assert_allclose(two[name], want, rtol=2e-5, atol=1e-6, err_msg=name)


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "worker":
    _worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
