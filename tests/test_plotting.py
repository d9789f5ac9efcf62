"""jaxnn.plotting: every helper renders a PNG; save is atomic."""

import os

import numpy as np
import pytest

from jaxnn import plotting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _grid():
    xs, ys = np.linspace(-1, 1, 21), np.linspace(-2, 2, 15)
    z = 1.0 + xs[None, :] ** 2 + 0.5 * ys[:, None] ** 2  # (len(ys), len(xs)), positive
    return xs, ys, z


def _check_png(path):
    data = open(path, "rb").read()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "kwargs", [{}, {"filled": True}, {"log": True}, {"log": True, "filled": True, "labels": True}]
)
def test_contour_variants_write_png(tmp_path, kwargs):
    xs, ys, z = _grid()
    fig, ax = plotting.new_figure()
    plotting.contour(ax, xs, ys, z, levels=12, **kwargs)
    _check_png(plotting.save(fig, tmp_path / "c.png"))


def test_surface_curves_trajectory_density_write_pngs(tmp_path):
    xs, ys, z = _grid()
    fig, ax = plotting.new_figure(projection="3d")
    plotting.surface(ax, xs, ys, z, log=True)
    _check_png(plotting.save(fig, tmp_path / "surface.png"))

    fig, ax = plotting.new_figure()
    plotting.curves(ax, xs, {"train": xs**2 + 1, "test": xs**2 + 2}, xlabel="alpha", logy=True)
    _check_png(plotting.save(fig, tmp_path / "curves.png"))

    fig, ax = plotting.new_figure()
    plotting.contour(ax, xs, ys, z, filled=True, colorbar=False)
    t = np.linspace(0, 1, 30)
    plotting.trajectory(ax, np.stack([np.cos(3 * t), np.sin(3 * t) * 1.5], axis=1), label="SGD")
    _check_png(plotting.save(fig, tmp_path / "nested" / "traj.png"))  # creates the folder

    fig, axes = plotting.new_figure(1, 2)
    grid = np.linspace(-1, 5, 200)
    density = np.exp(-((grid - 2) ** 2))
    plotting.spectral_density(axes[0], grid, density)
    plotting.spectral_density(axes[1], grid, density, logy=False)
    _check_png(plotting.save(fig, tmp_path / "density.png"))
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "density.png", "nested", "surface.png"]


def test_save_is_atomic_and_cleans_up(tmp_path):
    xs, ys, z = _grid()
    fig, ax = plotting.new_figure()
    plotting.contour(ax, xs, ys, z)
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    plotting.save(fig, target)
    _check_png(target)
    assert os.listdir(tmp_path) == ["fig.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file's mode, not 0600

    class Broken:
        dpi = 100

        def savefig(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        plotting.save(Broken(), target)
    _check_png(target)  # the old file is untouched
    assert os.listdir(tmp_path) == ["fig.png"]


def test_plotting_bad_input():
    xs, ys, z = _grid()
    _, ax = plotting.new_figure()
    with pytest.raises(ValueError, match=r"\(len\(ys\), len\(xs\)\) = \(15, 21\)"):
        plotting.contour(ax, xs, ys, z.T)
    with pytest.raises(ValueError, match="positive"):
        plotting.contour(ax, xs, ys, -z, log=True)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plotting.trajectory(ax, np.ones((5, 3)))
