"""Matplotlib helpers shared by experiments and benchmarks (the only jaxnn module importing it).

Figures are `matplotlib.figure.Figure` objects made by `new_figure`, not
pyplot figures: no global state, no GUI backend, nothing to close, safe in
threads and headless. PNGs are rendered with the Agg canvas. Every drawing
helper takes an `ax` and returns what it drew, so they compose:

    >>> fig, ax = new_figure()
    >>> contour(ax, xs, ys, Z, log=True, filled=True)
    >>> trajectory(ax, coords, label="SGD")
    >>> save(fig, "out/landscape.png")

Conventions: `Z` is `(len(ys), len(xs))` (as `jaxnn.landscape.slice_2d`
returns it); arrays may be numpy or JAX arrays. With `log=True`, levels are
spaced geometrically between the smallest positive and the largest value of
`Z`, and non-positive values are left blank.
"""

import io
import os

import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from jaxnn.results import write_bytes

__all__ = [
    "contour",
    "curves",
    "new_figure",
    "save",
    "spectral_density",
    "surface",
    "trajectory",
]


def new_figure(nrows=1, ncols=1, *, size=(5.0, 4.0), projection=None, dpi=100):
    """A `(fig, axes)` pair; like `plt.subplots`, `axes` is one Axes for 1x1, a 1-D
    array for a single row or column, else an `(nrows, ncols)` array.

    `size` is per panel in inches; `projection="3d"` gives 3-D axes for `surface`.
    """
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.empty((nrows, ncols), dtype=object)
    for i in range(nrows * ncols):
        axes.flat[i] = fig.add_subplot(nrows, ncols, i + 1, projection=projection)
    if axes.size == 1:
        return fig, axes[0, 0]
    return fig, (axes.ravel() if 1 in (nrows, ncols) else axes)


def _levels(z, levels, log):
    if not log:
        return levels, None, z
    positive = z[np.isfinite(z) & (z > 0)]
    if positive.size == 0:
        raise ValueError("log=True needs some positive values in Z; all are <= 0 or non-finite.")
    lo, hi = positive.min(), positive.max()
    hi = hi if hi > lo else lo * 10
    n = levels if isinstance(levels, int) else len(levels)
    levels = np.geomspace(lo, hi, n) if isinstance(levels, int) else np.asarray(levels)
    return levels, LogNorm(vmin=lo, vmax=hi), np.where(z > 0, z, np.nan)


