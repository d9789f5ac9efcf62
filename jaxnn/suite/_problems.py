"""Problems and the compiled run program of the optimizer suite (`jaxnn.suite`).

A `Problem` knows how to train once: `problem.run(optimizer, key, num_steps,
evaluate)` is a pure, traceable function returning

* `"curve"`: the loss curve the targets are read from -- for the quadratic and
  2-D problems the exact objective `f(theta_t)` at every iterate, `t = 0..T`
  (`T + 1` values; the gradient the optimizer sees is noisy, the curve is
  not); for the nets the minibatch loss `L(theta_t; B_t)` before each update
  (`T` values; smoothed later, see `smooth`);
* `"final_loss"`: `f(theta_T)`, or for the nets the loss on the whole training
  set (`train=False`);
* `"test_accuracy"`: test-set accuracy of `theta_T` for the nets, NaN otherwise.

DeepOBS's stochastic 2-D and quadratic problems, with infinite data: each step
draws a fresh minibatch mean of 128 noise samples. For the 2-D functions the
loss is `f(x, y) + u x + v y` with `u, v ~ N(0, 1)`, so the gradient gets
`N(0, I / 128)` noise and the expected loss is exactly `f`; for
`quadratic_deep` the loss is `1/2 (theta - z)^T H (theta - z)` with
`z ~ N(0, 0.6^2 I)`, so the gradient gets `-H zbar`, `zbar ~ N(0, 0.36/128 I)`,
and the expected loss is `f + 0.18 tr H` (we report `f`). `H` is
`jaxnn.objectives.quadratic_deep(key(42))` for every seed (DeepOBS fixes it
with seed 42 too). The noise is a gradient transformation chained *before*
the optimizer, so `jaxnn.train.optimize` runs the problem unchanged.

`make_program` wraps a problem into `one(opt_index, lr, use_schedule, key)`:
every optimizer is built inside the trace (so `lr` may be traced) and
`select` picks `opt_index`, so one compiled, vmapped program per problem
sweeps every optimizer, rate, schedule and seed.

The CNN's convolutions are patch extraction + one matmul (`_patch_conv`: the
parameters and numbers of `jaxnn.layers.Conv` with SAME padding): on XLA:CPU
`lax.conv_general_dilated` inside `lax.scan` ran ~10x slower than the same
step outside a loop (17 ms vs 2 ms per step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import data, layers, losses, objectives, optim, train

__all__ = [
    "PROBLEMS",
    "Problem",
    "build",
    "flattened",
    "learning_rate",
    "make_program",
    "select",
    "smooth",
    "SMOOTH_WINDOW",
]

PROBLEMS = (
    "quadratic_deep",
    "rosenbrock",
    "beale",
    "branin",
    "mnist1d_logreg",
    "mnist1d_mlp",
    "mnist1d_cnn",
    "digits_mlp",
)
NOISE_BATCH = 128  # DeepOBS's default batch size for the quadratic and 2-D problems
SMOOTH_WINDOW = 20  # trailing window (steps) of the smoothed minibatch loss
EVAL_CHUNK = 500  # examples per chunk of the final train/test evaluation


class Problem(NamedTuple):
    """One test problem; see the module docstring for `run`."""

    name: str
    kind: str  # "quadratic" | "2-D" | "net"
    description: str
    num_steps: int
    target: float  # train-loss target (on the curve: exact f, or the smoothed minibatch loss)
    min_value: float  # known minimum (0 for the nets' cross-entropy lower bound)
    run: Callable[..., dict]

    @property
    def stochastic_curve(self) -> bool:
        """Whether `curve` holds minibatch losses (smoothed before use)."""
        return self.kind == "net"


def smooth(curves: np.ndarray, window: int = SMOOTH_WINDOW) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start), along the last axis."""
    curves = np.asarray(curves, np.float64)
    csum = np.cumsum(curves, axis=-1)
    lagged = np.concatenate([np.zeros_like(csum[..., :window]), csum[..., :-window]], axis=-1)[
        ..., : curves.shape[-1]
    ]
    counts = np.minimum(np.arange(1, curves.shape[-1] + 1), window)
    return (csum - lagged) / counts


