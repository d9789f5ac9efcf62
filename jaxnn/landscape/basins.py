"""Basin statistics of a 1-D or 2-D slice: how wide the centre's basin is, how many minima.

Both work on a computed grid (`slice_1d`, `slice_2d`, `Surface.values[...]`),
in NumPy; NaN points (not computed) are left out.

* `basin_width(values, xs, ys=None, *, rise)`: the connected component of the
  sublevel set `{f <= f(c) + rise}` that contains the centre `c` (by default the
  grid point nearest to coordinate 0, i.e. the slice's `params`). 1-D: its
  width `right - left`, each end found by linear interpolation between the last
  point inside and the first outside. 2-D: the component is grown from `c`
  over 4-neighbours; its `area` is the sum of the grid cells of its points
  (each point owns the rectangle between the midpoints to its neighbours), and
  `width = 2 sqrt(area / pi)`, the diameter of the disc of the same area (for
  `f = x^2 + y^2` it is `2 sqrt(rise)`, as in 1-D). `reaches_edge` says the
  component touches the grid's border, so the true basin is wider than reported.
* `count_local_minima(values, *, persistence=0)`: the number of minima of the
  grid counted with a sublevel-set merge tree (0-dimensional persistent
  homology): points are added in increasing order of value, joined to their
  already-added neighbours (1-D: left/right; 2-D: the 8 neighbours, or 4 with
  `connectivity=4`) with union-find; a point with no added neighbour starts a
  component (a minimum, born at its value); when components meet, the younger
  one dies, with persistence `value - birth`. The count is the number of
  minima whose persistence exceeds `persistence`, plus the components that
  never die (one per connected piece of the grid). Plateaus count once, and
  grid-border points count as minima when they are lower than their
  neighbours. A `persistence` threshold above the noise level counts only the
  basins separated by barriers at least that high.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

__all__ = ["BasinWidth", "basin_width", "count_local_minima"]


class BasinWidth(NamedTuple):
    width: float  # 1-D: right - left; 2-D: 2 sqrt(area / pi)
    area: float  # 2-D: area of the component (1-D: equals width)
    level: float  # f(centre) + rise
    reaches_edge: bool  # the component touches the grid border


def _grid(values, xs, ys):
    z = np.asarray(values, np.float64)
    coords = [np.asarray(xs, np.float64)] + ([] if ys is None else [np.asarray(ys, np.float64)])
    want = tuple(len(c) for c in reversed(coords))
    if z.shape != want:
        raise ValueError(
            f"values must have shape {want} (len(ys), len(xs)) for these coordinates, "
            f"but it has shape {z.shape}."
        )
    return z, coords


def _cells(c: np.ndarray) -> np.ndarray:
    """Length of each point's cell: between the midpoints to its neighbours."""
    if c.size == 1:
        return np.ones(1)
    mid = (c[1:] + c[:-1]) / 2
    edges = np.concatenate([[c[0]], mid, [c[-1]]])
    return np.abs(np.diff(edges))


def _crossing(z, xs, inside: int, outside: int, level: float) -> float:
    za, zb = z[inside], z[outside]
    frac = 1.0 if not np.isfinite(zb) or zb == za else (level - za) / (zb - za)
    return float(xs[inside] + np.clip(frac, 0, 1) * (xs[outside] - xs[inside]))


def _width_1d(z, xs, c, level) -> BasinWidth:
    ends, edge = [], False
    for step in (-1, 1):
        i = c
        while 0 <= i + step < len(z) and z[i + step] <= level:
            i += step
        if 0 <= i + step < len(z):
            ends.append(_crossing(z, xs, i, i + step, level))
        else:
            ends.append(float(xs[i]))
            edge = True
    width = abs(ends[1] - ends[0])
    return BasinWidth(width, width, level, edge)


