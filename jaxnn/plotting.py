"""Matplotlib helpers shared by experiments and benchmarks (the only jaxnn module importing it).

Figures are `matplotlib.figure.Figure` objects made by `new_figure`, not
pyplot figures: no GUI backend, nothing to close, safe headless. PNGs are
rendered with the Agg canvas. Every drawing helper takes an `ax` and returns
what it drew, so they compose:

    >>> fig, ax = new_figure()
    >>> contour(ax, xs, ys, Z, log=True, filled=True, cbar_label="training loss")
    >>> trajectory(ax, coords, label="SGD")
    >>> save(fig, "out/landscape.png")

One house style (`STYLE`, applied to matplotlib's rcParams by `new_figure`,
undo with `matplotlib.rcdefaults()`): 150 dpi, 10–12 pt fonts, light grid, and
a colour-blind-safe cycle (Okabe & Ito's eight colours, black last but one);
`curves` (and `series_style(i)`) change the line style after every 8 series,
so 9–32 series stay apart.
`legend` puts a legend outside the data when there are many entries;
`colorbar` labels the bar and, on a log scale, ticks it at 1, 2, 5 × 10^k;
`band` draws a mean with a seed band, `bars` means with error bars.

Conventions: `Z` is `(len(ys), len(xs))` (as `jaxnn.landscape.slice_2d`
returns it); arrays may be numpy or JAX arrays. With `log=True`, levels are
spaced geometrically between the smallest positive and the largest value of
`Z`, and non-positive values are left blank.
"""

import io
import os
import textwrap
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from jaxnn.results import write_bytes

__all__ = [
    "COLORS",
    "STYLE",
    "band",
    "bars",
    "colorbar",
    "contour",
    "curves",
    "legend",
    "log_ticks",
    "new_figure",
    "save",
    "series_style",
    "shades",
    "spectral_density",
    "surface",
    "trajectory",
]

# Okabe & Ito (2008), "Color universal design": distinguishable with every common
# colour-vision deficiency. Yellow is last: it is the weakest on white.
COLORS = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
_LINESTYLES = ("-", "--", ":", "-.")

STYLE: dict[str, Any] = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "figure.titlesize": 12,
    "lines.linewidth": 1.6,
    "lines.markersize": 4,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.framealpha": 0.85,
    "image.cmap": "viridis",
    "axes.prop_cycle": cycler(color=COLORS),
}


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    size: tuple[float, float] = (5.0, 4.0),
    projection: str | None = None,
    dpi: float = 150,
    title: str | None = None,
) -> tuple[Figure, Any]:
    """A `(fig, axes)` pair in jaxnn's style; like `plt.subplots`.

    `axes` is one Axes for 1x1, a 1-D array for a single row or column, else an
    `(nrows, ncols)` array.

    Args:
      nrows: rows of the panel grid.
      ncols: columns of the panel grid.
      size: per panel in inches.
      projection: `"3d"` gives 3-D axes for `surface`.
      dpi: rendering resolution (150 by default; `save` uses it).
      title: optional figure title (e.g. the claim the figure illustrates),
        wrapped to the figure's width.

    Returns:
      `(fig, axes)`.
    """
    rc: Any = matplotlib.rcParams  # (typed with literal keys; STYLE's are valid ones)
    rc.update(STYLE)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.empty((nrows, ncols), dtype=object)
    for i in range(nrows * ncols):
        axes.flat[i] = fig.add_subplot(nrows, ncols, i + 1, projection=projection)
    if title:  # wrapped to the figure's width (~9 characters per inch at 12 pt)
        width = max(30, int(9 * size[0] * ncols))
        fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.split("\n")))
    if axes.size == 1:
        return fig, axes[0, 0]
    return fig, (axes.ravel() if 1 in (nrows, ncols) else axes)


