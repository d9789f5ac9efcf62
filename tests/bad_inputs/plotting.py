"""Bad inputs to jaxnn.plotting: one row each."""

from __future__ import annotations

import numpy as np

from jaxnn import plotting
from tests.bad_inputs._case import Case


def _ax():
    return plotting, plotting.new_figure()[1]


def _contour_shape():
    plotting, ax = _ax()
    plotting.contour(ax, np.arange(3), np.arange(4), np.ones((3, 4)))


def _contour_log_nonpositive():
    plotting, ax = _ax()
    plotting.contour(ax, np.arange(3), np.arange(2), -np.ones((2, 3)), log=True)


def _colorbar_without_label():
    plotting, ax = _ax()
    mappable = ax.contourf(np.arange(3), np.arange(3), np.arange(9.0).reshape(3, 3))
    plotting.colorbar(ax, mappable, "")


def _band_1d():
    plotting, ax = _ax()
    plotting.band(ax, np.arange(5), np.arange(5.0))


def _band_spread():
    plotting, ax = _ax()
    plotting.band(ax, np.arange(3), np.ones((2, 3)), spread="iqr")


def _legend_where():
    plotting, ax = _ax()
    ax.plot([0, 1], label="a")
    plotting.legend(ax, outside="left")


def _trajectory_shape():
    plotting, ax = _ax()
    plotting.trajectory(ax, np.ones((4, 3)))


CASES = [
    Case("plotting-contour-z-shape", _contour_shape, ValueError, ("len(ys), len(xs)", "(4, 3)")),
    Case("plotting-contour-log-nonpositive", _contour_log_nonpositive, ValueError, ("positive",)),
    Case("plotting-colorbar-no-label", _colorbar_without_label, ValueError, ("label",)),
    Case("plotting-band-not-2d", _band_1d, ValueError, ("runs", "(seeds, len(x))", "(5,)")),
    Case("plotting-band-spread", _band_spread, ValueError, ("spread", "iqr")),
    Case("plotting-legend-outside", _legend_where, ValueError, ("outside", "left")),
    Case("plotting-trajectory-shape", _trajectory_shape, ValueError, ("(n, 2)", "(4, 3)")),
]
