"""BatchNorm: a deep MLP trains at learning rates where the plain net diverges, and gets further.

Command::

    python -m experiments run batchnorm [--quick]

Runtime: ~10 s CPU quick, ~25 s CPU full (2-core CPU, compilation included;
wall time is longer on a loaded machine).

Setup. Two MLPs with 10 hidden ReLU layers of width 128 on MNIST-1D (He
init), one plain (Dense → ReLU) and one with BatchNorm (Dense → BatchNorm →
ReLU), trained with plain SGD (batch 128, 500 steps) at every learning rate
of a log grid 0.01 … 10 — for each net one `jax.vmap` of
`jaxnn.train.train_scan` over the grid. 500 signals of the training split
are held out for validation (to pick each net's learning rate, grid and
picks saved); accuracies are on the 1000 test signals.

Expected result.

* **Learning-rate range.** The plain net trains up to lr ≈ 0.3 and from
  lr = 1 diverges (NaN; quick: stalls at chance at 1, NaN from 3); with
  BatchNorm it trains up to lr ≈ 1–3 (BN makes each layer's output invariant
  to the scale of its weights, so a large step cannot blow the activations
  up).
* **Same steps, higher accuracy.** At its validation-picked rate the BN net
  reaches a higher test accuracy than the plain net at *its* picked rate
  (full: 0.61 at lr 1 vs 0.52 at lr 0.1 after 500 steps; quick, 8 layers of
  width 64 on 1000 signals, 300 steps: 0.44 vs 0.37).
* **Running statistics.** Evaluating the BN net with its running
  mean/variance (`train=False`, momentum 0.9) gives a test accuracy within 2
  points of train mode (batch statistics of the 1000 test signals).

"Trains" means the mean loss of the last 10 % of steps is below
`trains_below` × ln 10; "stalls" means it stays above `stalls_above` × ln 10
(chance is ln 10); "diverges" means a non-finite loss.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from experiments._runs import lr_run, mnist1d
from experiments._tuning import sweep
from jaxnn import diagnostics, layers, losses, optim, plotting, train

ORDER = 180  # place in the gallery and in `list`
NAME = "batchnorm"
CLAIM = (
    "A deep MLP (8–10 hidden layers) with BatchNorm trains on MNIST-1D at a learning rate "
    "where the plain net diverges or stalls, reaches a higher test accuracy in the same "
    "steps (each at its tuned rate), and its running-statistics accuracy is within 2 points "
    "of train mode."
)


@dataclasses.dataclass(frozen=True)
class Config:
    depth: int = 10  # hidden layers (Dense [→ BatchNorm] → ReLU)
    width: int = 128  # units per hidden layer
    momentum: float = 0.9  # BatchNorm running-average momentum (flax convention)
    num_train: int = 3500  # MNIST-1D training signals used for training
    num_val: int = 500  # further training signals held out to pick the learning rate
    num_steps: int = 500  # SGD steps per run
    batch_size: int = 128  # minibatch size
    lr_low: float = 1e-2  # plain-SGD learning rates (log grid)
    lr_high: float = 10.0
    lr_num: int = 7
    tail: float = 0.1  # final loss = mean minibatch loss over this last fraction of steps
    trains_below: float = 0.5  # "trains": final loss < this × ln 10
    stalls_above: float = 0.9  # "stalls": final loss > this × ln 10 (chance = ln 10)
    max_gap: float = 0.02  # |running-stats accuracy − train-mode accuracy| allowed
    seed: int = 0  # init and minibatch order (the same for both nets)

    @classmethod
    def quick(cls) -> Config:
        return cls(depth=8, width=64, num_train=1000, num_steps=300)


def _net(config: Config, batchnorm: bool):
    stack = []
    for _ in range(config.depth):
        stack.append(layers.Dense(config.width))
        if batchnorm:
            stack.append(layers.BatchNorm(momentum=config.momentum))
        stack.append(layers.Relu)
    return layers.serial(*stack, layers.Dense(10))


def _sweep(config: Config, model, splits, grid) -> dict:
    """Train at every rate of `grid` (one vmap); losses and accuracies of each run."""
    _, params, state = model.init(jax.random.key(config.seed), (-1, splits["train"][0].shape[-1]))
    loss_fn = train.supervised_loss(model)

    def accuracy(params, model_state, split, mode):
        x, y = splits[split]
        logits, _ = model.apply(params, model_state, x, train=mode)
        return losses.accuracy(logits, y)

    run = lr_run(
        loss_fn,
        optim.sgd,
        splits["train"],
        key=jax.random.key(config.seed + 1),
        num_steps=config.num_steps,
        batch_size=config.batch_size,
        model_state=state,
    )

    def one(lr):
        final, hist = run(lr, params)
        p, s = final.params, final.model_state
        return {
            "loss": hist["loss"],
            "train_acc": accuracy(p, s, "train", False),
            "val_acc": accuracy(p, s, "val", False),
            "test_acc": accuracy(p, s, "test", False),
            # BatchNorm in train mode: statistics of the 1000 test signals as one batch
            "test_acc_train_mode": accuracy(p, s, "test", True),
        }

    out = sweep(one, grid)
    curves = np.asarray(out["loss"], np.float64)
    k = max(1, int(round(config.tail * config.num_steps)))
    finite = np.array([diagnostics.first_nonfinite(c) < 0 for c in curves])
    out["final_loss"] = np.where(finite, curves[:, -k:].mean(-1), np.inf)
    out["diverged"] = ~finite
    # Pick by validation accuracy (a diverged run has NaN weights: its accuracy is chance).
    out["pick"] = int(np.argmax(np.where(finite, out["val_acc"], -1.0)))
    return out


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        splits = mnist1d(config.num_train, config.num_val)
        grid = log_grid(config.lr_low, config.lr_high, config.lr_num)
        runs = {
            name: _sweep(config, _net(config, bn), splits, grid)
            for name, bn in (("plain", False), ("BatchNorm", True))
        }
        chance = np.log(10.0)
        trains = {k: r["final_loss"] < config.trains_below * chance for k, r in runs.items()}
        fails = runs["plain"]["diverged"] | (
            runs["plain"]["final_loss"] > config.stalls_above * chance
        )
        where = np.flatnonzero(trains["BatchNorm"] & fails)
        checks.add(
            "learning rates where BatchNorm trains and the plain net diverges or stalls",
            grid[where],
            where.size > 0,
            f"BN final loss < {config.trains_below:g}·ln 10; plain NaN or > "
            f"{config.stalls_above:g}·ln 10",
        )
        pb, pp = runs["BatchNorm"]["pick"], runs["plain"]["pick"]
        acc_bn, acc_plain = runs["BatchNorm"]["test_acc"][pb], runs["plain"]["test_acc"][pp]
        checks.add(
            "test accuracy at each net's validation-picked learning rate",
            {
                "BatchNorm": acc_bn,
                "plain": acc_plain,
                "lr_BatchNorm": grid[pb],
                "lr_plain": grid[pp],
            },
            acc_bn > acc_plain,
            f"BatchNorm higher after the same {config.num_steps} steps",
        )
        running = runs["BatchNorm"]["test_acc"][pb]
        batch_mode = runs["BatchNorm"]["test_acc_train_mode"][pb]
        checks.add(
            "BatchNorm test accuracy: running statistics vs train mode",
            {"running": running, "train_mode": batch_mode},
            abs(running - batch_mode) <= config.max_gap,
            f"within {100 * config.max_gap:g} points",
        )
        numbers = {
            "lr_grid": grid,
            **{
                name: {
                    "final_loss": r["final_loss"],
                    "diverged": r["diverged"],
                    "train_acc": r["train_acc"],
                    "val_acc": r["val_acc"],
                    "test_acc": r["test_acc"],
                    "test_acc_train_mode": r["test_acc_train_mode"],
                    "pick": grid[r["pick"]],
                }
                for name, r in runs.items()
            },
            "bn_trains_plain_fails_at": grid[where],
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, grid, runs, where, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, grid, runs, where, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(4.6, 4.0),
        title=(
            "with BatchNorm the deep MLP trains at rates where the "
            "plain net diverges, and gets further"
        ),
    )
    ax1, ax2, ax3 = axes
    chance = np.log(10.0)
    top = 1.2 * chance
    for i, (name, r) in enumerate(runs.items()):
        loss = np.minimum(r["final_loss"], top)
        ax1.plot(grid, loss, "o-", color=f"C{i}", label=name)
        ax1.plot(grid[r["diverged"]], np.full(r["diverged"].sum(), top), "x", color=f"C{i}", ms=10)
    ax1.axhline(chance, color="gray", ls=":", lw=0.8, label="chance (ln 10)")
    ax1.set_xscale("log")
    ax1.set_xlabel("learning rate (SGD)")
    ax1.set_ylabel("final train loss (× at top: diverged, NaN)")
    ax1.set_title(f"{config.depth} hidden layers, {config.num_steps} steps")
    plotting.legend(ax1)
    high = int(where[-1]) if where.size else runs["BatchNorm"]["pick"]
    pp = runs["plain"]["pick"]
    shown = (
        (f"BatchNorm, lr {grid[high]:.2g}", runs["BatchNorm"]["loss"][high], "C1", "-"),
        (f"plain, lr {grid[high]:.2g}", runs["plain"]["loss"][high], "C0", "-"),
        (f"plain, lr {grid[pp]:.2g} (its pick)", runs["plain"]["loss"][pp], "C0", ":"),
    )
    for label, curve, color, ls in shown:
        curve = np.asarray(curve)
        bad = diagnostics.first_nonfinite(curve)
        if bad >= 0:
            label += f" — NaN at step {bad}"
            ax2.plot([bad], [3 * chance], "x", color=color, ms=10)
        ax2.plot(np.minimum(curve, 3 * chance), ls, color=color, lw=1, label=label)
    ax2.axhline(chance, color="gray", ls=":", lw=0.8)
    ax2.set_xlabel("step")
    ax2.set_ylabel("minibatch loss (clipped at 3 ln 10)")
    ax2.set_title("training curves")
    plotting.legend(ax2)
    for i, (name, r) in enumerate(runs.items()):
        ax3.plot(grid, r["test_acc"], "o-", color=f"C{i}", label=f"{name} (eval mode)")
        ax3.plot(grid[r["pick"]], r["test_acc"][r["pick"]], "*", color=f"C{i}", ms=14)
    ax3.plot(
        grid,
        runs["BatchNorm"]["test_acc_train_mode"],
        "s--",
        color="C1",
        mfc="none",
        label="BatchNorm (train mode)",
    )
    ax3.set_xscale("log")
    ax3.set_xlabel("learning rate (SGD)")
    ax3.set_ylabel("test accuracy (★ = validation pick)")
    ax3.set_title("test accuracy after the same steps")
    plotting.legend(ax3)
    name = "batchnorm.png"
    plotting.save(fig, folder / name)
    return name