def legend(ax: Axes, *, outside: bool | str | None = None, title: str | None = None, **kwargs: Any):
    """A legend that does not cover the data.

    `outside`: `"right"` (or True) puts it to the right of the axes, `"below"`
    under them in up to 3 columns, both outside the data (constrained layout
    makes room); False keeps it inside at matplotlib's emptiest spot
    (`loc="best"` unless `loc` is given). None (default) means `"right"` past
    4 entries unless a `loc` is given, inside otherwise. Returns the legend
    (None if nothing is labelled).
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    if outside is None:  # an explicit `loc` means inside, where asked
        outside = len(handles) > 4 and "loc" not in kwargs
    if outside is True or outside == "right":
        kwargs = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0} | kwargs
    elif outside == "below":
        kwargs = {
            "loc": "upper center",
            "bbox_to_anchor": (0.5, -0.14),
            "ncol": min(3, len(handles)),
        } | kwargs
    elif outside is not False:
        raise ValueError(f'outside must be "right", "below", True, False or None; got {outside!r}.')
    return ax.legend(handles, labels, title=title, **kwargs)


def _plain(value, _pos=None) -> str:
    """Tick text: `0.2`, `5`, `1e+04`, never `2 × 10^-1` or a 5-digit geometric level."""
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.0e}"


def _log_locator(lo, hi):
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 10.0
    if decades <= 1.0:  # under a decade 1, 2, 5 leave one or two ticks: use 1 … 9
        subs: tuple[float, ...] = tuple(float(k) for k in range(1, 10))
    else:
        subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    numticks = 20 if decades <= 6 else 8  # past 6 decades, every other decade or so
    return matplotlib.ticker.LogLocator(base=10, subs=subs, numticks=numticks)


def log_ticks(axis: Any) -> None:
    """Log-axis ticks at 1, 2, 5 × 10^k (decades over a wide range) with plain labels."""
    axis.axes.autoscale_view()  # limits from the data drawn so far
    lo, hi = sorted(axis.get_view_interval())
    axis.set_major_locator(_log_locator(lo, hi))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(_plain))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def series_style(i: int) -> dict[str, Any]:
    """Colour and line style of series `i`: the 8 colours, then again dashed, dotted, dash-dot.

    The rcParams cycle holds only the colours (so a line drawn with an explicit
    colour stays solid); use this where more than 8 series share an axes.
    """
    return {"color": COLORS[i % len(COLORS)], "linestyle": _LINESTYLES[(i // len(COLORS)) % 4]}


def shades(n: int, cmap: str = "viridis", *, start: float = 0.0, stop: float = 1.0) -> list:
    """`n` colours evenly spaced along `cmap` (an ordered family: a sweep over one parameter)."""
    return [matplotlib.colormaps[cmap](v) for v in np.linspace(start, stop, max(int(n), 1))]


def colorbar(ax: Axes, mappable: Any, label: str, *, log: bool = False) -> Any:
    """A colour bar for `mappable` next to `ax`, labelled `label` (say what the colour is).

    With `log`, it is ticked at 1, 2, 5 × 10^k (or decades over a wide range)
    with plain labels — not at the geometric contour levels (43, 7.89, 1.45…).
    """
    return _add_colorbar(ax, mappable, label, log)


def _add_colorbar(ax, mappable, label, log):
    if not label:
        raise ValueError("colorbar needs a label saying what the colour shows; got none.")
    bar = ax.figure.colorbar(mappable, ax=ax)
    bar.set_label(label)
    if log:
        bar.locator = _log_locator(bar.norm.vmin, bar.norm.vmax)
        bar.formatter = matplotlib.ticker.FuncFormatter(_plain)
        bar.minorlocator = matplotlib.ticker.NullLocator()
        bar.update_ticks()
    return bar


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
    ax: Axes,
    xs: Any,
    ys: Any,
    Z: Any,
    levels: Any = 20,
    *,
    log: bool = False,
    filled: bool = False,
    cmap: str = "viridis",
    colorbar: bool = True,
    labels: bool = False,
    cbar_label: str = "loss",
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Any:
    """Contour lines (or filled contours) of `Z[i, j]` over `(xs[j], ys[i])`.

    Args:
      levels: number of levels or explicit level values.
      log: geometric levels and a log colour scale (bar ticked at 1, 2, 5 × 10^k).
      filled: `contourf` instead of `contour`.
      colorbar: add a colour bar, labelled `cbar_label`.
      labels: write level values on the lines.
      xlabel: x-axis label (e.g. "α (direction δ)").
      ylabel: y-axis label.

    Returns:
      The contour set.
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
    if filled:
        ax.grid(False)  # grid lines over a colour map read as contours
    if colorbar:
        _add_colorbar(ax, cs, cbar_label, log)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return cs


def surface(ax: Any, xs: Any, ys: Any, Z: Any, *, cmap: str = "viridis", log: bool = False) -> Any:
    """3-D surface of `Z` (needs `new_figure(projection="3d")`); `log` plots `log10 Z`."""
    xs, ys, z = np.asarray(xs), np.asarray(ys), np.asarray(Z, dtype=float)
    gx, gy = np.meshgrid(xs, ys)
    if log:
        z = np.log10(np.where(z > 0, z, np.nan))
    surf = ax.plot_surface(gx, gy, z, cmap=cmap, linewidth=0, antialiased=True)
    ax.set_zlabel("log10 loss" if log else "loss")
    return surf


def curves(
    ax: Axes,
    x: Any,
    ys: dict,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    title: str | None = None,
    legend_outside: bool | str | None = None,
) -> list:
    """One line per `label -> values` in `ys` (a dict) against `x` (or indices if `x` is None).

    Lines take the style's cycle (colour, then line style past 8); the legend
    goes outside the axes past 4 entries (see `legend`). Returns the lines.
    """
    lines = []
    for i, (label, values) in enumerate(ys.items()):
        values = np.asarray(values)
        xv = np.arange(values.shape[0]) if x is None else np.asarray(x)
        lines += ax.plot(xv, values, label=str(label), **series_style(i))
    if logy:
        ax.set_yscale("log")
        log_ticks(ax.yaxis)
    for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
        if text:
            setter(text)
    if len(ys) > 1:
        legend(ax, outside=legend_outside)
    return lines


