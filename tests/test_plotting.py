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


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]


def test_every_helper_renders_labelled_in_house_style(tmp_path):
    """Each helper draws labelled: colour bar label and 1-2-5 log ticks, legends outside."""
    xs, ys, z = _grid()
    fig, axes = plotting.new_figure(2, 3, title="claim: the figure says what it shows")
    assert fig.dpi >= 150 and fig.get_suptitle().startswith("claim")
    ax = axes[0, 0]
    plotting.contour(
        ax,
        xs,
        ys,
        z * 30,
        log=True,
        filled=True,
        cbar_label="training loss",
        xlabel="α (δ)",
        ylabel="β (η)",
    )
    ax.set_title("contour")
    bar_ax = fig.axes[-1]  # the colour bar's axes
    assert bar_ax.get_ylabel() == "training loss"
    ticks = [t for t in bar_ax.get_yticks() if 30 <= t <= 30 * z.max()]
    mantissas = {round(t / 10 ** np.floor(np.log10(t)), 6) for t in ticks}
    # round numbers (k × 10^n; 1, 2, 5 × 10^n past a decade), not the geometric levels (43, 7.89)
    assert ticks and mantissas <= {float(k) for k in range(1, 10)}, ticks

    lines = plotting.curves(
        axes[0, 1],
        xs,
        {f"run {i}": xs**2 + i for i in range(10)},
        xlabel="x",
        ylabel="loss",
        title="ten runs",
    )
    assert len({(ln.get_color(), ln.get_linestyle()) for ln in lines}) == 10  # 9th, 10th dashed
    leg = axes[0, 1].get_legend()
    assert leg is not None and leg.get_bbox_to_anchor().x0 > axes[0, 1].bbox.x1 - 1  # outside

    seeds = np.stack([xs**2 + 0.1 * k for k in range(4)])
    line, _ = plotting.band(axes[0, 2], xs, seeds, label="SGD")
    assert line.get_label() == "SGD (4 seeds)"
    axes[0, 2].set(title="band", xlabel="x", ylabel="loss")

    container = plotting.bars(
        axes[1, 0], ["a", "b"], [np.array([1.0, 2.0, 3.0]), 4.0], ylabel="λ_max"
    )
    assert len(container.patches) == 2 and axes[1, 0].get_ylabel() == "λ_max"
    assert container.errorbar is not None  # error bars where seeds exist
    axes[1, 0].set(title="bars", xlabel="batch")

    t = np.linspace(0, 1, 30)
    plotting.trajectory(axes[1, 1], np.stack([np.cos(3 * t), np.sin(3 * t)], 1), label="SGD")
    axes[1, 1].set(title="trajectory", xlabel="α", ylabel="β")
    plotting.spectral_density(axes[1, 2], xs, np.exp(-(xs**2)))
    axes[1, 2].set_title("density")
    for a in axes.flat:
        assert a.get_title() and a.get_xlabel() and a.get_ylabel(), _texts(fig)
    _check_png(plotting.save(fig, tmp_path / "all.png"))

    with pytest.raises(ValueError, match="label"):
        plotting.colorbar(axes[0, 0], fig.axes[0].collections[0], "")
    with pytest.raises(ValueError, match=r"\(seeds, len\(x\)\)"):
        plotting.band(axes[0, 2], xs, xs)
