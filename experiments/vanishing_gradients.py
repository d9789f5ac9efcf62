"""Vanishing gradients: a deep sigmoid net's first layers get no gradient; ReLU + He and
residual connections keep it flowing.

Command::

    python -m experiments run vanishing_gradients [--quick]

Runtime: ~5 s CPU quick (no training demo), ~40 s full (2-core CPU, compilation
included; wall time is longer on a loaded machine).

Expected result. Three nets of 20 Dense layers (width 64) on MNIST-1D, at
initialization, gradient of the cross-entropy on a batch of 512 signals; the
checks use the root-mean-square over 8 initializations of each layer's
gradient norm (the expected profile; every seed's value is in the numbers):

* **sigmoid + Xavier** (Dense → sigmoid, 19 times, then Dense(10)): the
  Frobenius norm of ∂L/∂W_l falls by ~1e12 from the last layer to the first.
  Each layer multiplies the backpropagated gradient by about
  √(fan·Var w)·E[σ′] ≈ 1 · 0.2 (σ′ ≤ 1/4), so 19 layers lose ~0.2¹⁹.
* **ReLU + He**: every layer's gradient norm is within ~6× of every other's
  (He's Var w = 2/fan_in undoes ReLU's halving of the second moment). What is
  left is the shape of the boundary layers: the 10-wide output layer and the
  40-wide input make the outermost gradients differ from the hidden ones by
  factors like √(width/10), so the spread grows with the width (~7.5× at
  width 128); we use width 64. Single seeds fluctuate (2.6–10.6× at width 64:
  a product of 20 random matrices), hence the RMS over seeds.
* **residual sigmoid** (Dense, then 18 blocks x ← x + α·Dense(σ(x)), then
  Dense(10)): the identity path carries the gradient past the sigmoids, so
  the norms stay within ~1.2×. The branch kernels are Xavier scaled by
  α = 1/√18 (as in GPT-2 / Fixup-style residual scaling) so that the stream's
  variance stays ~constant; unscaled, each block adds its variance, the last
  layer sees a √depth-times larger input and the spread is 3–18× per seed
  (RMS ~6×) — still rescued from 1e12, but not reliably within 10×.

The full variant also trains the three nets with Adam
(`jaxnn.train.train_scan`, the learning rate of each tuned by one vmapped
sweep over a log grid, from seed 0's init): the plain sigmoid net stays at
ln 10 ≈ 2.30 while the other two train (reported, not asserted: the claim is
about the gradients; quick skips it to save the compilation).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from experiments._runs import lr_run, mnist1d, stack
from experiments._tuning import tail_mean, tune_lr
from jaxnn import initializers, layers, optim, plotting, train

ORDER = 200  # place in the gallery and in `list`
NAME = "vanishing_gradients"
CLAIM = (
    "At init, per-layer gradient norms of a 20-layer sigmoid net fall by at least 100× from "
    "the last layer to the first; with ReLU + He, and in a residual sigmoid net, every layer's "
    "norm stays within 10× of every other's."
)


@dataclasses.dataclass(frozen=True)
class Config:
    depth: int = 20  # Dense layers per net (the last one outputs the 10 logits)
    width: int = 64  # units per hidden layer
    num_inputs: int = 512  # MNIST-1D training signals in the gradient's batch
    num_seeds: int = 8  # initializations per net; the checks use the RMS over seeds
    min_fall: float = 100.0  # sigmoid: ||∇W_last|| / ||∇W_first|| must exceed this
    max_spread: float = 10.0  # ReLU / residual: max / min per-layer norm must stay below this
    # --- training demo (reported, not asserted)
    num_examples: int = 4000  # MNIST-1D training examples
    num_steps: int = 1500  # Adam steps (0: skip the training demo)
    batch_size: int = 128  # minibatch size
    lr_low: float = 1e-4  # Adam learning rates, log grid, tuned per net by the final loss
    lr_high: float = 3e-2
    lr_num: int = 6
    seed: int = 0  # seed of the initializations and the minibatch order

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=0)  # the training demo (not asserted) only runs in full


def _nets(config: Config) -> dict:
    """name -> serial model with `depth` Dense layers."""
    w, d = config.width, config.depth
    xavier = initializers.glorot_normal()
    sigmoid = [layers.Dense(w, w_init=xavier), layers.Sigmoid] * (d - 1)
    relu = [layers.Dense(w, w_init=initializers.he_normal()), layers.Relu] * (d - 1)
    branch_scale = 1.0 / np.sqrt(d - 2)  # keeps the residual stream's variance ~constant

    def branch_init(key, shape, dtype=jnp.float32):
        return branch_scale * xavier(key, shape, dtype)

    blocks = [
        layers.residual(layers.serial(layers.Sigmoid, layers.Dense(w, w_init=branch_init)))
        for _ in range(d - 2)
    ]
    return {
        "sigmoid + Xavier": layers.serial(*sigmoid, layers.Dense(10, w_init=xavier)),
        "ReLU + He": layers.serial(*relu, layers.Dense(10)),
        "residual sigmoid": layers.serial(
            layers.Dense(w, w_init=xavier), *blocks, layers.Dense(10, w_init=xavier)
        ),
    }


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in np.asarray(values))


def _kernel_grad_norms(grads) -> jax.Array:
    """Frobenius norm of the gradient of every Dense kernel, input layer first."""
    return jnp.stack([jnp.linalg.norm(g) for g in jax.tree.leaves(grads) if g.ndim == 2])


def _init_stack(model, config: Config, shape):
    """Params (and state) of `num_seeds` initializations, stacked on a leading axis.

    Drawn eagerly, one seed at a time: compiling a vmapped init of 20 truncated-normal
    draws takes longer than drawing them.
    """
    seeds, state = [], None
    for s in range(config.num_seeds):
        _, params, state = model.init(jax.random.fold_in(jax.random.key(config.seed), s), shape)
        seeds.append(params)
    return stack(seeds), state


def _tune(config: Config, loss_fn, params, state, xy, grid):
    """Adam on `xy` for every rate of `grid` (one vmapped program); pick by the final loss."""

    run = lr_run(
        loss_fn,
        optim.adam,
        xy,
        key=jax.random.key(config.seed + 1),
        num_steps=config.num_steps,
        batch_size=config.batch_size,
        model_state=state,
    )
    return tune_lr(lambda lr: run(lr, params)[1]["loss"], grid, tail_mean(0.1))


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        batch = mnist1d(config.num_inputs)["train"]
        xy = mnist1d(config.num_examples)["train"]
        grid = log_grid(config.lr_low, config.lr_high, config.lr_num)
        norms, tuned = {}, {}
        for name, model in _nets(config).items():
            stacked, state = _init_stack(model, config, batch[0].shape)
            loss_fn = train.supervised_loss(model)

            def grad_norms(params, loss_fn=loss_fn, state=state):
                grads = jax.grad(lambda p: loss_fn(p, state, batch, None)[0])(params)
                return _kernel_grad_norms(grads)

            norms[name] = np.asarray(jax.jit(jax.vmap(grad_norms))(stacked), np.float64)

            if config.num_steps > 0:
                params = jax.tree.map(lambda a: a[0], stacked)  # seed 0
                tuned[name] = _tune(config, loss_fn, params, state, xy, grid)

        # The expected profile: root-mean-square over the initializations (per seed in numbers).
        rms = {k: np.sqrt(np.mean(v**2, axis=0)) for k, v in norms.items()}
        sig = rms["sigmoid + Xavier"]
        checks.add(
            "sigmoid + Xavier: ||∇W_last|| / ||∇W_first||",
            sig[-1] / sig[0],
            sig[-1] / sig[0] >= config.min_fall,
            f">= {config.min_fall:g} (RMS over {config.num_seeds} seeds; per seed: "
            f"{_fmt(norms['sigmoid + Xavier'][:, -1] / norms['sigmoid + Xavier'][:, 0])})",
        )
        for name in ("ReLU + He", "residual sigmoid"):
            spread = rms[name].max() / rms[name].min()
            per_seed = norms[name].max(axis=1) / norms[name].min(axis=1)
            checks.add(
                f"{name}: max / min per-layer gradient norm",
                spread,
                spread <= config.max_spread,
                f"<= {config.max_spread:g} (RMS over {config.num_seeds} seeds; per seed: "
                f"{_fmt(per_seed)})",
            )
        numbers = {
            "grad_norm_per_layer_rms": rms,
            "grad_norm_per_layer": norms,
            "last_over_first": {k: v[:, -1] / v[:, 0] for k, v in norms.items()},
            "max_over_min": {k: v.max(1) / v.min(1) for k, v in norms.items()},
            "training": {
                k: {
                    **t.numbers(),
                    "final_loss": float(t.scores[t.index]),
                }
                for k, t in tuned.items()
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, norms, tuned, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, norms: dict, tuned: dict, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2 if tuned else 1,
        size=(5.2, 4.2),
        title="through sigmoid layers the gradient vanishes toward the input;\n"
        "ReLU + He and residual connections keep it",
    )
    ax1, ax2 = (axes[0], axes[1]) if tuned else (axes, None)
    layer_ids = np.arange(1, config.depth + 1)
    for i, (name, nrm) in enumerate(norms.items()):
        ax1.plot(layer_ids, nrm[0], "o-", color=f"C{i}", ms=3, label=name)
        for row in nrm[1:]:
            ax1.plot(layer_ids, row, "-", color=f"C{i}", alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_xlabel("layer (1 = input side)")
    ax1.set_ylabel("||∂L/∂W_l||  (at init)")
    ax1.set_title(
        f"{config.depth}-layer nets, width {config.width}: {len(next(iter(norms.values())))} "
        "seeds (seed 0 marked)"
    )
    plotting.log_ticks(ax1.yaxis)
    plotting.legend(ax1, loc="lower right")
    if ax2 is None:
        return _save(fig, folder)
    plotting.curves(
        ax2,
        None,
        {f"{k} (lr {t.pick:.2g})": t.curves[t.index] for k, t in tuned.items()},
        xlabel="step",
        ylabel="minibatch loss",
        title="Adam at each net's tuned learning rate",
    )
    ax2.axhline(np.log(10), color="gray", ls=":", lw=0.8)
    ax2.set_ylim(0, 1.5 * np.log(10))
    return _save(fig, folder)


def _save(fig, folder) -> str:
    name = "gradient_norms.png"
    plotting.save(fig, folder / name)
    return name
