"""Optimizers as optax gradient transformations: aliases, transforms, schedules and wrappers.

Names, arguments, defaults and numerics are optax's, and every optimizer is an
``optax.GradientTransformationExtraArgs``, so jaxnn and optax transforms mix in
either library's ``chain`` and optax's extra arguments (``value``, ``grad``,
``value_fn``) reach optax members through jaxnn's combinators:

```python
opt = jaxnn.optim.adamw(1e-3, weight_decay=1e-2)
state = opt.init(params)
updates, state = opt.update(grads, state, params)
params = jaxnn.optim.apply_updates(params, updates)
```

Modules: ``base`` (protocol, ``apply_updates``), ``combine`` (``chain``,
``scale``, learning-rate scalings), ``transforms`` (momentum, decay, noise,
clipping), ``noise`` (``add_noise``), ``adaptive`` (AdaGrad, RMSProp, Adam scalings), ``masking``
(``masked``), ``alias`` (named optimizers), ``schedules`` (``step -> value``),
``wrappers`` (``inject_hyperparams``), ``partition`` (``partition``).
"""

from jaxnn.optim.adaptive import (
    ScaleByAdamState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByRStdDevState,
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from jaxnn.optim.alias import (
    adagrad,
    adam,
    adamw,
    momentum,
    nesterov,
    noisy_sgd,
    rmsprop,
    sgd,
)
from jaxnn.optim.base import EmptyState, Optimizer, apply_updates
from jaxnn.optim.combine import (
    ScaleByScheduleState,
    chain,
    identity,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from jaxnn.optim.masking import MaskedNode, MaskedState, masked
from jaxnn.optim.noise import AddNoiseState, add_noise
from jaxnn.optim.partition import PartitionState, partition
from jaxnn.optim.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    exponential_decay,
    join_schedules,
    linear_schedule,
    piecewise_constant_schedule,
    warmup_cosine_decay_schedule,
)
from jaxnn.optim.transforms import (
    AddDecayedWeightsState,
    TraceState,
    add_decayed_weights,
    clip,
    clip_by_global_norm,
    trace,
)
from jaxnn.optim.wrappers import InjectHyperparamsState, inject_hyperparams

__all__ = [
    # base
    "EmptyState",
    "Optimizer",
    "apply_updates",
    # transforms
    "AddDecayedWeightsState",
    "AddNoiseState",
    "MaskedNode",
    "MaskedState",
    "ScaleByAdamState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "add_decayed_weights",
    "add_noise",
    "chain",
    "clip",
    "clip_by_global_norm",
    "identity",
    "masked",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_stddev",
    "trace",
    # alias
    "adagrad",
    "adam",
    "adamw",
    "momentum",
    "nesterov",
    "noisy_sgd",
    "rmsprop",
    "sgd",
    # schedules
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "join_schedules",
    "linear_schedule",
    "piecewise_constant_schedule",
    "warmup_cosine_decay_schedule",
    # wrappers
    "InjectHyperparamsState",
    "PartitionState",
    "inject_hyperparams",
    "partition",
]
