"""Bad inputs to the landscape-study API: surfaces, exports, sharpness, connect, basins."""

import jax.numpy as jnp
import numpy as np

from jaxnn import landscape
from tests.bad_inputs._case import Case

P = {"w": jnp.ones(3)}
D = {"w": jnp.array([1.0, 0.0, 0.0])}
F = lambda p: jnp.sum(p["w"] ** 2)
XS = jnp.linspace(-1, 1, 3)


def _surface():
    done = np.ones((2, 3), bool)
    return landscape.Surface(np.arange(3.0), np.arange(2.0), {"loss": np.ones((2, 3))}, done)


def _curve():
    return landscape.Surface(np.arange(3.0), None, {"loss": np.ones(3)}, np.ones(3, bool))


CASES = [
    Case("studies-metrics-not-callable", lambda: landscape.compute_surface(3, P, D, D, XS, XS),
         TypeError, ("metrics", "callable", "int")),
    Case("studies-metric-not-scalar",
         lambda: landscape.compute_surface(lambda p: p["w"], P, D, D, XS, XS, progress=False),
         ValueError, ("'loss'", "scalar", "(3,)")),
    Case("studies-metric-int",
         lambda: landscape.compute_surface(lambda p: jnp.sum(p["w"] > 0), P, D, D, XS, XS),
         TypeError, ("float", "int32")),
    Case("studies-dy-shape", lambda: landscape.compute_surface(F, P, D, {"w": jnp.ones(2)}, XS, XS),
         ValueError, ("dy", "(2,)", "(3,)")),
    Case("studies-ys-2d", lambda: landscape.compute_surface(F, P, D, D, XS, jnp.ones((2, 2))),
         ValueError, ("ys", "1-d", "(2, 2)")),
    Case("studies-chunk-zero", lambda: landscape.compute_surface(F, P, D, D, XS, XS, chunk_size=0),
         ValueError, ("chunk_size", "positive")),
    Case("studies-curve-direction", lambda: landscape.compute_curve(F, P, {"v": jnp.ones(3)}, XS),
         ValueError, ("direction", "structure")),
    Case("studies-load-missing", lambda: landscape.Surface.load("/nonexistent/surface.h5"),
         FileNotFoundError, ("no surface file", "/nonexistent/surface.h5")),
    Case("studies-html-metric", lambda: _surface().to_html("/tmp/never.html", metric="acc"),
         ValueError, ("'acc'", "loss")),
    Case("studies-vtk-curve", lambda: _curve().to_vtk("/tmp/never.vtk"),
         ValueError, ("to_vtk", "2-d", "1-d")),
    Case("studies-sharpness-eps", lambda: landscape.sharpness(F, P, epsilon=0.0),
         ValueError, ("epsilon", "positive")),
    Case("studies-sharpness-steps", lambda: landscape.sharpness(F, P, steps=0),
         ValueError, ("steps", "positive")),
    Case("studies-connect-kind", lambda: landscape.connect(F, P, P, kind="spline"),
         ValueError, ("kind", "bezier", "'spline'")),
    Case("studies-connect-tree", lambda: landscape.connect(F, P, {"w": jnp.ones(4)}),
         ValueError, ("params_b", "(4,)", "(3,)")),
    Case("studies-plane-collinear", lambda: landscape.plane_through(P, D, D),
         ValueError, ("collinear",)),
    Case("studies-convexity-iters",
         lambda: landscape.convexity_map(F, P, D, D, XS, XS, num_iters=0),
         ValueError, ("num_iters", "positive")),
    Case("studies-convexity-int-params",
         lambda: landscape.convexity_map(lambda p: jnp.sum(p["w"]) * 1.0, {"w": jnp.ones(3, int)},
                                         {"w": jnp.ones(3, int)}, {"w": jnp.ones(3, int)}, XS, XS),
         TypeError, ("floating-point", "int")),
    Case("studies-basin-shape", lambda: landscape.basin_width(np.ones((3, 4)), np.arange(3.0),
                                                              np.arange(3.0), rise=1.0),
         ValueError, ("(3, 3)", "(3, 4)")),
    Case("studies-basin-rise", lambda: landscape.basin_width(np.ones(3), np.arange(3.0), rise=0),
         ValueError, ("rise", "positive")),
    Case("studies-minima-3d", lambda: landscape.count_local_minima(np.ones((2, 2, 2))),
         ValueError, ("1-d or 2-d", "(2, 2, 2)")),
    Case("studies-minima-connectivity",
         lambda: landscape.count_local_minima(np.ones((2, 2)), connectivity=6),
         ValueError, ("connectivity", "6")),
]  # fmt: skip
