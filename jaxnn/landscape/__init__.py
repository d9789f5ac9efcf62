"""Loss landscapes: directions, slices, trajectories and Hessian curvature.

A loss function here is `loss_fn(params) -> scalar` over any parameter pytree
(close over the data; `dataset_loss` / `model_loss` build one over a whole
dataset). Conventions for each part are in the module docstrings:

* `directions`: `random_direction` / `normalize_direction` (Li et al. 2018
  filter, layer and model normalization).
* `slices`: `interpolate`, `slice_1d`, `slice_2d` - one compiled, chunked,
  vmapped (and, with several devices, sharded) program per slice.
* `trajectory`: `pca_directions`, `project` (Li et al. 2018, §7).
* `curvature`: `hvp`, `directional_curvature`, `hessian_top_eigenvalues` (Lanczos / power),
  `hessian_trace` (Hutchinson), `hessian_spectrum` (stochastic Lanczos
  quadrature) and `spectral_density`.
* `lossfns`: `dataset_loss`, `model_loss`.
* `compute` / `surface` / `export`: `compute_surface`, `compute_curve` (many
  metrics on a grid, resumable from an HDF5 file in Li et al.'s layout) and
  `Surface` (`save`, `load`, `to_vtk`, `to_html`); `save_directions`,
  `load_directions`.
* `planes`, `connectivity`: `plane_through` (Garipov et al. 2018's plane through
  three solutions) and `connect` (a trained Bezier / polygonal-chain curve).
* `epsilon_sharpness`: `sharpness` (Keskar et al. 2017), `convexity_map` (Li et al. 2018, §6),
  `basins`: `basin_width`, `count_local_minima`.

Example:
    >>> from jaxnn import landscape
    >>> dx = landscape.random_direction(jax.random.key(0), params)
    >>> dy = landscape.random_direction(jax.random.key(1), params)
    >>> xs = ys = jnp.linspace(-1, 1, 51)
    >>> Z = landscape.slice_2d(loss_fn, params, dx, dy, xs, ys)   # (51, 51)
"""

from jaxnn.landscape._hdf5 import load_directions, save_directions
from jaxnn.landscape.basins import BasinWidth, basin_width, count_local_minima
from jaxnn.landscape.compute import compute_curve, compute_surface
from jaxnn.landscape.connectivity import Connection, connect, curve_point
from jaxnn.landscape.convexity import ConvexityMap, convexity_map
from jaxnn.landscape.curvature import (
    HessianEigen,
    Spectrum,
    TraceEstimate,
    directional_curvature,
    hessian_spectrum,
    hessian_top_eigenvalues,
    hessian_trace,
    hvp,
    spectral_density,
)
from jaxnn.landscape.directions import normalize_direction, random_direction
from jaxnn.landscape.epsilon_sharpness import SharpnessInfo, sharpness
from jaxnn.landscape.lossfns import dataset_loss, model_loss
from jaxnn.landscape.planes import Plane, plane_through
from jaxnn.landscape.slices import (
    SliceInfo,
    default_chunk_size,
    interpolate,
    slice_1d,
    slice_2d,
)
from jaxnn.landscape.surface import Surface
from jaxnn.landscape.trajectory import PCADirections, pca_directions, project

__all__ = [
    "BasinWidth",
    "Connection",
    "ConvexityMap",
    "Plane",
    "SharpnessInfo",
    "Surface",
    "basin_width",
    "compute_curve",
    "compute_surface",
    "connect",
    "convexity_map",
    "count_local_minima",
    "curve_point",
    "load_directions",
    "plane_through",
    "save_directions",
    "sharpness",
    "HessianEigen",
    "PCADirections",
    "SliceInfo",
    "Spectrum",
    "TraceEstimate",
    "dataset_loss",
    "default_chunk_size",
    "hessian_spectrum",
    "hessian_top_eigenvalues",
    "hessian_trace",
    "directional_curvature",
    "hvp",
    "interpolate",
    "model_loss",
    "normalize_direction",
    "pca_directions",
    "project",
    "random_direction",
    "slice_1d",
    "slice_2d",
    "spectral_density",
]