# --------------------------------------------------------------------------- full-batch


def _gradient_noise(key: jax.Array, matrix: jax.Array | None, std: float) -> optim.Optimizer:
    """Adds `std * M z`, `z ~ N(0, I)` (fresh each step), to the gradient; `M = I` if None."""

    def init(params):
        del params
        return key

    def update(grads, state, params=None):
        del params
        state, sub = jax.random.split(state)
        z = std * jax.random.normal(sub, grads.shape, grads.dtype)
        return grads + (z if matrix is None else matrix @ z), state

    return optim.Optimizer(init, update)


def _full_batch(obj, kind, description, num_steps, target, matrix, std) -> Problem:
    def run(optimizer, key, num_steps, evaluate=True):
        del evaluate
        noisy = optim.chain(_gradient_noise(key, matrix, std), optimizer)
        _, hist = train.optimize(obj.fn, noisy, obj.x0, num_steps)
        curve = hist["loss"]
        return {"curve": curve, "final_loss": curve[-1], "test_accuracy": jnp.nan}

    return Problem(obj.name, kind, description, num_steps, target, float(obj.min_value), run)


# --------------------------------------------------------------------------------- nets


def _patch_conv(out_channels: int, kernel_size: int, stride: int) -> layers.Layer:
    """1-D SAME convolution as `jaxnn.layers.Conv(out_channels, kernel_size, stride)`,
    computed as patches @ kernel (fast inside `lax.scan` on CPU)."""
    conv = layers.Conv(out_channels, kernel_size, strides=stride)

    def apply(params, state, x, *, key=None, train=False):
        w, b = params["w"], params["b"]
        length = x.shape[1]
        out = -(-length // stride)
        pad = max((out - 1) * stride + kernel_size - length, 0)
        xp = jnp.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)))
        end = (out - 1) * stride + 1
        patches = jnp.stack([xp[:, i : i + end : stride] for i in range(kernel_size)], axis=2)
        return jnp.einsum("nlkc,kco->nlo", patches, w) + b[None, None, :], state

    return layers.Layer(conv.init, apply)


def _chunks(x: np.ndarray, y: np.ndarray, size: int = EVAL_CHUNK) -> tuple[jax.Array, ...]:
    """`(x, y, mask)` zero-padded to a multiple of `size` and cut into `(n_chunks, size, ...)`."""
    n = x.shape[0]
    pad = -n % size
    mask = np.arange(n + pad) < n
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    y = np.concatenate([y, np.zeros((pad,), y.dtype)])
    return tuple(jnp.asarray(a.reshape(-1, size, *a.shape[1:])) for a in (x, y, mask))


