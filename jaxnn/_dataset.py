"""The ``Dataset`` record every loader of ``jaxnn.data`` returns (re-exported there)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Train/test split: ``x_*`` float32, ``y_*`` int32 ids (or float32 targets)."""

    x_train: np.ndarray  # training inputs, float32, leading axis = examples
    y_train: np.ndarray  # training targets: int32 class ids or float32 regression targets
    x_test: np.ndarray  # test inputs, like x_train
    y_test: np.ndarray  # test targets, like y_train


Dataset.__module__ = "jaxnn.data"
