"""The experiments' learning-rate tuning: `jaxnn.tuning`, under the names they use.

`tune_lr` is `jaxnn.tuning.tune_learning_rate`; see that module for the
criteria and the tie-breaking rule.
"""

from jaxnn.tuning import (
    Criterion,
    TuneResult,
    final_loss,
    mean_log_loss,
    steps_to,
    sweep,
    tail_mean,
)
from jaxnn.tuning import tune_learning_rate as tune_lr

__all__ = [
    "Criterion",
    "TuneResult",
    "final_loss",
    "mean_log_loss",
    "steps_to",
    "sweep",
    "tail_mean",
    "tune_lr",
]