def band(
    ax: Axes,
    x: Any,
    runs: Any,
    *,
    label: str | None = None,
    color: Any = None,
    spread: str = "std",
    alpha: float = 0.25,
    unit: str = "seeds",
    **line_kwargs: Any,
) -> tuple:
    """The mean over seeds of `runs` (shape `(seeds, len(x))`) with a shaded band.

    `spread="std"` shades mean ± one standard deviation, `"minmax"` the range
    over seeds. NaN/inf entries (diverged seeds) are ignored per point. The
    label gets "(n seeds)" appended (`unit` names what the rows are).
    Returns `(line, band)`.
    """
    runs = np.asarray(runs, dtype=float)
    if runs.ndim != 2:
        raise ValueError(f"runs must have shape (seeds, len(x)); got {runs.shape}.")
    runs = np.where(np.isfinite(runs), runs, np.nan)
    mean = np.nanmean(runs, axis=0)
    if spread == "std":
        lo, hi = mean - np.nanstd(runs, axis=0), mean + np.nanstd(runs, axis=0)
    elif spread == "minmax":
        lo, hi = np.nanmin(runs, axis=0), np.nanmax(runs, axis=0)
    else:
        raise ValueError(f'spread must be "std" or "minmax"; got {spread!r}.')
    text = f"{label} ({runs.shape[0]} {unit})" if label else None
    (line,) = ax.plot(np.asarray(x), mean, label=text, color=color, **line_kwargs)
    fill = ax.fill_between(np.asarray(x), lo, hi, color=line.get_color(), alpha=alpha, lw=0)
    return line, fill


def bars(
    ax: Axes,
    labels: Any,
    values: Any,
    *,
    colors: Any = None,
    ylabel: str | None = None,
    logy: bool = False,
    annotate: bool = True,
    fmt: str = "{:.3g}",
) -> Any:
    """One bar per label at the mean of its values, with error bars and the seeds as dots.

    `values` is a list (one entry per label) of scalars or 1-D arrays over
    seeds; a bar with several seeds gets a ± one-standard-deviation error bar
    and every seed drawn as a dot, so a reader sees how many runs it rests on.
    With `annotate`, the mean is written above each bar. Returns the bar container.
    """
    vals = [np.atleast_1d(np.asarray(v, dtype=float)) for v in values]
    means = np.array([v.mean() for v in vals])
    errs = np.array([v.std() if v.size > 1 else 0.0 for v in vals])
    x = np.arange(len(vals))
    colors = colors or [COLORS[i % len(COLORS)] for i in range(len(vals))]
    container = ax.bar(x, means, 0.6, yerr=errs, capsize=4, color=colors, alpha=0.85)
    for xi, v in zip(x, vals, strict=True):
        if v.size > 1:
            ax.plot(np.full(v.size, xi), v, "o", color="k", ms=3, zorder=3)
    ax.set_xticks(x, [str(label) for label in labels])
    if logy:
        ax.set_yscale("log")
    if ylabel:
        ax.set_ylabel(ylabel)
    if annotate:
        tops = [max(m + e, float(v.max())) for m, e, v in zip(means, errs, vals, strict=True)]
        for xi, m, e, top in zip(x, means, errs, tops, strict=True):
            text = fmt.format(m) + (f" ± {fmt.format(e)}" if e > 0 else "")
            ax.annotate(
                text,
                (xi, top),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    return container


def trajectory(
    ax: Axes,
    points: Any,
    label: str | None = None,
    *,
    color: Any = "C3",
    marker: str = "o",
    zorder: float = 3,
    **kwargs: Any,
) -> Any:
    """A path of `(n, 2)` points (e.g. `landscape.project` output), start (■) and end (★) marked."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2); got {pts.shape}.")
    opts: dict[str, Any] = {"markersize": 3, "linewidth": 1.4, "linestyle": "-"} | kwargs
    (line,) = ax.plot(
        pts[:, 0], pts[:, 1], color=color, marker=marker, label=label, zorder=zorder, **opts
    )
    ax.plot(*pts[0], marker="s", color=color, markersize=6, zorder=zorder, ls="none")
    ax.plot(
        *pts[-1],
        marker="*",
        color=color,
        markersize=11,
        zorder=zorder,
        ls="none",
        markeredgecolor="white",
        markeredgewidth=0.5,
    )
    if label:
        legend(ax)
    return line


def spectral_density(
    ax: Axes,
    grid: Any,
    density: Any,
    *,
    logy: bool = True,
    floor: float = 1e-7,
    label: str | None = None,
) -> Any:
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
        log_ticks(ax.yaxis)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    return line


def save(fig: Any, path: Any, *, dpi: float | None = None) -> str:
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
