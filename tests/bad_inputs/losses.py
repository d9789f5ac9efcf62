"""Bad inputs to jaxnn.losses: class ids outside [0, C), label smoothing, Huber's delta."""

from __future__ import annotations

import numpy as np

from jaxnn import losses
from tests.bad_inputs._case import Case

LOGITS = np.zeros((3, 4), np.float32)  # 4 classes
sce = losses.softmax_cross_entropy


def _ids(*values):
    return np.array(values, np.int32)


CASES = [
    Case(
        "losses-sce-negative-label",
        lambda: sce(LOGITS, _ids(0, -1, 2)),
        ValueError,
        ("softmax_cross_entropy", "class ids in [0, 4)", "min -1", "labels[1] = -1"),
    ),
    Case(
        "losses-sce-label-above-num-classes",
        lambda: sce(LOGITS, _ids(0, 7, 2)),
        ValueError,
        ("class ids in [0, 4)", "max 7", "labels[1] = 7"),
    ),
    Case(
        "losses-sce-label-equals-num-classes",
        lambda: sce(LOGITS, _ids(4, 1, 2)),
        ValueError,
        ("class ids in [0, 4)", "4 classes", "labels[0] = 4"),
    ),
    Case(
        "losses-sce-smoothed-label-out-of-range",
        lambda: sce(LOGITS, _ids(0, 1, -3), label_smoothing=0.1),
        ValueError,
        ("class ids in [0, 4)", "labels[2] = -3"),
    ),
    Case(
        "losses-sce-2d-labels-out-of-range",
        lambda: sce(np.zeros((2, 3, 4), np.float32), np.array([[0, 1, 2], [3, 9, 0]])),
        ValueError,
        ("[0, 4)", "1 of 6", "labels[1, 1] = 9"),
    ),
    Case(
        "losses-sce-negative-label-smoothing",
        lambda: sce(LOGITS, _ids(0, 1, 2), label_smoothing=-0.1),
        ValueError,
        ("label_smoothing", "[0, 1)", "-0.1"),
    ),
    Case(
        "losses-sce-label-smoothing-one",
        lambda: sce(LOGITS, _ids(0, 1, 2), label_smoothing=1.0),
        ValueError,
        ("label_smoothing", "[0, 1)", "1.0"),
    ),
    Case(
        "losses-sce-one-hot-label-smoothing-above-one",
        lambda: sce(LOGITS, np.eye(4, dtype=np.float32)[:3], label_smoothing=1.5),
        ValueError,
        ("label_smoothing", "[0, 1)", "1.5"),
    ),
    Case(
        "losses-huber-zero-delta",
        lambda: losses.huber(LOGITS, LOGITS, delta=0.0),
        ValueError,
        ("huber", "delta", "positive", "0.0"),
    ),
    Case(
        "losses-huber-negative-delta",
        lambda: losses.huber(LOGITS, LOGITS, delta=-1.0),
        ValueError,
        ("huber", "delta", "positive", "-1.0"),
    ),
]
