"""Models, data and small helpers shared by the jaxnn-vs-peers benchmarks.

* MNIST-1D (4000 training signals of length 40, 10 classes) as JAX arrays.
* The MLP 40-256-256-10 and a small 1-D CNN, each built twice: with
  `jaxnn.layers` and with `flax.linen`, plus functions copying jaxnn's
  parameters into flax's layout so both sides start from the same weights.
  Both use channels-last inputs and `(in, out)` / `WIO` kernels, so the copy
  is a renaming of leaves, never a transpose.
* `mlp_flops`: multiply-add FLOPs of an MLP's matrix products (``2 * n * sum
  in * out``); biases, activations and the loss are not counted.
* `inner_for`: calls per timed sample so that one sample lasts long enough to
  time (sub-millisecond steps are timed in groups).
* `target`: the `{"target", "value", "met"}` record each benchmark reports.
* `hlo_ops`: the instructions of a compiled program with names, metadata and
  parameter numbers stripped, so two programs can be compared for sameness
  (a timing-free check: identical programs run at identical speed).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import data, layers

__all__ = [
    "CNN_CHANNELS",
    "FlaxCNN",
    "FlaxMLP",
    "hlo_ops",
    "MLP_SIZES",
    "cnn_to_flax",
    "inner_for",
    "jaxnn_cnn",
    "jaxnn_mlp",
    "mlp_flops",
    "mlp_to_flax",
    "mnist1d_arrays",
    "target",
    "tree_nbytes",
]

MLP_SIZES = (256, 256, 10)  # hidden and output widths; the input is 40
CNN_CHANNELS = (16, 32)  # Conv(16, 5) -> pool 2 -> Conv(32, 5) -> pool 2 -> Dense(10)


def mnist1d_arrays() -> tuple[jax.Array, jax.Array]:
    """The 4000 MNIST-1D training examples: `x (4000, 40) float32`, `y (4000,) int32`."""
    ds = data.mnist1d()
    return jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)


def jaxnn_mlp(sizes: Sequence[int] = MLP_SIZES) -> layers.Layer:
    """`Dense(s0), Relu, Dense(s1), Relu, ..., Dense(s_last)` (logits out)."""
    return layers.mlp(list(sizes))


class FlaxMLP(nn.Module):
    """The same MLP in flax.linen: Dense layers with ReLU between them."""

    sizes: Sequence[int] = MLP_SIZES

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.sizes):
            x = nn.Dense(size)(x)
            if i < len(self.sizes) - 1:
                x = nn.relu(x)
        return x


def mlp_to_flax(params: tuple) -> dict:
    """jaxnn `serial` params `({"w","b"}, (), {"w","b"}, ...)` -> flax `{"params": ...}`."""
    dense = [p for p in params if p != ()]
    return {
        "params": {f"Dense_{i}": {"kernel": p["w"], "bias": p["b"]} for i, p in enumerate(dense)}
    }


def jaxnn_cnn(channels: Sequence[int] = CNN_CHANNELS, num_classes: int = 10) -> layers.Layer:
    """1-D CNN on `(N, 40, 1)`: [Conv(c, 5), Relu, MaxPool(2)] per channel count,
    then Flatten and Dense(num_classes)."""
    stack = []
    for c in channels:
        stack += [layers.Conv(c, 5), layers.Relu, layers.MaxPool(2)]
    return layers.serial(*stack, layers.Flatten, layers.Dense(num_classes))


class FlaxCNN(nn.Module):
    """The same CNN in flax.linen (SAME-padded convolutions, VALID 2-pools)."""

    channels: Sequence[int] = CNN_CHANNELS
    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        for c in self.channels:
            x = nn.Conv(c, kernel_size=(5,), padding="SAME")(x)
            x = nn.max_pool(nn.relu(x), (2,), strides=(2,))
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(self.num_classes)(x)


def cnn_to_flax(params: tuple) -> dict:
    """jaxnn CNN params (Conv and Dense dicts among `()`s) -> flax `{"params": ...}`."""
    with_params = [p for p in params if p != ()]
    out = {f"Conv_{i}": {"kernel": p["w"], "bias": p["b"]} for i, p in enumerate(with_params[:-1])}
    out["Dense_0"] = {"kernel": with_params[-1]["w"], "bias": with_params[-1]["b"]}
    return {"params": out}


def mlp_flops(in_dim: int, sizes: Sequence[int], n: int) -> int:
    """Matrix-product FLOPs of one forward pass over `n` examples: `2 n sum_l d_l d_{l+1}`."""
    dims = [in_dim, *sizes]
    return 2 * n * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))


def tree_nbytes(tree: Any) -> int:
    """Bytes held by the array leaves of `tree`."""
    return sum(
        int(np.prod(np.shape(x))) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
    )


def inner_for(fn: Callable[[], Any], min_seconds: float = 0.01, max_inner: int = 200) -> int:
    """Calls per timed sample so that a sample lasts about `min_seconds` (>= 1).

    Calls `fn` twice (compile, then one timed call); `fn` must be safe to call
    repeatedly (it threads its own state).
    """
    jax.block_until_ready(fn())
    start = time.perf_counter()
    jax.block_until_ready(fn())
    once = max(time.perf_counter() - start, 1e-7)
    return int(min(max_inner, max(1, math.ceil(min_seconds / once))))


def target(description: str, value: float, met: bool) -> dict:
    """One entry of a benchmark's `"targets"` block."""
    return {"target": description, "value": float(value), "met": bool(met)}


def hlo_ops(compiled_text: str) -> list[str]:
    """Instructions of compiled HLO text, with names, metadata and parameter indices removed."""
    out = []
    for line in compiled_text.splitlines():
        if " = " not in line or line.startswith("HloModule"):
            continue
        line = re.sub(r", metadata=\{[^}]*\}", "", line.strip())
        line = re.sub(r", stack_frame_id=\d+", "", line)
        line = re.sub(r"%[\w.\-]+", "%v", line)
        out.append(re.sub(r"parameter\(\d+\)", "parameter()", line))
    return out
