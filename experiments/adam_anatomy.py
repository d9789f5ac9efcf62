"""Adam, taken apart: momentum + RMSProp + bias correction, and why AdamW is not Adam + L2.

Command::

    python -m experiments run adam_anatomy [--quick]

Runtime: ~3 s quick, ~3.5 s full (CPU time, 2-core CPU, compilation and imports
included; float64).

Expected result, on a least-squares regression with features on scales
0.1..3 (256 examples, 8 weights, start w = 0):

1. *Adam is momentum + RMSProp.* Built from jaxnn building blocks — an EMA
   of g (``trace(β1)`` then ``scale(1 − β1)``) for the numerator and the
   same EMA of g² for the denominator, m̂/(√v̂ + ε) — it reproduces
   ``jaxnn.optim.adam`` to float64 round-off. The same build with the bias
   corrections switched off is "Adam without bias correction".
2. *Bias correction.* With both corrections the first step has size η
   (|Δθ₁| = η·|g|/(|g| + ε)). Without them the step is
   η(1 − β1^t)/√(1 − β2^t): with only the first moment uncorrected it is
   (1 − β1) = 0.1 of η at step 1 — much smaller; with *both* uncorrected
   at the default β's (0.9, 0.999) it is (1 − β1)/√(1 − β2) = 3.16× η and
   grows further (for a constant gradient (1 − β1^t)/√(1 − β2^t) peaks at
   6.5× η near step 10; measured 5.3× here, as the gradient shrinks).
   Physical note: "without bias
   correction the first steps are much smaller than η" holds for the
   first moment alone (or whenever β2 ≤ β1); for Adam's default β's the
   second-moment bias dominates and the uncorrected steps are *larger*
   (Kingma & Ba, §3). The checks measure each ratio against its formula.
3. *b1 = 0.* Adam with β1 = 0 is RMSProp with bias correction and ε
   outside the root: ``adam(η, b1=0, b2=ρ)`` and
   ``rmsprop(η, decay=ρ, bias_correction=True, eps_in_sqrt=False)`` trace the
   same trajectory (< 1e-6; float64 round-off in practice).
4. *AdamW ≠ Adam + L2.* With the same λ = 0.1: Adam on L + λ/2‖w‖² divides
   the decay gradient λw by √v̂ along with the data gradient, so its fixed
   point is the ridge solution (measured equal to the closed form). AdamW
   adds ηλw *after* the normalization; its fixed point balances λw against
   a normalized gradient of size ~1, which on this full-batch problem lets
   w drift toward the unregularized least-squares solution. The final
   weight norms differ by tens of percent (> 10 % is checked). For SGD the
   two are the same update (checked: identical trajectories).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import losses, optim, plotting, train

ORDER = 130  # place in the gallery and in `list`
NAME = "adam_anatomy"
CLAIM = (
    "Adam = momentum + RMSProp + bias correction: rebuilt from trace/scale it matches "
    "jaxnn.optim.adam; without bias correction the first step is η(1−β1)/√(1−β2) "
    "(0.1η with only the first moment uncorrected, 3.2η with both, at β = (0.9, 0.999)); "
    "with b1 = 0 Adam equals bias-corrected RMSProp (< 1e-6); AdamW and Adam + L2 end at "
    "weight norms more than 10 % apart."
)


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # key of the synthetic regression data (256 examples)
    scales: tuple[float, float] = (0.1, 3.0)  # feature scales, log-spaced over the 8 columns
    num_features: int = 8  # weights
    noise: float = 0.1  # label noise std
    lr: float = 1e-2  # η of every Adam-family run
    b1: float = 0.9  # Adam's β1
    b2: float = 0.999  # Adam's β2 (RMSProp's decay in the b1 = 0 comparison)
    eps: float = 1e-8  # Adam's ε (outside the root)
    weight_decay: float = 0.1  # λ, the same for AdamW and for the L2 penalty λ/2‖w‖²
    num_steps: int = 5000  # full-batch steps of every run
    bias_steps: int = 200  # steps shown in the bias-correction figure
    match_tol: float = 1e-6  # max |Δθ| allowed between runs that must coincide
    ratio_rtol: float = 1e-3  # measured first-step ratios vs their formulas
    min_norm_gap: float = 0.1  # |‖w_AdamW‖ − ‖w_Adam+L2‖| / ‖w_Adam+L2‖ must exceed this

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=2000)


def adam_from_parts(lr, b1, b2, eps, *, correct_first=True, correct_second=True):
    r"""Adam from jaxnn building blocks, with each bias correction optional.

    m_t = (1 − β1) Σ β1^{t−s} g_s is ``chain(trace(β1), scale(1 − β1))`` on g,
    v_t the same with β2 on g², and the step is −η m̂/(√v̂ + ε) with
    m̂ = m/(1 − β1^t) (if `correct_first`) and v̂ = v/(1 − β2^t) (if
    `correct_second`). With both corrections it is ``jaxnn.optim.adam``. The
    two switches may be traced booleans, so the variants vmap.
    """
    first = optim.chain(optim.trace(decay=b1), optim.scale(1.0 - b1))
    second = optim.chain(optim.trace(decay=b2), optim.scale(1.0 - b2))

    def init(params):
        return (first.init(params), second.init(params), jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        del params
        m, s1 = first.update(grads, state[0])
        v, s2 = second.update(jax.tree.map(jnp.square, grads), state[1])
        t = state[2] + 1
        c1 = jnp.where(correct_first, 1.0 - b1**t, 1.0)
        c2 = jnp.where(correct_second, 1.0 - b2**t, 1.0)
        step = jax.tree.map(lambda a, b: -lr * (a / c1) / (jnp.sqrt(b / c2) + eps), m, v)
        return step, (s1, s2, t)

    return optim.Optimizer(init, update)


@jax.jit
def _regression(key, scales, noise, weight_decay):
    """Data, and the least-squares and ridge solutions in closed form (one compiled call)."""
    k1, k2, k3 = jax.random.split(key, 3)
    n, d = _N, scales.shape[0]
    x = jax.random.normal(k1, (n, d)) * scales[None, :]
    y = x @ jax.random.normal(k2, (d,)) + noise * jax.random.normal(k3, (n,))
    # mse = mean (xw − y)²: gradient (2/n) Xᵀ(Xw − y); the ridge objective adds λw.
    a, b = 2.0 / n * x.T @ x, 2.0 / n * x.T @ y
    return x, y, jnp.linalg.solve(a, b), jnp.linalg.solve(a + weight_decay * jnp.eye(d), b)


_N = 256  # examples of the regression problem


_VARIANTS = {  # (correct_first, correct_second) of the rebuilt Adam
    "both corrected (Adam)": (True, True),
    "first moment uncorrected": (False, True),
    "both uncorrected": (False, False),
}


def _trajectories(config: Config, x: jax.Array, y: jax.Array) -> dict:
    """Every run of the experiment (full-batch `optimize` from w = 0), in one compiled call."""
    lam, lr, b1, b2, eps = config.weight_decay, config.lr, config.b1, config.b2, config.eps
    data_loss = lambda w: losses.mse(x @ w, y)
    penalized = lambda c: lambda w: data_loss(w) + 0.5 * c * losses.l2_penalty(w)
    w0 = jnp.zeros((x.shape[1],), x.dtype)

    def traj(loss_fn, opt):
        return train.optimize(loss_fn, opt, w0, config.num_steps)[1]["params"]

    flags = jnp.asarray(list(_VARIANTS.values()))
    parts = jax.vmap(
        lambda c: traj(
            data_loss, adam_from_parts(lr, b1, b2, eps, correct_first=c[0], correct_second=c[1])
        )
    )(flags)
    # Adam on the data loss and on the L2-penalized loss: one vmap over the penalty.
    adam, adam_l2 = jax.vmap(lambda c: traj(penalized(c), optim.adam(lr, b1=b1, b2=b2, eps=eps)))(
        jnp.asarray([0.0, lam])
    )
    # SGD on L + λ/2‖w‖² and SGD with decoupled decay λ: one vmap over (penalty, decay).
    sgd_l2, sgd_wd = jax.vmap(
        lambda c, wd: traj(penalized(c), optim.chain(optim.add_decayed_weights(wd), optim.sgd(lr)))
    )(jnp.asarray([lam, 0.0]), jnp.asarray([0.0, lam]))
    return {
        "parts": parts,
        "adam": adam,
        "adam_l2": adam_l2,
        "adamw": traj(data_loss, optim.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=lam)),
        "adam_b1_0": traj(data_loss, optim.adam(lr, b1=0.0, b2=b2, eps=eps)),
        "rmsprop": traj(
            data_loss,
            optim.rmsprop(lr, decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        ),
        "sgd_l2": sgd_l2,
        "sgd_decay": sgd_wd,
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer, jax.enable_x64(True):
        d = config.num_features
        scales = np.logspace(np.log10(config.scales[0]), np.log10(config.scales[1]), d)
        x, y, w_ols, w_ridge = _regression(
            jax.random.key(config.seed), jnp.asarray(scales), config.noise, config.weight_decay
        )
        w_ols, w_ridge = np.asarray(w_ols), np.asarray(w_ridge)
        runs = jax.jit(lambda x, y: _trajectories(config, x, y))(x, y)
        runs = {k: np.asarray(v) for k, v in runs.items()}
        lr, b1, b2 = config.lr, config.b1, config.b2

        # 1. Adam rebuilt from building blocks.
        rebuild_gap = float(np.max(np.abs(runs["adam"] - runs["parts"][0])))
        checks.add(
            "rebuilt Adam vs jaxnn.optim.adam",
            rebuild_gap,
            rebuild_gap < config.match_tol,
            f"max |Δθ| over {config.num_steps} steps, float64",
        )

        # 2. Bias correction: the size of the first steps relative to η.
        step_ratio, first_ratio, predicted = {}, {}, {}
        for i, (name, (c1, c2)) in enumerate(_VARIANTS.items()):
            steps = runs["parts"][i, : config.bias_steps + 1]
            ratio = np.abs(np.diff(steps, axis=0)) / lr  # (T, d)
            step_ratio[name] = ratio.mean(axis=1)
            first_ratio[name] = float(ratio[0].mean())
            predicted[name] = (1.0 if c1 else 1.0 - b1) / (1.0 if c2 else np.sqrt(1.0 - b2))
            rel = abs(first_ratio[name] / predicted[name] - 1.0)
            checks.add(
                f"step 1 / η, {name}",
                first_ratio[name],
                rel < config.ratio_rtol,
                f"formula (1−β1 if uncorrected)/(√(1−β2) if uncorrected) = {predicted[name]:.4g}",
            )
        much_smaller = first_ratio["first moment uncorrected"]
        checks.add(
            "uncorrected first moment: first step much smaller than η",
            much_smaller,
            much_smaller < 0.2,
            "below 0.2η (it is 1 − β1 = 0.1)",
        )

        # 3. b1 = 0 Adam vs bias-corrected RMSProp.
        adam0, rms = runs["adam_b1_0"], runs["rmsprop"]
        rms_gap = float(np.max(np.abs(adam0 - rms)))
        checks.add(
            "Adam(b1 = 0) vs RMSProp(bias_correction=True)",
            rms_gap,
            rms_gap < config.match_tol,
            "max |Δθ|, eps outside the root in both",
        )

        # 4. AdamW vs Adam + L2 (and SGD, where they coincide).
        norms = {
            k: np.linalg.norm(runs[v], axis=1)
            for k, v in {"Adam": "adam", "Adam + L2": "adam_l2", "AdamW": "adamw"}.items()
        }
        final_norm = {k: float(v[-1]) for k, v in norms.items()}
        gap = abs(final_norm["AdamW"] - final_norm["Adam + L2"]) / final_norm["Adam + L2"]
        ridge_err = float(np.linalg.norm(runs["adam_l2"][-1] - w_ridge) / np.linalg.norm(w_ridge))
        checks.add(
            "Adam + L2 ends at the ridge solution",
            ridge_err,
            ridge_err < 1e-3,
            "‖w − w_ridge‖ / ‖w_ridge‖, closed form (2/n XᵀX + λI)⁻¹ (2/n) Xᵀy",
        )
        checks.add(
            "|‖w_AdamW‖ − ‖w_Adam+L2‖| / ‖w_Adam+L2‖",
            gap,
            gap > config.min_norm_gap,
            f"final norms: {final_norm}; must differ by > {config.min_norm_gap:.0%}",
        )
        sgd_gap = float(np.max(np.abs(runs["sgd_l2"] - runs["sgd_decay"])))
        checks.add(
            "SGD + L2 vs SGD + decoupled decay",
            sgd_gap,
            sgd_gap < config.match_tol,
            "for SGD the two are the same update",
        )

        numbers = {
            "rebuild_gap": rebuild_gap,
            "first_step_over_lr": {"measured": first_ratio, "predicted": predicted},
            "max_step_over_lr_first_steps": {k: float(v.max()) for k, v in step_ratio.items()},
            "adam_b1_0_vs_rmsprop_gap": rms_gap,
            "final_norm": final_norm,
            "ols_norm": float(np.linalg.norm(w_ols)),
            "ridge_norm": float(np.linalg.norm(w_ridge)),
            "norm_gap": gap,
            "adam_l2_vs_ridge": ridge_err,
            "sgd_l2_vs_decay_gap": sgd_gap,
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, step_ratio, predicted, adam0, rms, norms, w_ols, w_ridge, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, step_ratio, predicted, adam0, rms, norms, w_ols, w_ridge, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(5.0, 4.3),
        title="Adam = momentum + RMSProp + bias correction; AdamW's decay is not Adam + L2",
    )
    ax1, ax2, ax3 = np.ravel(axes)
    t = np.arange(1, config.bias_steps + 1)
    for i, (name, r) in enumerate(step_ratio.items()):
        ax1.semilogx(t, r, color=f"C{i}", label=name)
    b1, b2 = config.b1, config.b2
    ax1.semilogx(
        t, (1 - b1**t) / np.sqrt(1 - b2**t), "k:", lw=1, label="(1−β1ᵗ)/√(1−β2ᵗ) (constant g)"
    )
    ax1.axhline(1.0, color="gray", lw=0.6)
    ax1.set_yscale("log")
    ax1.set_xlabel("step t")
    ax1.set_ylabel("mean |Δθ_t| / η")
    ax1.set_title(f"bias correction, β = ({b1:g}, {b2:g})")
    plotting.legend(ax1)
    steps = np.arange(adam0.shape[0])
    ax2.semilogy(
        steps,
        np.maximum(np.max(np.abs(adam0 - rms), axis=1), 1e-18),
        label="max |θ_Adam(b1=0) − θ_RMSProp| (0 drawn at 1e-18)",
    )
    ax2.axhline(config.match_tol, color="gray", ls=":", label=f"tolerance {config.match_tol:g}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("difference (float64)")
    ax2.set_title("Adam(b1 = 0) = bias-corrected RMSProp")
    plotting.legend(ax2, loc="center right")
    plotting.curves(
        ax3,
        None,
        norms,
        xlabel="step",
        ylabel="‖w_t‖",
        title=f"weight norm, λ = {config.weight_decay:g}",
    )
    ax3.axhline(np.linalg.norm(w_ols), color="gray", ls="--", lw=0.8, label="least squares")
    ax3.axhline(np.linalg.norm(w_ridge), color="gray", ls=":", lw=0.8, label="ridge (closed form)")
    plotting.legend(ax3, loc="lower right")
    name = "adam_anatomy.png"
    plotting.save(fig, folder / name)
    return name