def _evaluate(model, params, state, chunks) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy (`train=False`) over a dataset, chunk by chunk
    (`lax.map`: under the suite's vmap the activations of all runs at once would take
    GBs -- 4.7 GB for the CNN's patches on the full training set)."""

    def sums(chunk):
        xb, yb, mb = chunk
        logits, _ = model.apply(params, state, xb, train=False)
        ce = losses.softmax_cross_entropy(logits, yb, reduction="none")
        correct = jnp.argmax(logits, axis=-1) == yb
        return jnp.sum(jnp.where(mb, ce, 0.0)), jnp.sum(mb & correct)

    ce, correct = jax.lax.map(sums, chunks)
    n = jnp.sum(chunks[2])
    return jnp.sum(ce) / n, jnp.sum(correct) / n


def _net(name, description, model, dataset, num_steps, target, *, channels=False):
    x, y = dataset.x_train, dataset.y_train
    xt, yt = dataset.x_test, dataset.y_test
    if channels:
        x, xt = x[..., None], xt[..., None]
    train_chunks, test_chunks = _chunks(x, y), _chunks(xt, yt)
    x, y = jnp.asarray(x), jnp.asarray(y)
    input_shape = (-1, *x.shape[1:])
    loss_fn = train.supervised_loss(model)

    def run(optimizer, key, num_steps, evaluate=True):
        k_init, k_train = jax.random.split(key)
        _, params, state = model.init(k_init, input_shape)
        final, hist = train.train_scan(
            loss_fn,
            optimizer,
            params,
            (x, y),
            key=k_train,
            num_steps=num_steps,
            batch_size=128,
            model_state=state,
        )
        out = {"curve": hist["loss"], "final_loss": jnp.nan, "test_accuracy": jnp.nan}
        if evaluate:
            out["final_loss"], _ = _evaluate(model, final.params, final.model_state, train_chunks)
            _, out["test_accuracy"] = _evaluate(model, final.params, final.model_state, test_chunks)
        return out

    return Problem(name, "net", description, num_steps, target, 0.0, run)


# ------------------------------------------------------------------------------ catalog

# name -> (full steps, full target, quick steps, quick target); targets are on the curve.
_SETTINGS = {
    "quadratic_deep": (2000, 1.0, 400, 1.0),
    "rosenbrock": (2000, 1e-2, 400, 1e-2),
    "beale": (2000, 1e-2, 400, 1e-2),
    "branin": (2000, 0.4, 400, 0.4),
    "mnist1d_logreg": (1500, 1.65, 200, 1.8),
    "mnist1d_mlp": (1500, 0.5, 200, 1.0),
    "mnist1d_cnn": (1500, 0.5, 200, 1.0),
    "digits_mlp": (1000, 0.05, 200, 0.1),
}


def build(name: str, quick: bool) -> Problem:
    """The problem `name` (one of `PROBLEMS`), with the quick or full step budget."""
    full_steps, full_target, quick_steps, quick_target = _SETTINGS[name]
    steps, target = (quick_steps, quick_target) if quick else (full_steps, full_target)
    if name == "quadratic_deep":
        obj = objectives.quadratic_deep(jax.random.key(42))
        H = jax.hessian(obj.fn)(jnp.zeros_like(obj.x0))  # the H of 1/2 x^T H x
        std = 0.6 / math.sqrt(NOISE_BATCH)
        text = "100-D 1/2 x^T H x, eig 90 x U(0,1) + 10 x U(30,60), start 1; grad noise -H zbar"
        return _full_batch(obj, "quadratic", text, steps, target, H, std)
    if name in ("rosenbrock", "beale", "branin"):
        obj = getattr(objectives, name)()
        start = ", ".join(f"{v:g}" for v in np.asarray(obj.x0))
        text = f"2-D {name}, start ({start}); grad noise N(0, I/128)"
        return _full_batch(obj, "2-D", text, steps, target, None, 1 / math.sqrt(NOISE_BATCH))
    if name.startswith("mnist1d"):
        ds = data.mnist1d()
        if name == "mnist1d_logreg":
            model, arch = layers.Dense(10), "logistic regression 40-10"
        elif name == "mnist1d_mlp":
            model, arch = layers.mlp([128, 128, 10]), "MLP 40-128-128-10 (ReLU)"
        else:
            model = layers.serial(
                _patch_conv(16, 5, 2),
                layers.Relu,
                _patch_conv(32, 5, 2),
                layers.Relu,
                layers.Flatten,
                layers.Dense(10),
            )
            arch = "CNN conv(16,5,s2)-conv(32,5,s2)-dense(10)"
        text = f"MNIST-1D (4000 train) {arch}, batch 128"
        return _net(name, text, model, ds, steps, target, channels="cnn" in name)
    if name == "digits_mlp":
        text = "sklearn digits (1437 train) MLP 64-128-10 (ReLU), batch 128"
        return _net(name, text, layers.mlp([128, 10]), data.digits(), steps, target)
    raise ValueError(f"Unknown problem {name!r}; known problems: {', '.join(PROBLEMS)}.")


# ---------------------------------------------------------------------------- programs


def select(optimizers: Sequence[Any], index: jax.Array, *, compute_all: bool) -> optim.Optimizer:
    """The optimizer `optimizers[index]`, `index` a (possibly traced) int.

    With `compute_all` (the vmapped sweep) every optimizer updates its own state
    from the same gradient and `lax.select_n` keeps the chosen update: the
    chosen optimizer's state evolves exactly as if it ran alone, the others'
    are never read. Without it (the timed single run) `lax.switch` executes
    only the chosen optimizer.
    """

    def init(params):
        return tuple(opt.init(params) for opt in optimizers)

    def update_all(grads, state, params=None):
        outs = [opt.update(grads, s, params) for opt, s in zip(optimizers, state, strict=True)]
        updates = jax.tree.map(lambda *us: jax.lax.select_n(index, *us), *[u for u, _ in outs])
        return updates, tuple(s for _, s in outs)

    def branch(k):
        def update(grads, state, params):
            updates, new = optimizers[k].update(grads, state[k], params)
            return updates, (*state[:k], new, *state[k + 1 :])

        return update

    def update_one(grads, state, params=None):
        branches = [branch(k) for k in range(len(optimizers))]
        return jax.lax.switch(index, branches, grads, state, params)

    return optim.Optimizer(init, update_all if compute_all else update_one)


def flattened(factory: Callable[[Any], Any]) -> Callable[[Any], optim.Optimizer]:
    """`factory` applied to the parameters raveled into one vector (`ravel_pytree`).

    For elementwise optimizers (every built-in of the suite) this is the same
    update rule as on the tree (numbers equal up to float rounding: XLA fuses
    the one vector differently, ~1 ulp), and the compiled program has one
    fused update per optimizer instead of one per leaf (on the MLP: compile
    9.7 s -> 7.1 s, run -27%). Not applied to user optimizers, which may be
    per-leaf (LARS, LAMB, per-layer clipping).
    """

    def make(learning_rate):
        opt = factory(learning_rate)

        def init(params):
            return opt.init(ravel_pytree(params)[0])

        def update(grads, state, params=None):
            flat, unravel = ravel_pytree(grads)
            flat_params = None if params is None else ravel_pytree(params)[0]
            updates, state = opt.update(flat, state, flat_params)
            return unravel(updates), state

        return optim.Optimizer(init, update)

    make.__name__ = getattr(factory, "__name__", "optimizer")
    return make


def learning_rate(lr: Any, use_schedule: Any, num_steps: int) -> Callable[[jax.Array], jax.Array]:
    """`step -> lr`: constant `lr`, or (where `use_schedule`) linear warmup from 0 over 5% of
    the steps to the peak `lr`, then cosine decay to 0 at `num_steps`."""
    warmup = max(1, round(0.05 * num_steps))
    cosine = optim.warmup_cosine_decay_schedule(0.0, lr, warmup, num_steps)
    return lambda count: jnp.where(use_schedule, cosine(count), lr)


def make_program(
    problem: Problem,
    factories: Sequence[Callable],
    num_steps: int,
    *,
    vmapped: bool = True,
    evaluate: bool = True,
) -> Callable[..., dict]:
    """`one(opt_index, lr, use_schedule, key) -> problem.run(...)` for `factories[opt_index]`;
    `vmapped`: built to be vmapped (see `select`)."""

    def one(opt_index, lr, use_schedule, key):
        schedule = learning_rate(lr, use_schedule, problem.num_steps)
        optimizers = [make(schedule) for make in factories]
        optimizer = select(optimizers, opt_index, compute_all=vmapped)
        return problem.run(optimizer, key, num_steps, evaluate)

    return one
