"""Neural-network layers as pairs of pure functions (stax style).

The protocol. A layer is `Layer(init, apply)`, a NamedTuple of two pure functions:

    init(key, input_shape) -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False) -> (y, new_state)

* `input_shape` includes the batch dimension, which may be any int or -1
  (unknown); `output_shape` carries it through unchanged.
* `params` are the trainable variables, a pytree; `state` the non-trainable
  ones (BatchNorm running statistics). Layers without them use `()`.
* `key` is only needed by layers that draw (Dropout), and only when
  `train=True`; `train` switches Dropout and BatchNorm between their training
  and evaluation behaviour and is ignored by every other layer.

Layers. Parameter-free instances (no parentheses, as in stax): `Relu`,
`Sigmoid`, `Tanh`, `Gelu` (exact erf form), `Softmax` (last axis), `Flatten`,
`Identity`. Constructors: `Dense`, `Conv`, `MaxPool`, `AvgPool`, `LeakyRelu`,
`Dropout`, and `BatchNorm`, `LayerNorm`, `RMSNorm` (their numerical
conventions are flax's, stated in `jaxnn/layers/_norm.py`). Combinators:
`serial`, `residual`, and the convenience `mlp`.

Where things live: one private module per concept, this file is the public
face. `_protocol.py` (`Layer`, `serial`, `residual`), `_checks.py` (argument
checks), `_activation.py`, `_reshape.py` (`Flatten`, `Identity`),
`_dropout.py`, `_dense.py` (`Dense`, `mlp`), `_conv.py` (`Conv`) with
`_conv_impl.py` (how a convolution is computed per backend), `_pooling.py`,
`_norm.py`.

Conventions.

* Features are on the **last** axis: Dense maps `(..., in) -> (..., out)` with
  a kernel `(in, out)`; Conv, MaxPool and AvgPool are channels-last, `(N, L, C)`
  in 1-D and `(N, H, W, C)` in 2-D, with `WIO` / `HWIO` kernels.
* `padding="SAME"` gives `ceil(d / stride)` outputs per spatial dimension,
  `"VALID"` gives `(d - k) // stride + 1` (as `lax.conv_general_dilated`).
* AvgPool divides by the full window size, padding included (flax's and
  PyTorch's default, `count_include_pad=True`).
* Default initialization: He normal kernels, zero biases.
* dtypes: every layer with parameters (`Dense`, `Conv`, `BatchNorm`,
  `LayerNorm`, `RMSNorm`, `mlp`) takes `dtype=jnp.float32`, the dtype of its
  parameters (and running statistics), also when x64 is enabled. The output
  dtype is JAX's promotion of the input's and the parameters' dtypes, so a
  float32 input gives a float32 output with the defaults, and `dtype=jnp.float64`
  gives float64 parameters and outputs.
* `Conv` computes by patches x matmul on CPU and by `lax.conv_general_dilated`
  elsewhere (`impl=` overrides); see `jaxnn/layers/_conv_impl.py`.
* Errors are raised in Python while tracing, before anything is compiled: a
  Dense or Conv applied to the wrong number of features, an integer input to a
  layer that computes in floating point, Dropout with `train=True` and no key,
  parameters that do not match the layer (wrong shapes or keys, a `serial`
  tuple of the wrong length), an `input_shape` that is not a tuple of ints with
  the batch dimension, and a VALID window larger than the input.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from jaxnn import layers as L
    >>> model = L.serial(L.Dense(32), L.Relu, L.Dropout(0.1), L.Dense(10))
    >>> out_shape, params, state = model.init(jax.random.key(0), (-1, 784))
    >>> out_shape
    (-1, 10)
    >>> x, key = jnp.ones((8, 784)), jax.random.key(1)
    >>> y, state = model.apply(params, state, x, key=key, train=True)
    >>> y.shape
    (8, 10)
"""

from jaxnn.layers._activation import Gelu, LeakyRelu, Relu, Sigmoid, Softmax, Tanh
from jaxnn.layers._conv import Conv
from jaxnn.layers._dense import Dense, mlp
from jaxnn.layers._dropout import Dropout
from jaxnn.layers._norm import BatchNorm, LayerNorm, RMSNorm
from jaxnn.layers._pooling import AvgPool, MaxPool
from jaxnn.layers._protocol import Layer, residual, serial
from jaxnn.layers._reshape import Flatten, Identity

__all__ = [
    "AvgPool",
    "BatchNorm",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Gelu",
    "Identity",
    "Layer",
    "LayerNorm",
    "LeakyRelu",
    "MaxPool",
    "RMSNorm",
    "Relu",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "mlp",
    "residual",
    "serial",
]

Layer.__module__ = __name__  # defined in jaxnn.layers._protocol; public here