def contour(
    ax,
    xs,
    ys,
    Z,
    levels=20,
    *,
    log=False,
    filled=False,
    cmap="viridis",
    colorbar=True,
    labels=False,
):
    """Contour lines (or filled contours) of `Z[i, j]` over `(xs[j], ys[i])`.

    Args:
      levels: number of levels or explicit level values.
      log: geometric levels and a log colour scale.
      filled: `contourf` instead of `contour`.
      colorbar: add a colour bar; labels: write level values on the lines.
    """
    xs, ys, z = np.asarray(xs), np.asarray(ys), np.asarray(Z, dtype=float)
    if z.shape != (ys.size, xs.size):
        raise ValueError(
            f"Z must have shape (len(ys), len(xs)) = ({ys.size}, {xs.size}); got {z.shape}."
        )
    levels, norm, z = _levels(z, levels, log)
    draw = ax.contourf if filled else ax.contour
    cs = draw(xs, ys, z, levels=levels, cmap=cmap, norm=norm)
    if labels and not filled:
        ax.clabel(cs, inline=True, fontsize=7, fmt="%.3g")
    if colorbar:
        bar = ax.figure.colorbar(cs, ax=ax)
        if log:  # label a handful of the geometric levels, not matplotlib's decade ticks
            ticks = np.asarray(cs.levels)
            bar.set_ticks(ticks[:: max(1, len(ticks) // 6)], labels=None)
            bar.ax.yaxis.set_major_formatter("{x:.3g}")
            bar.ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    return cs


def surface(ax, xs, ys, Z, *, cmap="viridis", log=False):
    """3-D surface of `Z` (needs `new_figure(projection="3d")`); `log` plots `log10 Z`."""
    xs, ys, z = np.asarray(xs), np.asarray(ys), np.asarray(Z, dtype=float)
    gx, gy = np.meshgrid(xs, ys)
    if log:
        z = np.log10(np.where(z > 0, z, np.nan))
    surf = ax.plot_surface(gx, gy, z, cmap=cmap, linewidth=0, antialiased=True)
    ax.set_zlabel("log10 loss" if log else "loss")
    return surf


def curves(ax, x, ys, *, xlabel=None, ylabel=None, logy=False, title=None):
    """One line per `label -> values` in `ys` (a dict) against `x` (or indices if `x` is None)."""
    lines = []
    for label, values in ys.items():
        values = np.asarray(values)
        xv = np.arange(values.shape[0]) if x is None else np.asarray(x)
        lines += ax.plot(xv, values, label=str(label))
    if logy:
        ax.set_yscale("log")
    for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
        if text:
            setter(text)
    if len(ys) > 1:
        ax.legend(fontsize=8)
    return lines


def trajectory(ax, points, label=None, *, color="C3", marker="o"):
    """A path of `(n, 2)` points (e.g. `landscape.project` output), start and end marked."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2); got {pts.shape}.")
    (line,) = ax.plot(
        pts[:, 0], pts[:, 1], color=color, marker=marker, markersize=3, linewidth=1.2, label=label
    )
    ax.plot(*pts[0], marker="s", color=color, markersize=6)
    ax.plot(*pts[-1], marker="*", color=color, markersize=10)
    if label:
        ax.legend(fontsize=8)
    return line


def spectral_density(ax, grid, density, *, logy=True, floor=1e-7, label=None):
    """Hessian spectral density (e.g. `landscape.spectral_density`) against eigenvalue.

    With `logy`, values below `floor * max(density)` are clipped to it, so the
    empty gaps of the spectrum do not stretch the axis over 30 decades.
    """
    grid, density = np.asarray(grid), np.asarray(density)
    if logy:
        density = np.maximum(density, floor * max(float(density.max()), np.finfo(float).tiny))
    (line,) = ax.plot(grid, density, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    return line


def save(fig, path, *, dpi=None):
    """Write `fig` as PNG at `path` atomically and return `path`.

    The PNG is rendered in memory first and then written with
    `jaxnn.results.write_bytes` (a temporary file in the same folder, then
    `os.replace`), so readers never see a partial image and a failed render
    leaves any existing file untouched. Creates missing folders.
    """
    path = os.fspath(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    write_bytes(path, buf.getvalue())
    return path


# --- Landscape-study figures (used by `python -m jaxnn.landscape`) --------------------------------

__all__ += ["surface_pngs"]


def surface_pngs(xs, ys, Z, prefix, *, label="loss", log=False, path=None):
    """Contour, filled-contour and 3-D surface PNGs of one `(len(ys), len(xs))` grid.

    Writes `<prefix>_contour.png`, `<prefix>_filled.png` and `<prefix>_3d.png`
    (NaN points, not yet computed, are left blank), each with a colour bar
    labelled `label`; `path` (an `(n, 2)` array, e.g. a projected trajectory)
    is drawn on the two contour plots. Returns the three paths.
    """
    z = np.asarray(Z, dtype=float)
    out = []
    for kind in ("contour", "filled"):
        fig, ax = new_figure()
        cs = contour(ax, xs, ys, z, log=log, filled=kind == "filled", colorbar=False)
        fig.colorbar(cs, ax=ax, label=label)
        if path is not None:
            trajectory(ax, path)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        out.append(save(fig, f"{prefix}_{kind}.png"))
    fig, ax = new_figure(projection="3d")
    surf = surface(ax, xs, ys, np.where(np.isfinite(z), z, np.nan), log=log)
    ax.set_zlabel(f"log10 {label}" if log else label)
    fig.colorbar(surf, ax=ax, label=f"log10 {label}" if log else label, shrink=0.6)
    out.append(save(fig, f"{prefix}_3d.png"))
    return out
