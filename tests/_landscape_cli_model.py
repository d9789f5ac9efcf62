"""A tiny model and dataset for the `python -m jaxnn.landscape` tests (MODULE:FACTORY targets)."""

import jax
import jax.numpy as jnp

from jaxnn import layers


def model():
    layer = layers.serial(layers.Dense(6), layers.Relu, layers.Dense(3))
    _, params, state = layer.init(jax.random.key(0), (-1, 4))
    return layer, params, state


def data():
    x = jax.random.normal(jax.random.key(1), (48, 4))
    return x, jnp.argmax(x[:, :3], axis=1)


def loss(params):
    """The loss the CLI builds for this model: softmax cross-entropy over `data()`."""
    layer, _, state = model()
    x, y = data()
    out, _ = layer.apply(params, state, x, train=False)
    return jnp.mean(jax.nn.logsumexp(out, axis=1) - jnp.take_along_axis(out, y[:, None], 1)[:, 0])
