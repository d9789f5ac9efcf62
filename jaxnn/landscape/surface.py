"""`Surface`: a loss landscape on a grid, with the metadata to resume, share and re-plot it.

A surface holds, for a grid `xs` x `ys` around a centre `params` spanned by
directions `dx`, `dy`, one array per metric,
`values[name][i, j] = metric(params + xs[j] dx + ys[i] dy)`, shaped
`(len(ys), len(xs))` (ready for `plt.contour(xs, ys, Z)`), with NaN where the
point has not been computed yet and `done[i, j]` telling which have. A 1-D
curve (`compute_curve`) has `ys = None` and `(len(xs),)` arrays.

Files (`save`/`load`) are HDF5 in the layout of Li et al.'s loss-landscape
code, so their `plot_2D.py`, `plot_surface.py` and `h52vtp.py` read jaxnn's
files unchanged and `Surface.load` reads theirs (see `jaxnn/landscape/_hdf5.py`):
`loss` is stored as `train_loss`, `accuracy` as `train_acc` in percent (a
fraction in `values`), other metrics under their own names; unfinished
points are `-1` in the file and NaN (with `done` False) once loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxnn.landscape import _hdf5
from jaxnn.landscape.export import write_html, write_vtk

__all__ = ["Surface"]


class Surface(NamedTuple):
    """Metric values on a grid of a plane (or line) in parameter space, and how they were made."""

    xs: np.ndarray  # (nx,) x coordinates
    ys: np.ndarray | None  # (ny,) y coordinates; None for a 1-D curve
    values: dict  # metric name -> (ny, nx) (curve: (nx,)) array, NaN where not done
    done: np.ndarray  # bool, the grid's shape: True where the point has been computed
    directions: tuple = ()  # (dx leaves, dy leaves): lists of numpy arrays in tree order
    direction_info: dict = {}  # how to rebuild the directions: key, norm, ignore, filter_axis
    provenance: dict = {}  # jaxnn/JAX versions, backend, configuration, timings

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape, `(len(ys), len(xs))` (or `(len(xs),)` for a curve)."""
        return tuple(self.done.shape)

    @property
    def complete(self) -> bool:
        """Whether every grid point has been computed."""
        return bool(np.all(self.done))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the surface to an HDF5 file in Li et al.'s layout (atomically).

        Args:
          path: the `.h5` file; its parent directories are created.

        Returns:
          the path written.
        """
        fields = self._asdict()
        provenance = dict(self.provenance, direction_info=self.direction_info)
        fields.update(provenance=provenance, identity=provenance.get("identity", {}))
        return _hdf5.atomic_h5(path, lambda f: _hdf5.write_surface(f, fields, path=path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Surface:
        """Read a surface file written by jaxnn or by Li et al.'s `plot_surface.py`.

        Metric datasets come back under jaxnn names (`train_loss` -> `loss`,
        `train_acc` -> `accuracy` as a fraction, `test_acc` -> `test_accuracy`),
        other names unchanged; points still at `-1` in every metric of a file
        without a done mask are masked (NaN, `done` False).
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"No surface file at {os.fspath(path)!r}.")
        f = _hdf5.read_surface(path)
        provenance = dict(f["provenance"])
        info = provenance.pop("direction_info", {})
        provenance.setdefault("identity", f["identity"])
        return cls(f["xs"], f["ys"], f["values"], f["done"], f["directions"], info, provenance)

    def to_vtk(
        self,
        path: str | os.PathLike,
        metric: str = "loss",
        *,
        log: bool = False,
        zmax: float | None = None,
    ) -> Path:
        """Write a legacy-VTK structured grid that ParaView opens (Li et al.'s `h52vtp` view).

        The points are `(x, y, z)` with `z = values[metric]` (clipped at `zmax`
        when given, then `log(z + 0.1)` with `log=True`, as `h52vtp.py` does);
        every metric is attached as point data. Unfinished points are NaN.
        """
        self._check_2d("to_vtk")
        return write_vtk(
            path, self.xs, self.ys, self.values, self._metric(metric), log=log, zmax=zmax
        )

    def to_html(
        self,
        path: str | os.PathLike,
        metric: str = "loss",
        *,
        log: bool = False,
        title: str | None = None,
    ) -> Path:
        """Write one self-contained HTML page with an interactive 3-D view of a metric.

        No network access is needed: the page carries the data and a small
        canvas-2D renderer (drag to rotate, wheel to zoom, double-click to reset).
        """
        self._check_2d("to_html")
        name = self._metric(metric)
        return write_html(
            path, self.xs, self.ys, self.values[name], name=name, log=log, title=title
        )

    def _metric(self, metric: str) -> str:
        if metric not in self.values:
            raise ValueError(
                f"metric {metric!r} is not in this surface; it has {sorted(self.values)}."
            )
        return metric

    def _check_2d(self, what: str) -> None:
        if self.ys is None:
            raise ValueError(f"{what} needs a 2-D surface, but this is a 1-D curve (ys is None).")
