"""Bad inputs to jaxnn.layers: input shapes, VALID windows larger than the input, dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import layers as L
from tests.bad_inputs._case import Case

KEY = jax.random.key(0)


def _conv_params(window, c_in, c_out):
    return {"w": np.ones((*window, c_in, c_out), np.float32), "b": np.zeros(c_out, np.float32)}


def _x(*shape):
    return np.ones(shape, np.float32)


CASES = [
    Case(
        "layers-init-empty-input-shape",
        lambda: L.Dense(3).init(KEY, ()),
        ValueError,
        ("Dense(3).init", "input_shape", "batch", "at least 1", "()"),
    ),
    Case(
        "layers-init-int-input-shape",
        lambda: L.Dense(3).init(KEY, 4),
        TypeError,
        ("Dense(3).init", "input_shape must be a tuple of ints", "(-1, 784)", "int 4"),
    ),
    Case(
        "layers-serial-init-int-input-shape",
        lambda: L.mlp([8, 2]).init(KEY, 4),
        TypeError,
        ("input_shape must be a tuple of ints", "batch dimension", "int 4"),
    ),
    Case(
        "layers-relu-init-empty-input-shape",
        lambda: L.Relu.init(KEY, ()),
        ValueError,
        ("Relu.init", "input_shape", "batch dimension"),
    ),
    Case(
        "layers-conv-init-float-input-shape",
        lambda: L.Conv(2, 3).init(KEY, (-1, 8.0, 1)),
        ValueError,
        ("input_shape must hold ints", "(-1, 8.0, 1)"),
    ),
    Case(
        "layers-conv-valid-input-smaller-than-kernel",
        lambda: L.Conv(2, 5, padding="VALID").apply(_conv_params((5,), 1, 2), (), _x(2, 3, 1)),
        ValueError,
        ("Conv(2, kernel_size=(5,))", "VALID", ">= (5,)", "(2, 3, 1)"),
    ),
    Case(
        "layers-conv2d-valid-input-smaller-than-kernel",
        lambda: L.Conv(2, (3, 3), padding="VALID").apply(
            _conv_params((3, 3), 1, 2), (), _x(2, 5, 2, 1)
        ),
        ValueError,
        ("VALID", ">= (3, 3)", "(2, 5, 2, 1)"),
    ),
    Case(
        "layers-conv-dilated-valid-input-smaller-than-window",
        lambda: L.Conv(2, 3, padding="VALID", kernel_dilation=2).apply(
            _conv_params((3,), 1, 2), (), _x(2, 4, 1)
        ),
        ValueError,
        ("VALID", ">= (5,)", "(2, 4, 1)"),
    ),
    Case(
        "layers-maxpool-valid-input-smaller-than-window",
        lambda: L.MaxPool(4).apply((), (), _x(2, 3, 1)),
        ValueError,
        ("MaxPool", "VALID", ">= (4,)", "(2, 3, 1)"),
    ),
    Case(
        "layers-avgpool-valid-input-smaller-than-window",
        lambda: L.AvgPool((2, 2)).apply((), (), _x(2, 1, 5, 3)),
        ValueError,
        ("AvgPool", "VALID", ">= (2, 2)", "(2, 1, 5, 3)"),
    ),
    Case(
        "layers-dense-integer-param-dtype",
        lambda: L.Dense(3, dtype=jnp.int32),
        TypeError,
        ("Dense(3)", "dtype", "floating-point", "int32"),
    ),
    Case(
        "layers-batchnorm-bool-param-dtype",
        lambda: L.BatchNorm(dtype=bool),
        TypeError,
        ("BatchNorm", "dtype", "floating-point", "bool"),
    ),
    Case(
        "layers-conv-out-channels-not-divisible-by-groups",
        lambda: L.Conv(4, 3, feature_group_count=3),
        ValueError,
        ("out_channels=4", "divisible", "feature_group_count=3"),
    ),
    Case(
        "layers-conv-in-channels-not-divisible-by-groups",
        lambda: L.Conv(4, 3, feature_group_count=2).init(KEY, (-1, 8, 3)),
        ValueError,
        ("3 input channels", "divisible", "feature_group_count=2"),
    ),
    Case(
        "layers-conv-unknown-impl",
        lambda: L.Conv(4, 3, impl="cudnn"),
        ValueError,
        ("impl", "'auto', 'patches', 'lax'", "'cudnn'"),
    ),
    Case(
        "layers-conv-zero-stride",
        lambda: L.Conv(4, 3, strides=0),
        ValueError,
        ("strides", "positive", "(0,)"),
    ),
]
