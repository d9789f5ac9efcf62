"""`python -m jaxnn.landscape`: surface (subprocess), hessian and trajectory (in process)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxnn import landscape
from jaxnn.landscape.cli import main
from tests import _landscape_cli_model as tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = ["--model", "tests._landscape_cli_model:model", "--data", "tests._landscape_cli_model:data"]


def test_surface_command_writes_every_file_with_slice_2d_values(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jaxnn.landscape", "surface", *MODEL, "--grid", "-1:1:5",
           "--ygrid", "-0.5:0.5:3", "--out", str(out), "--no-progress"]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for name in ("surface.h5", "surface_contour.png", "surface_filled.png", "surface_3d.png",
                 "surface.vtk", "surface.html"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    s = landscape.Surface.load(out / "surface.h5")
    _, params, _ = tiny.model()
    dx = landscape.random_direction(jax.random.key(1), params)
    dy = landscape.random_direction(jax.random.key(2), params)
    ref = landscape.slice_2d(
        tiny.loss, params, dx, dy, np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    )
    np.testing.assert_allclose(s.values["loss"], ref, rtol=1e-5, atol=1e-6)
    assert s.values["accuracy"].shape == (3, 5) and s.direction_info["y"]["key"] == 2
    assert main(cmd[3:]) == 2  # the same command again, without --resume: refused
    assert landscape.Surface.load(out / "surface.h5").done.all()  # and the file kept


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["surface", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and "--grid -1:1:51" in text and "MODULE:FACTORY" in text


@pytest.mark.slow  # ~15 s: five curvature programs compiled; the functions have fast tests
def test_hessian_command_matches_the_dense_hessian(tmp_path):
    assert main(["hessian", *MODEL, "--out", str(tmp_path), "--top-k", "2", "--iters", "51",
                 "--order", "8", "--runs", "1", "--trace-samples", "20"]) == 0  # fmt: skip
    result = json.loads((tmp_path / "hessian.json").read_text())
    _, params, _ = tiny.model()
    flat, unravel = ravel_pytree(params)
    ev = np.linalg.eigvalsh(
        np.asarray(jax.jit(jax.hessian(lambda w: tiny.loss(unravel(w))))(flat), np.float64)
    )
    np.testing.assert_allclose(result["top_eigenvalues"], ev[::-1][:2], rtol=1e-3)
    assert abs(result["trace"] - ev.sum()) < 4 * result["trace_standard_error"] + 1e-6
    assert (tmp_path / "hessian_density.png").exists()


def test_trajectory_command_reads_a_directory_of_npz_checkpoints(tmp_path):
    _, params, _ = tiny.model()
    grad = jax.jit(jax.grad(tiny.loss))
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    for step in range(6):
        np.savez(ckpts / f"step{step:03d}.npz", *jax.tree.leaves(params))
        params = jax.tree.map(lambda p, g: p - 0.5 * g, params, grad(params))
    out = tmp_path / "out"
    assert main(["trajectory", *MODEL, "--checkpoints", str(ckpts), "--grid", "-1:1:5",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    result = json.loads((out / "trajectory.json").read_text())
    assert result["num_checkpoints"] == 6 and len(result["coords"]) == 6
    assert 0.5 < sum(result["explained_variance_ratio"]) <= 1 + 1e-6
    np.testing.assert_allclose(result["coords"][-1], [0, 0], atol=1e-6)  # centre: last checkpoint
    assert (out / "trajectory_filled.png").exists() and (out / "surface.h5").exists()
