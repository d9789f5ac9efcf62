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

Example:
    >>> from jaxnn import landscape
    >>> dx = landscape.random_direction(jax.random.key(0), params)
    >>> dy = landscape.random_direction(jax.random.key(1), params)
    >>> xs = ys = jnp.linspace(-1, 1, 51)
    >>> Z = landscape.slice_2d(loss_fn, params, dx, dy, xs, ys)   # (51, 51)
"""

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
from jaxnn.landscape.hessian_directions import hessian_directions
from jaxnn.landscape.lossfns import dataset_loss, model_loss
from jaxnn.landscape.slices import (
    SliceInfo,
    default_chunk_size,
    interpolate,
    slice_1d,
    slice_2d,
)
from jaxnn.landscape.trajectory import PCADirections, pca_directions, project

__all__ = [
    "HessianEigen",
    "PCADirections",
    "SliceInfo",
    "Spectrum",
    "TraceEstimate",
    "dataset_loss",
    "default_chunk_size",
    "hessian_directions",
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
