"""Under- and overfitting: polynomial regression of degree 1…15 on 30 noisy points.

Command::

    python -m experiments run under_overfitting [--quick]

Runtime: ~5 s CPU (quick and full are the same closed-form computation;
quick uses fewer extra datasets).

Setup. `jaxnn.data.polynomial_regression` draws x ~ U(−1, 1) and
y = p(x) + 0.3 ε with a random degree-5 polynomial p (coefficients N(0, 1));
30 training points, 200 validation points (for choosing the degree and the
penalty) and 1000 test points (only reported). Each degree d is fitted by
least squares, `jnp.linalg.lstsq`, in float64, on **Legendre features**
P_0(x) … P_d(x): they are orthogonal on [−1, 1], so the design matrix stays
well conditioned up to degree 15 (cond 25–8e3 on the 30 points of the first
nine datasets, where the monomials 1, x, …, x^15 give 5e5–2e6). All degrees
are one `vmap` over a column mask of the degree-15 features (lstsq's
minimum-norm solution puts zero on masked columns). The L2 (ridge) fit of
degree 15 minimizes ||Φw − y||² + λ Σ_{k≥1} w_k² (the constant is not
penalized), solved as the least-squares problem [Φ; √λ·D] w ≈ [y; 0] for a
log grid of λ in one `vmap`; λ is picked by the validation error (grid and
pick saved). The penalty is on the Legendre coefficients, so it is not the
same λ scale as a monomial ridge.

Expected result: the training error falls monotonically with the degree (the
models are nested, so least squares can only do better); the validation
error is U-shaped — high at degree 1 (underfitting), lowest at an
intermediate degree (4 for the dataset shown; 2–5 over 21 datasets), and
large at degree 15, which threads the noise (overfitting); the L2 penalty
brings the degree-15 validation error back near the best degree's (0.144 vs
0.132, from 2.66). The same holds for the mean over `num_datasets` further
datasets (independent draws of polynomial and noise); their per-dataset
numbers are saved.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from experiments._runs import stack
from jaxnn import data, losses, plotting

ORDER = 210  # place in the gallery and in `list`
NAME = "under_overfitting"
CLAIM = (
    "Fitting polynomials of degree 1…15 to 30 noisy points, the training error falls "
    "monotonically while the validation error is U-shaped with its minimum at an "
    "intermediate degree; an L2 penalty lowers the validation error of the degree-15 fit."
)


@dataclasses.dataclass(frozen=True)
class Config:
    true_degree: int = 5  # degree of the random polynomial that generates the data
    noise: float = 0.3  # std of the Gaussian noise on y (train, validation and test)
    n_train: int = 30  # training points
    n_val: int = 200  # validation points: pick the degree and λ
    n_test: int = 1000  # test points: reported only
    max_degree: int = 15  # fit degrees 1 … max_degree
    lam_low: float = 1e-8  # ridge penalties λ (log grid) for the degree-15 fit
    lam_high: float = 1e2
    lam_num: int = 41
    u_margin: float = 1.5  # U shape: val error at degree 1 and at max_degree >= margin × min
    seed: int = 0  # the dataset shown
    num_datasets: int = 20  # further datasets (seeds seed+1 …) for the averaged check

    @classmethod
    def quick(cls) -> Config:
        return cls(num_datasets=8)


def legendre_features(x: jax.Array, degree: int) -> jax.Array:
    """`(n,) -> (n, degree + 1)`: P_0(x) … P_degree(x) by Bonnet's recursion
    (k+1) P_{k+1} = (2k+1) x P_k − k P_{k−1}."""
    p = [jnp.ones_like(x), x]
    for k in range(1, degree):
        p.append(((2 * k + 1) * x * p[k] - k * p[k - 1]) / (k + 1))
    return jnp.stack(p[: degree + 1], axis=-1)


def _load(config: Config, seed: int):
    ds = data.polynomial_regression(
        jax.random.key(seed),
        degree=config.true_degree,
        noise=config.noise,
        n_train=config.n_train,
        n_test=config.n_val + config.n_test,
    )
    f64 = lambda a: jnp.asarray(a[:, 0], jnp.float64)  # noqa: E731
    x_te, y_te = f64(ds.x_test), f64(ds.y_test)
    v = config.n_val
    return {
        "train": (f64(ds.x_train), f64(ds.y_train)),
        "val": (x_te[:v], y_te[:v]),
        "test": (x_te[v:], y_te[v:]),
    }


def _fit_all(config: Config, sets: dict, lams: np.ndarray) -> dict:
    """Errors of every degree and of every λ (degree max_degree) on every dataset.

    `sets` maps split -> (x, y) with a leading dataset axis. Each part is one jitted
    program that vmaps over datasets, and inside over degrees (column masks) or over
    λ. The parts are separate programs on purpose: on the CPU backend a single
    program holding several batched LAPACK solves (lstsq for the degrees, lstsq for
    λ, the SVD of `cond`) was seen to hang intermittently (~1 run in 10).
    """
    dmax = config.max_degree
    degrees = jnp.arange(1, dmax + 1)
    penalty = jnp.diag(jnp.arange(dmax + 1) > 0).astype(jnp.float64)  # not the constant

    def features(sets):
        phi = {k: legendre_features(x, dmax) for k, (x, _) in sets.items()}
        return phi, {k: yy for k, (_, yy) in sets.items()}

    def errors(phi, y, w):
        return {k: losses.mse(phi[k] @ w, y[k]) for k in phi}

    def by_degree(sets):
        phi, y = features(sets)

        def fit(d):
            mask = (jnp.arange(dmax + 1) <= d).astype(jnp.float64)
            w = jnp.linalg.lstsq(phi["train"] * mask[None, :], y["train"])[0]
            return errors(phi, y, w), w

        return jax.vmap(fit)(degrees)

    def by_lambda(sets, lams):
        phi, y = features(sets)

        def fit(lam):
            a = jnp.concatenate([phi["train"], jnp.sqrt(lam) * penalty])
            b = jnp.concatenate([y["train"], jnp.zeros(dmax + 1)])
            w = jnp.linalg.lstsq(a, b)[0]
            return errors(phi, y, w), w

        return jax.vmap(fit)(lams)

    def cond(sets):
        return jnp.linalg.cond(features(sets)[0]["train"])

    # np.asarray waits for each program before the next one starts.
    sync = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731
    deg_err, deg_w = sync(jax.jit(jax.vmap(by_degree))(sets))
    lam_err, lam_w = sync(jax.jit(jax.vmap(by_lambda, (0, None)))(sets, jnp.asarray(lams)))
    conds = sync(jax.jit(jax.vmap(cond))(sets))
    return {"degree": deg_err, "degree_w": deg_w, "lam": lam_err, "lam_w": lam_w, "cond": conds}


# "Non-increasing" is decided at this relative resolution: far above lstsq's round-off
# (cond·ε ≈ 2e-12) and far below the smallest real fall between degrees (~1e-4).
_MONO_RTOL = 1e-9


def _smallest_fall(err: np.ndarray) -> float:
    """Smallest relative fall (E_k − E_{k+1}) / E_k of a training-error curve."""
    err = np.asarray(err)
    return float(np.min(-np.diff(err) / err[:-1]))


def _u_shape(val: np.ndarray, margin: float) -> tuple[bool, int]:
    best = int(np.argmin(val))
    ok = 0 < best < val.size - 1 and val[0] >= margin * val[best] and val[-1] >= margin * val[best]
    return bool(ok), best + 1


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer, jax.enable_x64(True):
        lams = log_grid(config.lam_low, config.lam_high, config.lam_num)
        seeds = [config.seed + i for i in range(config.num_datasets + 1)]
        loaded = [_load(config, s) for s in seeds]
        fits = _fit_all(config, stack(loaded), lams)
        sets = loaded[0]  # the dataset shown
        fit = jax.tree.map(lambda a: a[0], fits)
        train_err, val_err = fit["degree"]["train"], fit["degree"]["val"]
        monotone = bool(np.all(np.diff(train_err) <= _MONO_RTOL * train_err[:-1]))
        checks.add(
            "training error non-increasing in the degree",
            {"train_error": train_err, "smallest_relative_fall": _smallest_fall(train_err)},
            monotone,
            f"nested least-squares models; resolution {_MONO_RTOL:g} relative (lstsq round-off "
            "≈ cond·ε ≤ 8e3 · 2.2e-16 ≈ 2e-12)",
        )
        u_ok, best_degree = _u_shape(val_err, config.u_margin)
        checks.add(
            "validation error U-shaped, minimum at an intermediate degree",
            {
                "best_degree": best_degree,
                "val_degree_1": val_err[0],
                "val_min": val_err.min(),
                f"val_degree_{config.max_degree}": val_err[-1],
            },
            u_ok,
            f"argmin strictly inside 1…{config.max_degree}, both ends >= "
            f"{config.u_margin:g}× the minimum",
        )
        lam_val = fit["lam"]["val"]
        pick = int(np.argmin(lam_val))
        checks.add(
            f"degree-{config.max_degree} validation error: λ = 0 vs tuned λ",
            {"unpenalized": val_err[-1], "l2": lam_val[pick], "lambda": lams[pick]},
            lam_val[pick] < val_err[-1],
            "the L2 penalty (λ picked on the validation grid) lowers it",
        )
        # The same over further datasets: every one has a monotone training error; the
        # mean validation curve is U-shaped; the penalty helps on average.
        all_train, all_val = fits["degree"]["train"], fits["degree"]["val"]
        all_best = [int(np.argmin(v)) + 1 for v in all_val]
        mean_ok, mean_best = _u_shape(all_val.mean(0), config.u_margin)
        all_mono = bool(np.all(np.diff(all_train, axis=1) <= _MONO_RTOL * all_train[:, :-1]))
        l2_val = fits["lam"]["val"].min(axis=1)
        checks.add(
            f"over {len(seeds)} datasets: monotone training error, U-shaped mean validation error",
            {
                "best_degree_mean_curve": mean_best,
                "best_degree_each": all_best,
                "smallest_relative_fall": min(_smallest_fall(t) for t in all_train),
            },
            all_mono and mean_ok,
            f"training error non-increasing at relative resolution {_MONO_RTOL:g} on every "
            f"dataset; mean validation curve U-shaped (ends >= {config.u_margin:g}× its minimum)",
        )
        checks.add(
            f"over {len(seeds)} datasets: degree-{config.max_degree} val error, λ = 0 vs tuned",
            {"unpenalized_median": np.median(all_val[:, -1]), "l2_median": np.median(l2_val)},
            bool(np.all(l2_val < all_val[:, -1])),
            "the tuned penalty lowers it on every dataset",
        )
        numbers = {
            "degrees": np.arange(1, config.max_degree + 1),
            "shown": {
                "seed": config.seed,
                "train_mse": train_err,
                "val_mse": val_err,
                "test_mse": fit["degree"]["test"],
                "best_degree": best_degree,
                "cond_legendre_degree_15": fit["cond"],
                "l2_tuning": {"grid": lams, "val_mse": lam_val, "pick": lams[pick]},
                "l2_test_mse": fit["lam"]["test"][pick],
                "unpenalized_test_mse": fit["degree"]["test"][-1],
            },
            "datasets": {
                "seeds": seeds,
                "best_degree": all_best,
                "val_mse_degree_max": all_val[:, -1],
                "val_mse_l2_tuned": l2_val,
                "mean_val_mse": all_val.mean(0),
            },
        }
        folder = experiment_dir(out_dir, NAME)
        mean_val = all_val.mean(0)
        figures = [_plot(config, sets, fit, lams, best_degree, pick, mean_val, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, sets, fit, lams, best_degree, pick, mean_val, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(4.6, 4.0),
        title=(
            "training error falls with the degree; validation error is "
            "U-shaped; an L2 penalty rescues degree 15"
        ),
    )
    ax1, ax2, ax3 = axes
    (xtr, ytr), (xv, yv) = sets["train"], sets["val"]
    grid = np.linspace(-1, 1, 400)
    feats = np.asarray(legendre_features(jnp.asarray(grid), config.max_degree))
    ax1.plot(xv, yv, ".", color="lightgray", ms=3, label="validation")
    ax1.plot(xtr, ytr, "ko", ms=4, label="train")
    shown = {1: "C0", best_degree: "C2", config.max_degree: "C3"}
    for d, color in shown.items():
        ax1.plot(grid, feats @ fit["degree_w"][d - 1], color=color, label=f"degree {d}")
    ax1.plot(
        grid,
        feats @ fit["lam_w"][pick],
        "--",
        color="C4",
        label=f"degree {config.max_degree} + L2 (λ = {lams[pick]:.2g})",
    )
    lo, hi = np.min(ytr), np.max(ytr)
    ax1.set_ylim(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo))
    ax1.set_xlabel("x")
    ax1.set_title("fits")
    plotting.legend(ax1)
    degrees = np.arange(1, config.max_degree + 1)
    plotting.curves(
        ax2,
        degrees,
        {
            "train": fit["degree"]["train"],
            "validation": fit["degree"]["val"],
            f"validation, mean of {config.num_datasets + 1} datasets": mean_val,
        },
        xlabel="degree",
        ylabel="mean squared error",
        logy=True,
        title="training falls, validation is U-shaped",
    )
    ax2.axhline(config.noise**2, color="gray", ls=":", lw=0.8, label="noise variance")
    ax2.axvline(best_degree, color="C2", ls=":", lw=0.8)
    plotting.legend(ax2)
    ax3.semilogx(lams, fit["lam"]["val"], label="validation")
    ax3.semilogx(lams, fit["lam"]["train"], label="train")
    ax3.axhline(fit["degree"]["val"][-1], color="C3", ls="--", lw=0.8, label="validation, λ = 0")
    ax3.axvline(lams[pick], color="C4", ls=":", lw=0.8, label="picked λ")
    ax3.set_yscale("log")
    ax3.set_xlabel("λ (L2 penalty on Legendre coefficients)")
    ax3.set_title(f"degree {config.max_degree} with an L2 penalty")
    plotting.legend(ax3, outside="below", ncol=2)
    name = "under_overfitting.png"
    plotting.save(fig, folder / name)
    return name
