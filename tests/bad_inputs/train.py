"""Bad inputs to `jaxnn.train`: each answered before training with an error naming the problem."""

from __future__ import annotations

import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import layers, losses, train
from tests.bad_inputs._case import Case

_X = np.ones((8, 3), np.float32)
_Y = np.zeros((8,), np.int32)
_MODEL = layers.Dense(2)
_PARAMS = {"w": jnp.zeros((3, 2)), "b": jnp.zeros((2,))}


def _fit(data=(_X, _Y), **kw):
    args = dict(key=jax.random.key(0), epochs=1, batch_size=4, progress=False)
    return lambda: train.fit(_MODEL, _PARAMS, optax.sgd(0.1), data, **{**args, **kw})


def _scan(data=(_X, _Y), **kw):
    loss = train.supervised_loss(_MODEL)
    args = dict(key=jax.random.key(0), num_steps=2, batch_size=4)
    return lambda: train.train_scan(loss, optax.sgd(0.1), _PARAMS, data, **{**args, **kw})


def _with(value, index=(0, 0)):
    x = _X.copy()
    x[index] = value
    return x


def _a_file():
    return tempfile.NamedTemporaryFile(suffix=".ckpt", delete=False).name


CASES = [
    Case("train-fit-nan-in-x", _fit((_with(np.nan, (2, 1)), _Y)), ValueError,
         ("training inputs x", "non-finite", "(2, 1)")),
    Case("train-fit-inf-in-y", _fit((_X, np.full((8, 1), np.inf, np.float32)), loss=losses.mse),
         ValueError, ("targets y", "non-finite")),
    Case("train-fit-nan-in-a-batch", _fit([(_X, _Y), (_with(np.nan), _Y)]), ValueError,
         ("batch 1", "non-finite")),
    Case("train-scan-nan-in-data", _scan((_with(np.inf), _Y)), ValueError,
         ("data[0]", "non-finite")),
    Case("train-fit-val-data-without-targets", _fit(val_data=_X), TypeError,
         ("val_data", "without targets", "(8, 3)")),
    Case("train-fit-val-data-one-shot", _fit(val_data=iter([(_X, _Y)])), TypeError,
         ("val_data", "one-shot iterator")),
    Case("train-fit-val-data-mismatched", _fit(val_data=(_X, _Y[:5])), ValueError,
         ("val_data", "(8, 3)", "(5,)")),
    Case("train-evaluate-empty",
         lambda: train.evaluate(_MODEL, _PARAMS, (), _X[:0], _Y[:0]), ValueError,
         ("no examples", "(0, 3)")),
    Case("train-evaluate-empty-iterable",
         lambda: train.evaluate(_MODEL, _PARAMS, (), []), ValueError, ("no examples",)),
    Case("train-evaluate-batch-size-zero",
         lambda: train.evaluate(_MODEL, _PARAMS, (), _X, _Y, batch_size=0), ValueError,
         ("batch_size", "positive", "0")),
    Case("train-fit-batch-size-zero", _fit(batch_size=0), ValueError, ("batch_size", "positive")),
    Case("train-fit-batch-size-float", _fit(batch_size=4.0), TypeError, ("batch_size", "int")),
    Case("train-fit-batch-size-too-large", _fit(batch_size=9), ValueError,
         ("batch_size", "larger", "8")),
    Case("train-fit-batch-size-missing", _fit(batch_size=None), TypeError,
         ("batch_size", "required")),
    Case("train-fit-eval-batch-size-negative", _fit(val_data=(_X, _Y), eval_batch_size=-1),
         ValueError, ("eval_batch_size", "positive")),
    Case("train-scan-batch-size-bool", _scan(batch_size=True), TypeError, ("batch_size", "int")),
    Case("train-scan-num-steps-zero", _scan(num_steps=0), ValueError, ("num_steps", "positive")),
    Case("train-scan-initial-state-not-a-state", _scan(initial_state={"step": 0}), TypeError,
         ("initial_state", "TrainState", "dict")),
    Case("train-optimize-negative-steps",
         lambda: train.optimize(lambda p: jnp.sum(p**2), optax.sgd(0.1), jnp.ones(2), -1),
         ValueError, ("num_steps", "at least 0", "-1")),
    Case("train-fit-one-shot-iterator", _fit(iter([(_X, _Y)])), TypeError,
         ("data", "one-shot iterator", "fresh")),
    Case("train-fit-batch-not-a-pair", _fit([(_X, _Y, _Y)]), TypeError,
         ("batch 0", "pair", "length 3")),
    Case("train-fit-data-wrong-type", _fit("data.npz"), TypeError,
         ("data", "str", "load the file")),
    Case("train-fit-checkpoint-every-zero", _fit(checkpoint_every=0), ValueError,
         ("checkpoint_every", "positive")),
    Case("train-fit-checkpoint-dir-is-a-file", lambda: _fit(checkpoint_dir=_a_file())(),
         ValueError, ("checkpoint_dir", "is a file")),
    Case("train-fit-callback-not-callable", _fit(callbacks=[None, "log.csv"]), TypeError,
         ("callbacks[0]", "callable", "NoneType")),
    Case("train-fit-patience-without-val-data", _fit(patience=2), ValueError,
         ("patience", "val_data")),
]  # fmt: skip
