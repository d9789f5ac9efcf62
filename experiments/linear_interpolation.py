"""Linear interpolation (Goodfellow, Vinyals & Saxe 2015): no barrier from init to solution.

Command::

    python -m experiments run linear_interpolation [--quick]

Runtime: ~20 s CPU quick, ~21 s CPU full (2-core CPU shared with other jobs,
compilation included; an idle machine is ~3× faster).

Setup. A ReLU MLP 40 → 100 → 100 → 10 is trained on the 4000 MNIST-1D
training signals with plain minibatch SGD (η = 0.05, momentum 0.9, batch
100), as in Goodfellow et al., from several independent initializations
θ₀⁽ˢ⁾ (one per seed; also a different minibatch order). Along the straight
line θ(α) = (1 − α)·θ_a + α·θ_b the full training and test losses are
evaluated (`jaxnn.landscape.interpolate`, α ∈ [−0.25, 1.25]):

* init → solution (θ_a = θ₀⁽ˢ⁾, θ_b = θ*⁽ˢ⁾), for every seed;
* solution → solution of two different seeds (θ*⁽ˢ⁾ → θ*⁽ˢ⁺¹⁾).

The barrier of a line is max over α ∈ [0, 1] of
L(θ(α)) − [(1 − α)·L(θ_a) + α·L(θ_b)] (the height above the chord).

Expected result. Paper (MNIST MLPs, CNNs, LSTMs): the loss falls
monotonically from the initialization to the solution — "a simple
single-objective convex-like" cross-section — while lines between two
solutions of different seeds cross a high-loss region (the two solutions
sit in different, e.g. permuted, basins). Ours, every seed: on
α ∈ [0, 1] the init→solution training loss never rises by more than
`monotone_tol` between consecutive points and the solution→solution lines have a barrier above
`min_barrier` nats (full, 3 seeds: no rise at all, init→solution barrier 0;
solution→solution barriers 3.1, 3.3, 3.4 nats on the training loss and 1.5–1.7
on the test loss, the midpoint loss ≈ 3.1–3.4 above chance ln 10 ≈ 2.3, with
endpoint training losses ≈ 0.002, train accuracy 1.0, test 0.64). Quick
(2 seeds): rises 0, barrier 2.2 nats. What was scaled: MNIST → MNIST-1D,
a 2-hidden-layer MLP; 3 seeds (quick: 2 seeds, 1000 signals, 600 steps).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from experiments._runs import barrier, mnist1d_mlp
from jaxnn import landscape, optim, plotting, train

ORDER = 270  # place in the gallery and in `list`
NAME = "linear_interpolation"
CLAIM = (
    "On the straight line from initialization to the SGD solution of an MLP on MNIST-1D the "
    "training loss decreases monotonically (no barrier), while the straight line between two "
    "solutions trained from different seeds crosses a loss barrier."
)


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 100  # units in each of the two hidden layers
    num_train: int = 4000  # MNIST-1D training signals (training and the line's loss)
    num_steps: int = 3000  # SGD steps
    batch_size: int = 100  # minibatch size
    lr: float = 0.05  # SGD learning rate
    momentum: float = 0.9  # heavy-ball momentum
    num_seeds: int = 3  # independent inits / minibatch orders (every seed is checked)
    num_alphas: int = 61  # points on each line, alpha in [-0.25, 1.25]
    monotone_tol: float = 1e-3  # largest allowed rise between consecutive points (nats)
    min_barrier: float = 0.5  # solution-to-solution barrier must exceed this (nats)
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls(num_train=1000, num_steps=600, num_seeds=2, num_alphas=31)


def _max_rise(alphas: np.ndarray, curve: np.ndarray) -> float:
    """Largest increase between consecutive points on alpha in [0, 1]."""
    inside = (alphas >= -1e-9) & (alphas <= 1 + 1e-9)
    return float(np.max(np.diff(curve[inside]), initial=0.0))


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        model, state, xy, test, loss_fn, test_fn = mnist1d_mlp(
            config.width, config.num_train, config.seed
        )

        @jax.jit
        def fit(params, key):
            final, _ = train.train_scan(
                train.supervised_loss(model),
                optim.sgd(config.lr, momentum=config.momentum),
                params,
                xy,
                key=key,
                num_steps=config.num_steps,
                batch_size=config.batch_size,
                model_state=state,
            )
            return final.params

        inits, sols = [], []
        for s in range(config.num_seeds):
            key = jax.random.fold_in(jax.random.key(config.seed), s)
            _, init, _ = model.init(key, (-1, xy[0].shape[-1]))
            inits.append(init)
            sols.append(fit(init, jax.random.fold_in(key, 1)))

        alphas = np.linspace(-0.25, 1.25, config.num_alphas)
        alphas[np.argmin(np.abs(alphas))] = 0.0
        alphas[np.argmin(np.abs(alphas - 1))] = 1.0

        def line(fn, a, b):
            return np.asarray(landscape.interpolate(fn, a, b, alphas), np.float64)

        init_lines = [
            {"train": line(loss_fn, i, p), "test": line(test_fn, i, p)}
            for i, p in zip(inits, sols, strict=True)
        ]
        pairs = [(s, (s + 1) % config.num_seeds) for s in range(config.num_seeds)]
        pairs = pairs if config.num_seeds > 2 else pairs[:1]
        sol_lines = [
            {"train": line(loss_fn, sols[a], sols[b]), "test": line(test_fn, sols[a], sols[b])}
            for a, b in pairs
        ]
        rises = [_max_rise(alphas, c["train"]) for c in init_lines]
        checks.add(
            "init → solution: largest rise of the training loss on α ∈ [0, 1] (per seed, nats)",
            rises,
            max(rises) <= config.monotone_tol,
            f"monotone decrease: no rise above {config.monotone_tol:g} in any seed",
        )
        bars = [barrier(alphas, c["train"]) for c in sol_lines]
        checks.add(
            "solution → solution: barrier above the chord (per pair of seeds, nats)",
            bars,
            min(bars) > config.min_barrier,
            f"a barrier above {config.min_barrier:g} nats for every pair",
        )
        evals = [train.evaluate(model, p, state, *xy) for p in sols]
        tevals = [train.evaluate(model, p, state, *test) for p in sols]
        numbers = {
            "alphas": alphas,
            "final_train_loss": [e["loss"] for e in evals],
            "train_accuracy": [e["accuracy"] for e in evals],
            "test_accuracy": [e["accuracy"] for e in tevals],
            "init_to_solution": init_lines,
            "init_to_solution_barrier": [barrier(alphas, c["train"]) for c in init_lines],
            "init_to_solution_max_rise": rises,
            "solution_pairs": pairs,
            "solution_to_solution": sol_lines,
            "solution_to_solution_barrier": bars,
            "solution_to_solution_test_barrier": [barrier(alphas, c["test"]) for c in sol_lines],
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(alphas, init_lines, sol_lines, pairs, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(alphas, init_lines, sol_lines, pairs, folder) -> str:
    fig, (ax0, ax1) = plotting.new_figure(ncols=2, size=(4.8, 4.0))
    for s, c in enumerate(init_lines):
        ax0.plot(alphas, c["train"], color=f"C{s}", label=f"seed {s}, train")
        ax0.plot(alphas, c["test"], color=f"C{s}", ls="--", label=f"seed {s}, test")
    ax0.set_xlabel("α: (1 − α)·θ₀ + α·θ*")
    ax0.set_ylabel("cross-entropy loss")
    ax0.set_yscale("log")
    ax0.set_title("initialization → solution")
    for k, (c, (a, b)) in enumerate(zip(sol_lines, pairs, strict=True)):
        ax1.plot(alphas, c["train"], color=f"C{k}", label=f"seeds {a} → {b}, train")
        ax1.plot(alphas, c["test"], color=f"C{k}", ls="--", label=f"seeds {a} → {b}, test")
    ax1.axhline(np.log(10), color="gray", ls=":", lw=0.8, label="chance, ln 10")
    ax1.set_xlabel("α: (1 − α)·θ*ₐ + α·θ*_b")
    ax1.set_ylabel("cross-entropy loss")
    ax1.set_yscale("log")
    ax1.set_title("solution → solution (different seeds)")
    for ax in (ax0, ax1):
        for x in (0, 1):
            ax.axvline(x, color="k", lw=0.5)
        ax.legend(fontsize=7)
    name = "linear_interpolation.png"
    plotting.save(fig, folder / name)
    return name
