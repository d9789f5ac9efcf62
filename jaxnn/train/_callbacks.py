"""The callback protocol of `fit` and two ready loggers, `CSVLogger` and `JSONLogger`.

A callback is any callable `callback(info: CallbackInfo) -> None`. `fit`
calls it after every epoch (`info.event == "epoch"`); if the callback has an
integer attribute `every_steps = N`, also after every `N`-th step
(`info.event == "step"`, counted over the whole run, across resumes). A step
event reads the step's metrics back from the device, so it costs a host sync.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from jaxnn import results
from jaxnn.train._types import PyTree

#: Columns of `CSVLogger`'s file, in order (a metric an event lacks is left empty).
CSV_COLUMNS = (
    "event", "epoch", "step", "loss", "grad_norm", "epoch_loss", "val_loss", "val_accuracy"
)  # fmt: skip


class CallbackInfo(NamedTuple):
    """What a callback receives."""

    event: str  # "epoch" (after an epoch) or "step" (after every `every_steps` steps)
    epoch: int  # 0-based index of the current epoch
    step: int  # updates run so far in the whole run (across resumes)
    metrics: dict  # step: loss, grad_norm; epoch: epoch_loss (+ val_loss, val_accuracy)
    params: PyTree  # parameters after that step / epoch
    model_state: PyTree  # model state that goes with `params`
    opt_state: PyTree  # optimizer state that goes with `params`
    start_step: int  # the step this `fit` call started (or resumed) from


class Callback(Protocol):
    """Any callable taking a `CallbackInfo`; an optional `every_steps` adds step events."""

    def __call__(self, info: CallbackInfo) -> None:
        """Receive one event."""


def every_steps(callback: Any) -> int | None:
    """The callback's step interval, checked; None for epoch events only."""
    n = getattr(callback, "every_steps", None)
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"A callback's `every_steps` must be a positive int or None; got {n!r}.")
    return n


def check_callbacks(callbacks: Any) -> tuple:
    """`callbacks` as a tuple of callables (raises naming the first that is not one)."""
    if callable(callbacks):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(
                f"`callbacks[{i}]` must be callable as callback(info); got {type(cb).__name__}."
            )
        every_steps(cb)
    return callbacks


def _record(info: CallbackInfo) -> dict:
    return {"event": info.event, "epoch": info.epoch, "step": info.step, **info.metrics}


class JSONLogger:
    """Write every event as one record of a JSON list, rewritten atomically each time.

    The file is always a complete JSON document (`jaxnn.results.write_json`;
    non-finite numbers as `"nan"`/`"inf"`). On a resumed run, records past the
    resume step (from the interrupted attempt) are dropped; a fresh run starts
    a fresh file.

    Args:
      path: the JSON file.
      every_steps: also log every this many steps (None: epochs only).
    """

    def __init__(self, path: str | os.PathLike, *, every_steps: int | None = None) -> None:
        self.path = Path(path)
        self.every_steps = every_steps
        self._records: list[dict] | None = None

    def __call__(self, info: CallbackInfo) -> None:
        """Append the event's record and rewrite the file."""
        if self._records is None:
            old = results.read_json(self.path) if self.path.exists() and info.start_step else []
            self._records = [r for r in old if r["step"] <= info.start_step]
        self._records.append(_record(info))
        results.write_json(self.path, self._records)


class CSVLogger:
    """Append one row per event to a CSV file (columns `CSV_COLUMNS`).

    Each row is written with one `write` and flushed, so a killed run leaves
    whole rows. On a resumed run, rows past the resume step are dropped first
    (the file is rewritten once, atomically); a fresh run starts a fresh file.

    Args:
      path: the CSV file.
      every_steps: also log every this many steps (None: epochs only).
    """

    def __init__(self, path: str | os.PathLike, *, every_steps: int | None = None) -> None:
        self.path = Path(path)
        self.every_steps = every_steps
        self._started = False

    def _start(self, start_step: int) -> None:
        rows = []
        if start_step and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        results.write_text(self.path, buffer.getvalue())
        self._started = True

    def __call__(self, info: CallbackInfo) -> None:
        """Append the event's row."""
        if not self._started:
            self._start(info.start_step)
        buffer = io.StringIO()
        row = {k: v for k, v in _record(info).items() if k in CSV_COLUMNS}
        csv.DictWriter(buffer, CSV_COLUMNS).writerow(row)
        with open(self.path, "a", newline="") as f:
            f.write(buffer.getvalue())
            f.flush()
