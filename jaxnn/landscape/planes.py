"""The plane through three solutions (Garipov et al. 2018, Fig. 1).

For parameter vectors `w1, w2, w3` (flattened over all leaves):

    u = w2 - w1,                 dx = u / ||u||,
    v = (w3 - w1) - <w3 - w1, dx> dx,   dy = v / ||v||,

so `dx`, `dy` are orthonormal, the plane is `w1 + x dx + y dy`, and the three
points sit at `(0, 0)`, `(||u||, 0)` and `(<w3 - w1, dx>, ||v||)`. A surface
over it (`compute_surface(metrics, plane.origin, plane.dx, plane.dy, xs, ys)`)
shows the three solutions and the loss between them, the picture in which
Garipov et al. show that independently trained solutions are isolated on the
plane but joined by curves (`connect`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxnn.landscape._validate import check_same_tree

__all__ = ["Plane", "plane_through"]


class Plane(NamedTuple):
    origin: object  # w1, the plane's origin (a pytree like the parameters)
    dx: object  # unit vector along w2 - w1
    dy: object  # unit vector in the plane, orthogonal to dx
    coords: jax.Array  # (3, 2) coordinates of w1, w2, w3 in the plane


def plane_through(params_1, params_2, params_3) -> Plane:
    """Orthonormal directions of the plane through three parameter pytrees.

    Args:
      params_1, params_2, params_3: three solutions with the same structure.

    Returns:
      `Plane(origin=params_1, dx, dy, coords)` with `coords[k]` the `(x, y)`
      of `params_{k+1}` (see the module docstring).
    """
    check_same_tree("params_2", params_2, params_1, "params_1")
    check_same_tree("params_3", params_3, params_1, "params_1")
    w1, unravel = ravel_pytree(params_1)
    w2, w3 = ravel_pytree(params_2)[0], ravel_pytree(params_3)[0]
    u = w2 - w1
    nu = jnp.linalg.norm(u)
    r = w3 - w1
    x3 = jnp.vdot(r, u / nu)
    v = r - x3 * (u / nu)
    nv = jnp.linalg.norm(v)
    if not isinstance(nu, jax.core.Tracer) and (float(nu) == 0 or float(nv) <= 1e-6 * float(nu)):
        raise ValueError(
            "plane_through needs three points that span a plane, but they are "
            f"(nearly) collinear or equal: ||w2 - w1|| = {float(nu):.3g}, distance of w3 from "
            f"that line = {float(nv):.3g}."
        )
    coords = jnp.array([[0.0, 0.0], [nu, 0.0], [x3, nv]], dtype=w1.dtype)
    return Plane(params_1, unravel(u / nu), unravel(v / nv), coords)
