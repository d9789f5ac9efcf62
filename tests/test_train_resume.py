"""Interrupted `fit` runs resume bit-identically; `train_scan` resumes in segments."""

import csv
import os
import pathlib
import signal
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import layers, losses, train

ROOT = pathlib.Path(__file__).resolve().parents[1]


_MODEL = layers.serial(layers.Dense(8), layers.Relu, layers.Dropout(0.2), layers.Dense(2))


def _problem():
    """A small classifier with Dropout (uses the step keys) and validation data."""
    x = np.asarray(jax.random.normal(jax.random.key(0), (48, 4)), np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    model = _MODEL
    _, params, state = model.init(jax.random.key(1), (-1, 4))
    kwargs = dict(
        key=jax.random.key(2), batch_size=16, model_state=state, val_data=(x[:20], y[:20]),
        patience=10, progress=False,
    )  # fmt: skip
    return model, params, (x, y), kwargs


_OPT = optax.adam(1e-2)  # one object: fit reuses its compiled step across calls


def _fit(epochs, **extra):
    model, params, data, kwargs = _problem()
    return train.fit(model, params, _OPT, data, epochs=epochs, **kwargs, **extra)


def _assert_same_result(a, b):
    chex.assert_trees_all_equal(a.params, b.params)
    chex.assert_trees_all_equal(a.model_state, b.model_state)
    chex.assert_trees_all_equal(a.opt_state, b.opt_state)
    assert a.history == b.history
    assert (a.message, a.diverged, a.stopped_early) == (b.message, b.diverged, b.stopped_early)


def test_resumed_fit_is_bit_identical_and_a_stranger_checkpoint_is_refused(tmp_path):
    reference = _fit(5)
    first = _fit(2, checkpoint_dir=tmp_path)
    assert len(first.history["epoch_loss"]) == 2
    resumed = _fit(5, checkpoint_dir=tmp_path, checkpoint_every=2)  # a larger `epochs` continues
    _assert_same_result(resumed, reference)
    assert sorted(os.listdir(tmp_path)) == ["4", "5"]  # the last 2 checkpoints are kept
    _assert_same_result(_fit(5, checkpoint_dir=tmp_path), reference)  # finished: nothing to do
    model, params, data, kwargs = _problem()
    with pytest.raises(ValueError, match="belongs to a different run"):
        train.fit(model, params, optax.sgd(1e-2, momentum=0.9), data, epochs=6,
                  checkpoint_dir=tmp_path, **kwargs)  # fmt: skip


def _kill_at_epoch_2(directory):
    """Run in a subprocess: checkpoints after epochs 2 and 4; SIGKILL after epoch 3."""

    def kill(info):
        if info.epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    log = train.CSVLogger(pathlib.Path(directory) / "log.csv")
    _fit(6, checkpoint_dir=directory, checkpoint_every=2, callbacks=[log, kill])


def test_fit_killed_with_sigkill_resumes_bit_identically(tmp_path):
    code = (
        f"from tests.test_train_resume import _kill_at_epoch_2; _kill_at_epoch_2({str(tmp_path)!r})"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with open(tmp_path / "log.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2"]
    log = train.CSVLogger(tmp_path / "log.csv")
    resumed = _fit(6, checkpoint_dir=tmp_path, checkpoint_every=2, callbacks=[log])
    _assert_same_result(resumed, _fit(6))
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))  # the killed attempt's epoch-2 row was replaced
    assert [int(r["epoch"]) for r in rows] == list(range(6))
    np.testing.assert_allclose([float(r["epoch_loss"]) for r in rows],
                               resumed.history["epoch_loss"], rtol=1e-15)  # fmt: skip


def test_keyboard_interrupt_returns_the_last_complete_epoch(tmp_path):
    def interrupt(info):
        if info.step == 5:  # 3 steps per epoch: in the middle of epoch 1
            raise KeyboardInterrupt

    interrupt.every_steps = 1
    res = _fit(4, checkpoint_dir=tmp_path, callbacks=[interrupt])
    assert "Interrupted (KeyboardInterrupt) after 1 complete epochs (3 steps)" in res.message
    assert "checkpoint_dir" in res.message and str(tmp_path) in res.message
    one = _fit(1)
    chex.assert_trees_all_equal(res.opt_state, one.opt_state)
    assert res.history == one.history
    _assert_same_result(_fit(4, checkpoint_dir=tmp_path), _fit(4))


def test_train_scan_in_segments_equals_one_run():
    x = jax.random.normal(jax.random.key(0), (50, 3))
    y = x @ jnp.ones((3, 1))
    model = layers.serial(layers.Dense(8), layers.Relu, layers.Dense(1))
    _, params, _ = model.init(jax.random.key(1), (-1, 3))
    loss_fn, opt = train.supervised_loss(model, losses.mse), optax.adam(1e-2)
    run = lambda n, **kw: train.train_scan(  # noqa: E731
        loss_fn, opt, params, (x, y), key=jax.random.key(2), num_steps=n, batch_size=16, **kw
    )
    full, hist = run(10)  # 3 steps per epoch: the boundaries fall mid-epoch
    a, hist_a = run(4)
    b, hist_b = run(6, initial_state=a)
    assert int(b.step) == 10
    # Each segment runs the same step program on the same batches: bit-identical.
    chex.assert_trees_all_equal(b, full)
    np.testing.assert_array_equal(np.concatenate([hist_a["loss"], hist_b["loss"]]), hist["loss"])
