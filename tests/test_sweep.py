"""`sweep`: a grid of runs as one compiled program on the shared grid engine."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn.optim as jo
from jaxnn import _engine, train
from jaxnn.train._sweep import SWEEP_CPU_BYTES, sweep, sweep_chunk_size

RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.normal(size=(64, 5)), jnp.float32)
Y = jnp.asarray(RNG.normal(size=(64,)), jnp.float32)
LOSS = train.stateless(lambda p, b: jnp.mean((b[0] @ p["w"] + p["b"] - b[1]) ** 2))


def _run(lr, seed, momentum):
    """30 steps of minibatch SGD with momentum on least squares; returns a pytree."""
    key = jax.random.key(seed)
    params = {"w": jax.random.normal(key, (5,)), "b": jnp.zeros(())}
    state, hist = train.train_scan(
        LOSS, jo.sgd(lr, momentum=momentum), params, (X, Y), key=key, num_steps=30, batch_size=16
    )
    return {"loss": hist["loss"], "w": state.params["w"]}


GRID = {
    "lr": jnp.array([0.01, 0.1]),
    "seed": jnp.arange(2),
    "momentum": jnp.array([0.0, 0.5, 0.9]),
}


def test_sweep_equals_a_python_loop_with_axes_in_dict_order():
    out, info = sweep(_run, GRID, chunk_size=5, return_info=True)  # 12 runs: a padded last chunk
    assert out["loss"].shape == (2, 2, 3, 30) and out["w"].shape == (2, 2, 3, 5)
    assert info.chunk_size == 5 and info.num_points == 12 and info.num_padded == 15
    single = jax.jit(_run)
    for i, lr in enumerate(GRID["lr"]):
        for j, seed in enumerate(GRID["seed"]):
            for k, m in enumerate(GRID["momentum"]):
                want = single(lr, seed, m)
                # vmap vs loop: the batched matrix products may sum in another order,
                # so not bit-exact; float32 rounding amplified over 30 steps stays ~1e-6.
                np.testing.assert_allclose(out["loss"][i, j, k], want["loss"], rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(out["w"][i, j, k], want["w"], rtol=1e-5, atol=1e-6)
    again = sweep(_run, GRID)  # the default chunk size: the same runs
    np.testing.assert_allclose(again["w"], out["w"], rtol=1e-5, atol=1e-6)


def test_sweep_takes_any_dtype_and_one_axis():
    keys = jax.random.split(jax.random.key(3), 4)
    out = sweep(lambda key: jax.random.normal(key, (2,)), {"key": keys})
    want = np.stack([np.asarray(jax.random.normal(k, (2,))) for k in keys])
    np.testing.assert_array_equal(out, want)  # the same program per point: no sum to reorder
    ints = sweep(lambda n, s: n * 10 + s, {"n": np.arange(3), "s": [1, 2]})
    np.testing.assert_array_equal(ints, [[1, 2], [11, 12], [21, 22]])


def test_chunk_rule_batches_small_runs_and_serializes_large_ones():
    if jax.default_backend() == "cpu":
        assert sweep_chunk_size(1000, 64) == 64  # small runs: all in one chunk
        assert sweep_chunk_size(SWEEP_CPU_BYTES // 4, 64) == 4
        assert sweep_chunk_size(10 * SWEEP_CPU_BYTES, 64) == 1  # large runs: one at a time
    else:
        assert sweep_chunk_size(1000, 64) == _engine.chunk_for(1000, 64)
    _, info = sweep(_run, GRID, return_info=True)  # a few hundred KiB per run
    assert info.chunk_size * info.num_chunks * info.num_devices >= 12
    assert info.chunk_size == -(-12 // info.num_chunks)  # balanced chunks


@pytest.mark.parametrize(
    "grid, words",
    [
        ({}, "non-empty dict"),
        ([0.1, 0.2], "non-empty dict"),
        ({"lr": jnp.ones((2, 2))}, "grid['lr'] must be a non-empty 1-D array"),
        ({"lr": jnp.ones(0)}, "shape (0,)"),
        ({"rate": jnp.ones(2)}, "must accept the grid names ['rate']"),
    ],
)
def test_bad_grid_is_reported_before_compiling(grid, words):
    with pytest.raises((TypeError, ValueError)) as err:
        sweep(lambda lr: lr * 2, grid)
    assert words in str(err.value)


def test_the_public_memory_estimate_is_the_one_sweep_sizes_its_chunks_with():
    """`sweep_chunk_size(sweep_bytes_per_run(run, grid), N)` bounds the chunk `sweep` picks."""
    w = jnp.ones((64, 64))
    run = lambda a, b: jnp.sum(jnp.tanh(w * a) @ (w * b))
    grid = {"a": jnp.linspace(0.1, 1.0, 6), "b": jnp.linspace(0.5, 2.0, 5)}
    per_run = train.sweep_bytes_per_run(run, grid)
    assert per_run >= 3 * w.nbytes  # at least w*a, tanh(.) and w*b are held at once
    _, info = train.sweep(run, grid, return_info=True)
    per_device = -(-30 // jax.device_count())
    assert info.chunk_size <= train.sweep_chunk_size(per_run, per_device)
