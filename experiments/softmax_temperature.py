"""Softmax with temperature: from argmax (T → 0) to uniform (T → ∞).

Command::

    python -m experiments run softmax_temperature [--quick]

Runtime: about a second (quick and full are the same computation).

Expected result: for fixed logits, `jaxnn.activations.softmax(x, temperature=T)`
swept over a log grid of T with one `jax.vmap`:

* the probabilities sum to 1 at every T (to float64 round-off);
* the entropy H(T) = −Σ p log p rises strictly monotonically with T, from ≈ 0
  to log K (K classes). This is exact, not empirical: with β = 1/T,
  dH/dβ = −β·Var_p(x) < 0 for non-constant logits. It is decided at a stated
  resolution: every step between neighbouring grid points must raise H by more
  than `rise_rtol` = 1e-9 *relative to H* (float64 round-off is ~1e-16 of H).
  An absolute test would be meaningless here: at T = 0.01 H itself is ~1e-42,
  so the first steps rise by ~1e-33 — resolved only relatively (there each
  step multiplies H by ~1e4), while near T = 100 H ≈ log K and a step adds
  ~1e-5 of it;
* at T = 0.01 the top class has probability > 0.99 (here 1 − O(e^{−100})).

The computation is in float64: at T = 0.01 the runner-up probabilities are
≈ e^{−100} ≈ 4e-44, below float32's smallest normal number, so in float32 the
entropy would be exactly 0 on the first few grid points and "strictly rising"
would fail for a reason that has nothing to do with softmax.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from jaxnn import activations, plotting

ORDER = 30  # place in the gallery and in `list`
NAME = "softmax_temperature"
CLAIM = (
    "Softmax probabilities sum to 1 at every temperature, their entropy rises monotonically "
    "with T, and at T = 0.01 the top class has probability > 0.99."
)


@dataclasses.dataclass(frozen=True)
class Config:
    logits: tuple[float, ...] = (2.0, 1.0, 0.5, 0.0, -1.0)  # fixed scores of K = 5 classes
    t_min: float = 0.01  # lowest temperature of the sweep (the argmax check is here)
    t_max: float = 100.0  # highest temperature (close to uniform)
    num_temperatures: int = 41  # log-spaced grid points (10 per decade)
    top_prob_at_t_min: float = 0.99  # the top class must exceed this at T = t_min
    shown: tuple[float, ...] = (0.1, 1.0, 10.0)  # temperatures drawn as bar charts
    rise_rtol: float = 1e-9  # each entropy step must exceed this fraction of H (resolution)

    @classmethod
    def quick(cls) -> Config:
        return cls()


def _entropy(logits: jax.Array, t: jax.Array) -> jax.Array:
    p = activations.softmax(logits, temperature=t)
    return -jnp.sum(p * activations.log_softmax(logits, temperature=t))


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer, jax.enable_x64(True):
        x = jnp.asarray(config.logits, jnp.float64)
        temps = log_grid(config.t_min, config.t_max, config.num_temperatures)
        shown_t = np.asarray(config.shown, np.float64)

        @jax.jit
        def compute(t):
            probs = jax.vmap(lambda ti: activations.softmax(x, temperature=ti))(t)
            return probs, jax.vmap(lambda ti: _entropy(x, ti))(t)

        probs, entropy = map(np.asarray, compute(np.concatenate([temps, shown_t])))
        probs, shown_probs = probs[: len(temps)], probs[len(temps) :]
        entropy = entropy[: len(temps)]
        sum_err = float(np.max(np.abs(probs.sum(axis=1) - 1.0)))
        checks.add("max |Σp − 1| over T", sum_err, sum_err < 1e-12, "float64")
        rel_steps = np.diff(entropy) / entropy[1:]
        checks.add(
            "smallest relative entropy increase between neighbouring T",
            float(rel_steps.min()),
            bool(np.all(rel_steps > config.rise_rtol)),
            f"(H(T_i+1) − H(T_i)) / H(T_i+1) > {config.rise_rtol:g} for every i: strictly "
            "increasing, decided at this relative resolution (float64 round-off ~1e-16)",
        )
        k = len(config.logits)
        checks.add(
            "entropy range",
            [entropy[0], entropy[-1], np.log(k)],
            entropy[0] < 1e-6 and np.log(k) - entropy[-1] < 1e-2,
            "≈ 0 at T = t_min and → log K at T = t_max",
        )
        top = float(probs[0].max())
        checks.add(
            f"top-class probability at T = {config.t_min:g}",
            top,
            top > config.top_prob_at_t_min and int(np.argmax(probs[0])) == int(np.argmax(x)),
            f"> {config.top_prob_at_t_min}, and it is the largest logit",
        )
        shown = {f"{ts:g}": p for ts, p in zip(config.shown, shown_probs, strict=True)}
        numbers = {
            "temperatures": temps,
            "entropy": entropy,
            "max_entropy_log_k": np.log(k),
            "probabilities": probs,
            "shown": shown,
        }
        figures = [_plot(config, temps, entropy, shown, experiment_dir(out_dir, NAME))]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, temps, entropy, shown: dict, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(5.5, 4.2),
        title="softmax with temperature: from argmax (T → 0) to uniform (T → ∞)",
    )
    ax1, ax2 = axes.flat
    k = len(config.logits)
    width = 0.8 / len(shown)
    for i, (ts, p) in enumerate(shown.items()):
        ax1.bar(np.arange(k) + (i - (len(shown) - 1) / 2) * width, p, width, label=f"T = {ts}")
    ax1.set_xticks(np.arange(k), [f"z={v:g}" for v in config.logits])
    ax1.set_ylabel("probability")
    ax1.set_title("softmax(z / T)")
    plotting.legend(ax1)
    ax2.semilogx(temps, entropy, "o-", ms=3, label="entropy H(T)")
    ax2.axhline(np.log(k), color="gray", ls="--", label=f"log K = {np.log(k):.3f} (uniform)")
    ax2.set_xlabel("temperature T")
    ax2.set_ylabel("entropy (nats)")
    ax2.set_title("entropy rises monotonically with T")
    plotting.legend(ax2)
    name = "softmax_temperature.png"
    plotting.save(fig, folder / name)
    return name
