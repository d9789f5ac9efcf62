"""Data-parallel `fit` and `train_scan` on 4 (forced host) devices equal one device's."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

_CODE = """
import json
import jax, jax.numpy as jnp, numpy as np, optax
from jax.sharding import Mesh
from jaxnn import layers, losses, train

assert jax.device_count() == 4
x = np.asarray(jax.random.normal(jax.random.key(0), (64, 5)), np.float32)
y = (x[:, 0] - x[:, 1] > 0).astype(np.int32)
model = layers.serial(layers.Dense(16), layers.Relu, layers.Dense(2))
_, params, _ = model.init(jax.random.key(1), (-1, 5))
one = Mesh(np.array(jax.devices()[:1]), ("data",))
opt = optax.adam(1e-2)

def fit(**kw):
    return train.fit(model, params, opt, (x, y), key=jax.random.key(2), epochs=3, batch_size=16,
                     val_data=(x, y), progress=False, **kw)

def scan(**kw):
    return train.train_scan(train.supervised_loss(model), opt, params, (x, y),
                            key=jax.random.key(2), num_steps=12, batch_size=16, **kw)

def diff(a, b):
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b))
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in pairs)

many, single = fit(), fit(mesh=one)
(s_many, h_many), (s_single, h_single) = scan(), scan(mesh=one)
print(json.dumps({
    "fit_devices": len(many.params[0]["w"].sharding.device_set),
    "scan_devices": len(s_many.params[0]["w"].sharding.device_set),
    "fit_params": diff(many.params, single.params),
    "fit_loss": diff(many.history["loss"], single.history["loss"]),
    "fit_val": diff(many.history["val_loss"], single.history["val_loss"]),
    "scan_params": diff(s_many.params, s_single.params),
    "scan_loss": diff(h_many["loss"], h_single["loss"]),
    "scale": max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(single.params)),
}))
"""


def test_data_parallel_fit_and_train_scan_equal_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, "-c", _CODE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["fit_devices"] == 4 and out["scan_devices"] == 4  # replicated over the mesh
    # The 4 shards' partial gradients are summed in another order than one device's sum:
    # float32 rounding (~1e-7 relative) per step, grown over 12 Adam steps.
    for name in ("fit_params", "scan_params"):
        assert out[name] <= 1e-5 * max(1.0, out["scale"]), out
    for name in ("fit_loss", "fit_val", "scan_loss"):
        assert out[name] <= 1e-5, out
