"""Export a surface grid for ParaView (legacy VTK) and for the browser (one HTML file).

* `write_vtk`: an ASCII legacy-VTK `STRUCTURED_GRID` with points
  `(xs[j], ys[i], z[i, j])` (x fastest, as VTK orders a structured grid) and
  every metric as `POINT_DATA` scalars. `z` is the chosen metric, clipped at
  `zmax` and log-scaled as Li et al.'s `h52vtp.py` does (`log(z + 0.1)`).
  ParaView opens it with File > Open; "Warp By Scalar" is not needed since z
  is already the height.
* `write_html`: a self-contained page (no network, no library): the grid as
  JSON and ~100 lines of inline JavaScript that draw the surface on a 2-D
  canvas as depth-sorted, colour-mapped quadrilaterals (painter's
  algorithm), with drag-to-rotate, wheel-zoom and double-click reset.
  Unfinished (NaN) points leave holes.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import numpy as np

from jaxnn.results import write_text

__all__ = ["write_html", "write_vtk"]


def _height(z, *, log: bool, zmax: float | None) -> np.ndarray:
    z = np.array(z, np.float64)
    if zmax is not None:
        z = np.minimum(z, zmax)
    if log:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.log(z + 0.1)
    return z


def _numbers(values) -> str:
    flat = np.asarray(values, np.float64).ravel()
    return "\n".join(" ".join(_num(v) for v in flat[i : i + 9]) for i in range(0, flat.size, 9))


def _num(v: float) -> str:
    return "nan" if math.isnan(v) else repr(float(v))


def write_vtk(path, xs, ys, values: dict, metric: str, *, log=False, zmax=None) -> Path:
    """Write a legacy-VTK structured grid of the surface `values[metric]` (see the module doc).

    Args:
      path: the `.vtk` file to write (atomically).
      xs, ys: `(nx,)` and `(ny,)` coordinates.
      values: metric name -> `(ny, nx)` array; all are attached as point data.
      metric: the metric used as the height z.
      log: z <- log(z + 0.1) (after clipping).
      zmax: clip z at this value first.

    Returns:
      the path written.
    """
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    nx, ny = len(xs), len(ys)
    z = _height(values[metric], log=log, zmax=zmax)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel(), z.ravel()], axis=1)
    lines = [
        "# vtk DataFile Version 3.0",
        f"jaxnn loss surface: z = {'log(' if log else ''}{metric}{' + 0.1)' if log else ''}",
        "ASCII",
        "DATASET STRUCTURED_GRID",
        f"DIMENSIONS {nx} {ny} 1",
        f"POINTS {nx * ny} double",
        "\n".join(" ".join(_num(c) for c in p) for p in points),
        f"POINT_DATA {nx * ny}",
    ]
    for name, arr in values.items():
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
        lines += [f"SCALARS {safe} double 1", "LOOKUP_TABLE default", _numbers(arr)]
    return write_text(path, "\n".join(lines) + "\n")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{margin:0;font:14px sans-serif;background:#fff}}#info{{position:absolute;left:10px;
top:8px;color:#222}}canvas{{display:block;cursor:grab}}</style></head>
<body><div id="info">{title} &mdash; drag to rotate, wheel to zoom, double-click to reset</div>
<canvas id="surface" width="900" height="700"></canvas>
<script>
"use strict";
const DATA = {data};
const cv = document.getElementById("surface"), ctx = cv.getContext("2d");
const nx = DATA.xs.length, ny = DATA.ys.length;
const span = (a) => {{ let lo = Infinity, hi = -Infinity;
  for (const v of a) if (v !== null) {{ lo = Math.min(lo, v); hi = Math.max(hi, v); }}
  return [lo, hi === lo ? lo + 1 : hi]; }};
const zf = DATA.z.flat(), [z0, z1] = span(zf), [x0, x1] = span(DATA.xs), [y0, y1] = span(DATA.ys);
const nrm = (v, lo, hi) => 2 * (v - lo) / (hi - lo) - 1;
const VIR = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];
function colour(t) {{ t = Math.min(1, Math.max(0, t)) * (VIR.length - 1);
  const i = Math.min(VIR.length - 2, Math.floor(t)), f = t - i, a = VIR[i], b = VIR[i + 1];
  return "rgb(" + a.map((c, k) => Math.round(c + f * (b[k] - c))).join(",") + ")"; }}
const view0 = {{az: -0.7, el: 0.6, zoom: 1}};
let view = Object.assign({{}}, view0);
function project(x, y, z) {{
  const ca = Math.cos(view.az), sa = Math.sin(view.az);
  const ce = Math.cos(view.el), se = Math.sin(view.el);
  const xr = ca * x - sa * y, yr = sa * x + ca * y;
  const s = Math.min(cv.width, cv.height) * 0.3 * view.zoom;
  return [cv.width / 2 + s * xr, cv.height / 2 - s * (ce * z * 0.7 - se * yr), ce * yr + se * z];
}}
function draw() {{
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
  const quads = [];
  for (let i = 0; i + 1 < ny; i++) for (let j = 0; j + 1 < nx; j++) {{
    const c = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]];
    const zs = c.map(([a, b]) => DATA.z[a][b]);
    if (zs.some((v) => v === null)) continue;
    const pts = c.map(([a, b], k) => project(nrm(DATA.xs[b], x0, x1), nrm(DATA.ys[a], y0, y1),
                                             nrm(zs[k], z0, z1)));
    const zm = zs.reduce((p, q) => p + q, 0) / 4;
    quads.push([pts.reduce((p, q) => p + q[2], 0) / 4, pts, (zm - z0) / (z1 - z0)]);
  }}
  quads.sort((a, b) => a[0] - b[0]);
  for (const [, pts, t] of quads) {{
    ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]);
    for (let k = 1; k < 4; k++) ctx.lineTo(pts[k][0], pts[k][1]);
    ctx.closePath(); ctx.fillStyle = colour(t); ctx.fill();
    ctx.strokeStyle = "rgba(0,0,0,0.15)"; ctx.stroke();
  }}
  ctx.fillStyle = "#222";
  const range = z0.toPrecision(4) + " .. " + z1.toPrecision(4);
  ctx.fillText(DATA.name + ": " + range, 10, cv.height - 12);
  document.body.dataset.drawn = String(quads.length);
}}
let drag = null;
cv.addEventListener("mousedown", (e) => {{ drag = [e.clientX, e.clientY]; }});
window.addEventListener("mouseup", () => {{ drag = null; }});
window.addEventListener("mousemove", (e) => {{ if (!drag) return;
  view.az += (e.clientX - drag[0]) * 0.01;
  view.el = Math.max(-1.5, Math.min(1.5, view.el + (e.clientY - drag[1]) * 0.01));
  drag = [e.clientX, e.clientY]; draw(); }});
cv.addEventListener("wheel", (e) => {{ e.preventDefault();
  view.zoom *= Math.exp(-e.deltaY * 0.001); draw(); }}, {{passive: false}});
cv.addEventListener("dblclick", () => {{ view = Object.assign({{}}, view0); draw(); }});
function fit() {{
  cv.width = window.innerWidth || 900; cv.height = window.innerHeight || 700; draw();
}}
window.addEventListener("resize", fit);
fit();
</script></body></html>
"""


def write_html(path, xs, ys, z, *, name="loss", log=False, title=None) -> Path:
    """Write a self-contained interactive 3-D view of one `(ny, nx)` grid (see the module doc).

    Args:
      path: the `.html` file to write (atomically).
      xs, ys: `(nx,)` and `(ny,)` coordinates.
      z: `(ny, nx)` values; NaN points are left out.
      name: the metric's name, shown on the page.
      log: show `log(z + 0.1)` instead of z.
      title: the page title (default: "jaxnn surface: <name>").

    Returns:
      the path written.
    """
    height = _height(z, log=log, zmax=None)
    grid = [[None if not np.isfinite(v) else float(v) for v in row] for row in height]
    label = f"log({name} + 0.1)" if log else name
    data = {"xs": [float(v) for v in xs], "ys": [float(v) for v in ys], "z": grid, "name": label}
    text = _PAGE.format(
        title=html.escape(title or f"jaxnn surface: {name}"),
        data=json.dumps(data).replace("</", "<\\/"),
    )
    return write_text(os.fspath(path), text)