def _width_2d(z, xs, ys, c, level) -> BasinWidth:
    ny, nx = z.shape
    seen = np.zeros(z.shape, bool)
    seen[c] = True
    queue, edge = deque([c]), False
    while queue:
        i, j = queue.popleft()
        edge |= i in (0, ny - 1) or j in (0, nx - 1)
        for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
            if 0 <= a < ny and 0 <= b < nx and not seen[a, b] and z[a, b] <= level:
                seen[a, b] = True
                queue.append((a, b))
    area = float(np.sum(np.outer(_cells(ys), _cells(xs))[seen]))
    return BasinWidth(2 * np.sqrt(area / np.pi), area, level, bool(edge))


def basin_width(values, xs, ys=None, *, rise: float, center=None) -> BasinWidth:
    """Width of the centre's sublevel-set component `{f <= f(c) + rise}` (module docstring).

    Args:
      values: `(len(xs),)` or `(len(ys), len(xs))` grid values.
      xs, ys: the coordinates (`ys=None` for 1-D).
      rise: the loss increase that bounds the basin (> 0).
      center: grid index of the centre (int, or `(i, j)`); default the point
        nearest to coordinate 0.

    Returns:
      `BasinWidth(width, area, level, reaches_edge)`.
    """
    z, coords = _grid(values, xs, ys)
    if not rise > 0:
        raise ValueError(f"rise must be a positive loss increase, got {rise}.")
    if center is None:
        center = tuple(int(np.argmin(np.abs(c))) for c in reversed(coords))
    center = tuple(np.atleast_1d(center).astype(int).tolist())
    if len(center) != z.ndim or not all(0 <= k < s for k, s in zip(center, z.shape, strict=True)):
        raise ValueError(f"center {center} is not a grid index of values with shape {z.shape}.")
    if not np.isfinite(z[center]):
        raise ValueError(f"the centre point {center} has no finite value ({z[center]}).")
    level = float(z[center] + rise)
    if z.ndim == 1:
        return _width_1d(z, coords[0], center[0], level)
    return _width_2d(z, coords[0], coords[1], center, level)


def _neighbour_lists(shape, connectivity) -> list[list[int]]:
    """Flat indices of each grid point's neighbours (pure Python: the merge loop is scalar)."""
    if len(shape) == 1:
        (n,) = shape
        return [[q for q in (k - 1, k + 1) if 0 <= q < n] for k in range(n)]
    ny, nx = shape
    if connectivity == 4:
        offs = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    else:
        offs = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]
    return [
        [(i + a) * nx + j + b for a, b in offs if 0 <= i + a < ny and 0 <= j + b < nx]
        for i in range(ny)
        for j in range(nx)
    ]


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def count_local_minima(values, *, persistence: float = 0.0, connectivity: int = 8) -> int:
    """Number of local minima of a 1-D/2-D grid by a sublevel-set merge tree (module docstring).

    Args:
      values: `(n,)` or `(ny, nx)` grid values; NaN points are skipped.
      persistence: count only minima whose basin is separated from a deeper one
        by a barrier higher than this.
      connectivity: 2-D neighbourhood, 8 (default) or 4.

    Returns:
      the number of minima.
    """
    z = np.asarray(values, np.float64)
    if z.ndim not in (1, 2) or z.size == 0:
        raise ValueError(f"values must be a non-empty 1-D or 2-D grid; got shape {z.shape}.")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}.")
    flat = z.ravel().tolist()
    finite = np.isfinite(z.ravel())
    order = [int(k) for k in np.argsort(z.ravel(), kind="stable") if finite[k]]
    neighbours = _neighbour_lists(z.shape, connectivity)
    parent, birth = [-1] * len(flat), [0.0] * len(flat)
    count = 0
    for k in order:
        roots = {_find(parent, q) for q in neighbours[k] if parent[q] >= 0}
        if not roots:
            parent[k], birth[k] = k, flat[k]
            continue
        keep = min(roots, key=lambda r: (birth[r], r))
        parent[k] = keep
        for r in roots - {keep}:
            count += flat[k] - birth[r] > persistence
            parent[r] = keep
    survivors = {_find(parent, k) for k in order}
    return int(count + len(survivors))
