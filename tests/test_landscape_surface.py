"""compute_surface / compute_curve / Surface: values vs slice_2d, Li et al.'s files, resume."""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import landscape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _problem():
    x = jax.random.normal(jax.random.key(0), (32, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(jnp.int32)
    params = {"w": jnp.array([[1.0, -1.0], [0.5, 0.2], [0.1, 0.3]]), "b": jnp.zeros(2)}

    def logits(p):
        return x @ p["w"] + p["b"][None, :]

    def joint(p):
        z = logits(p)
        loss = jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])
        return {"loss": loss, "accuracy": jnp.mean(jnp.argmax(z, axis=1) == y).astype(jnp.float32)}

    dx = landscape.random_direction(jax.random.key(1), params)
    dy = landscape.random_direction(jax.random.key(2), params)
    return joint, params, dx, dy


def test_values_match_slice_2d_and_a_joint_metric_gives_both():
    joint, params, dx, dy = _problem()
    xs, ys = jnp.linspace(-1, 1, 7), jnp.linspace(-0.5, 0.5, 4)
    s = landscape.compute_surface(joint, params, dx, dy, xs, ys, chunk_size=5, progress=False)
    ref = landscape.slice_2d(lambda p: joint(p)["loss"], params, dx, dy, xs, ys)
    acc = landscape.slice_2d(lambda p: joint(p)["accuracy"], params, dx, dy, xs, ys)
    assert s.values["loss"].shape == (4, 7) and s.done.all() and s.complete
    np.testing.assert_allclose(s.values["loss"], ref, rtol=1e-5, atol=1e-6)  # other chunking
    np.testing.assert_allclose(s.values["accuracy"], acc, atol=1e-6)
    assert s.provenance["jax_version"] == jax.__version__ and s.provenance["sessions"]


def test_curve_matches_slice_1d_and_dict_of_metrics():
    joint, params, dx, _ = _problem()
    alphas = jnp.linspace(-1, 1, 9)
    metrics = {"joint": joint, "l2": lambda p: jnp.sum(p["w"] ** 2)}
    c = landscape.compute_curve(metrics, params, dx, alphas, progress=False)
    assert c.ys is None and set(c.values) == {"loss", "accuracy", "l2"}
    ref = landscape.slice_1d(lambda p: jnp.sum(p["w"] ** 2), params, dx, alphas)
    np.testing.assert_allclose(c.values["l2"], ref, rtol=1e-5)


def test_file_layout_is_li_et_al_and_round_trips(tmp_path):
    joint, params, dx, dy = _problem()
    xs, ys = jnp.linspace(-1, 1, 5), jnp.linspace(-1, 1, 3)
    path = tmp_path / "surf.h5"
    s = landscape.compute_surface(joint, params, dx, dy, xs, ys, path=path, progress=False,
                                  direction_info={"norm": "filter", "keys": [1, 2]})  # fmt: skip
    with h5py.File(path, "r") as f:
        assert f["train_loss"].shape == (3, 5) and f["train_acc"].shape == (3, 5)
        np.testing.assert_allclose(f["train_acc"][:], 100 * s.values["accuracy"], rtol=1e-6)
        np.testing.assert_allclose(f["xcoordinates"][:], xs)
        assert len(f["xdirection"]) == len(jax.tree.leaves(params))
        np.testing.assert_array_equal(f["ydirection"]["0"][:], jax.tree.leaves(dy)[0])
    loaded = landscape.Surface.load(path)
    for k in ("loss", "accuracy"):
        np.testing.assert_array_equal(loaded.values[k], s.values[k])
    assert loaded.direction_info == {"norm": "filter", "keys": [1, 2]}
    rebuilt = landscape.load_directions(path, like=params)
    jax.tree.map(np.testing.assert_array_equal, rebuilt[1], dy)
    loaded.save(tmp_path / "copy.h5")
    again = landscape.Surface.load(tmp_path / "copy.h5")
    np.testing.assert_array_equal(again.values["loss"], s.values["loss"])


def _write_like_crunch(path, xs, ys, loss_fn, acc_fn, stop):
    """What Li et al.'s plot_surface.py does: (nx, ny) datasets of -1, filled in meshgrid order."""
    with h5py.File(path, "w") as f:
        f["dir_file"] = "dirs.h5"
        f["xcoordinates"], f["ycoordinates"] = xs, ys
        losses, accs = -np.ones((len(xs), len(ys))), -np.ones((len(xs), len(ys)))
        inds = np.arange(losses.size)[losses.ravel() <= 0]
        gx, gy = np.meshgrid(xs, ys)
        coords = np.c_[gx.ravel()[inds], gy.ravel()[inds]]
        for count, ind in enumerate(inds[:stop]):
            losses.ravel()[ind] = loss_fn(*coords[count])
            accs.ravel()[ind] = acc_fn(*coords[count])
        f["train_loss"], f["train_acc"] = losses, accs


def test_loads_a_file_written_the_way_li_et_al_write_it(tmp_path):
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 2, 3)  # nx != ny: their (nx, ny) shape
    path = tmp_path / "theirs.h5"
    _write_like_crunch(path, xs, ys, lambda a, b: a**2 + 10 * b, lambda a, b: 50 + a, stop=12)
    s = landscape.Surface.load(path)
    gx, gy = np.meshgrid(xs, ys)
    done = np.arange(15).reshape(3, 5) < 12
    np.testing.assert_array_equal(s.done, done)
    np.testing.assert_allclose(s.values["loss"][done], (gx**2 + 10 * gy)[done])
    np.testing.assert_allclose(s.values["accuracy"][done], ((50 + gx) / 100)[done])
    assert np.isnan(s.values["loss"][~done]).all()


def test_a_file_from_another_run_is_refused_and_left_intact(tmp_path):
    joint, params, dx, dy = _problem()
    xs, ys = jnp.linspace(-1, 1, 4), jnp.linspace(-1, 1, 3)
    path = tmp_path / "s.h5"
    landscape.compute_surface(joint, params, dx, dy, xs, ys, path=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"grid \(xs\)"):
        landscape.compute_surface(joint, params, dx, dy, xs[:3], ys, path=path, progress=False)
    with pytest.raises(ValueError, match="directions"):
        landscape.compute_surface(joint, params, dy, dx, xs, ys, path=path, progress=False)
    with pytest.raises(ValueError, match="metric names"):
        landscape.compute_surface(lambda p: joint(p)["loss"], params, dx, dy, xs, ys, path=path,
                                  progress=False)  # fmt: skip
    assert path.read_bytes() == before


_CHILD = textwrap.dedent(
    """
    import sys, time, jax, jax.numpy as jnp
    sys.path.insert(0, {root!r})
    from tests.test_landscape_surface import _problem
    from jaxnn import landscape
    from jaxnn.landscape import compute
    joint, params, dx, dy = _problem()
    real = compute._hdf5.BlockWriter.write
    def slow(*a, **k):
        real(*a, **k)
        print("block", flush=True)
        time.sleep(0.3)
    compute._hdf5.BlockWriter.write = slow
    landscape.compute_surface(joint, params, dx, dy, jnp.linspace(-1, 1, 9),
                              jnp.linspace(-1, 1, 6), path={path!r}, chunk_size=4, progress=False)
    """
)


def test_killed_run_resumes_bit_identical(tmp_path):
    joint, params, dx, dy = _problem()
    xs, ys = jnp.linspace(-1, 1, 9), jnp.linspace(-1, 1, 6)
    path = str(tmp_path / "run.h5")
    code = _CHILD.format(root=ROOT, path=path)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT)  # fmt: skip
    blocks = 0
    for line in child.stdout:
        blocks += line.startswith("block")
        if blocks == 2:  # blocks of 16 points: 32 of 54 done
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"
    partial = landscape.Surface.load(path)
    assert 0 < partial.done.sum() < partial.done.size  # really stopped mid-grid
    resumed = landscape.compute_surface(joint, params, dx, dy, xs, ys, path=path, progress=False)
    whole = landscape.compute_surface(joint, params, dx, dy, xs, ys, chunk_size=4, progress=False)
    assert resumed.done.all()
    for k in ("loss", "accuracy"):  # same program per block: bit for bit
        np.testing.assert_array_equal(resumed.values[k], whole.values[k])
    assert len(resumed.provenance["sessions"]) == 2


def test_vtk_and_html_exports(tmp_path):
    joint, params, dx, dy = _problem()
    xs, ys = jnp.linspace(-1, 1, 4), jnp.linspace(-1, 1, 3)
    s = landscape.compute_surface(joint, params, dx, dy, xs, ys, progress=False)
    text = s.to_vtk(tmp_path / "s.vtk", log=True).read_text().splitlines()
    assert text[3] == "DATASET STRUCTURED_GRID" and text[4] == "DIMENSIONS 4 3 1"
    pts = np.array([[float(v) for v in line.split()] for line in text[6 : 6 + 12]])
    gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
    np.testing.assert_allclose(pts[:, 0], gx.ravel(), rtol=1e-6)
    np.testing.assert_allclose(pts[:, 2], np.log(s.values["loss"].ravel() + 0.1), rtol=1e-5)
    assert "SCALARS accuracy double 1" in text
    page = s.to_html(tmp_path / "s.html").read_text()
    assert "<canvas" in page and "http" not in page.split("<script>")[1]
    with pytest.raises(ValueError, match="'nope'"):
        s.to_html(tmp_path / "x.html", metric="nope")


CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (/usr/bin/chromium)"
)
def test_html_page_draws_in_headless_chromium_without_console_errors(tmp_path):
    xs, ys = np.linspace(-1, 1, 6), np.linspace(-1, 1, 5)
    gx, gy = np.meshgrid(xs, ys)
    z = gx**2 + np.sin(3 * gy)
    z[0, 0] = np.nan  # an unfinished point leaves a hole, not an error
    s = landscape.Surface(xs, ys, {"loss": z}, np.isfinite(z))
    page = s.to_html(tmp_path / "s.html")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    drawn = re.search(r'data-drawn="(\d+)"', run.stdout)
    assert drawn and int(drawn.group(1)) == 5 * 4 - 1, run.stdout[-500:]  # every quad but one
    assert "<canvas" in run.stdout
