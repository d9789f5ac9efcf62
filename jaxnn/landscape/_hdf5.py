"""Surface and direction files in the HDF5 layout of Li et al.'s loss-landscape code.

Their `plot_surface.py` writes, per surface file,

* `xcoordinates` `(nx,)` and, for a 2-D surface, `ycoordinates` `(ny,)`;
* `dir_file`: the name of the direction file;
* one dataset per metric, `train_loss`, `train_acc` (accuracy in **percent**),
  `test_loss`, `test_acc`, initialized to `-1` ("not computed yet").

`crunch` allocates the 2-D datasets with shape `(nx, ny)` but fills flat index
`k` with the point `(meshgrid(x, y)[0].ravel()[k], meshgrid(x, y)[1].ravel()[k])`,
i.e. the ravelled values are in `(ny, nx)` row-major order; `plot_2D.py` and
`h52vtp.py` read them back as `(ny, nx)`. jaxnn writes `(ny, nx)` datasets
(identical bytes when `nx == ny`), and reads any file by reshaping the
ravelled values to `(ny, nx)`, which is right for both.

Direction files (`net_plotter.py`/`h5_util.py`): groups `xdirection` and
`ydirection`, each holding one dataset per parameter tensor named `"0"`,
`"1"`, ... in order. jaxnn writes those groups into the surface file itself
(leaves in `jax.tree.leaves` order) and points `dir_file` at it.

jaxnn's own additions (ignored by their scripts): a `jaxnn_done` mask and two
JSON attributes, `jaxnn_identity` (what makes two runs the same run) and
`jaxnn_provenance` (versions, configuration, timings).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import h5py
import jax
import numpy as np

__all__ = ["load_directions", "save_directions"]

_TO_FILE = {"loss": "train_loss", "accuracy": "train_acc", "test_accuracy": "test_acc"}
_FROM_FILE = {v: k for k, v in _TO_FILE.items()}
_PERCENT = ("accuracy", "test_accuracy")  # stored in percent, returned as fractions
_RESERVED = ("xcoordinates", "ycoordinates", "dir_file", "xdirection", "ydirection", "jaxnn_done")
DONE = "jaxnn_done"
UNFINISHED = -1.0


def file_name(metric: str) -> str:
    """The dataset name of a jaxnn metric (`loss` -> `train_loss`, `accuracy` -> `train_acc`)."""
    return _TO_FILE.get(metric, metric)


def to_file_values(metric: str, values: np.ndarray) -> np.ndarray:
    """float64 values as stored: accuracies in percent, unfinished (NaN) points -1."""
    out = np.asarray(values, np.float64) * (100.0 if metric in _PERCENT else 1.0)
    return np.where(np.isnan(out), UNFINISHED, out)


def _from_file_values(metric: str, stored: np.ndarray) -> np.ndarray:
    return np.asarray(stored, np.float64) / (100.0 if metric in _PERCENT else 1.0)


def _write_list(group: h5py.Group, leaves) -> None:
    for i, leaf in enumerate(leaves):
        group.create_dataset(str(i), data=np.asarray(leaf))


def _read_list(group: h5py.Group) -> list[np.ndarray]:
    return [np.asarray(group[str(i)]) for i in range(len(group))]


def atomic_h5(path: str | os.PathLike, fill) -> Path:
    """Write a new HDF5 file with `fill(h5py.File)` into a temporary file, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_surface(f: h5py.File, fields: dict, *, path: str | os.PathLike) -> None:
    """Fill an open file with a surface: coordinates, metrics, done mask, directions, JSON attrs."""
    f["xcoordinates"] = np.asarray(fields["xs"], np.float64)
    if fields["ys"] is not None:
        f["ycoordinates"] = np.asarray(fields["ys"], np.float64)
    for name, values in fields["values"].items():
        f[file_name(name)] = to_file_values(name, values)
    f[DONE] = np.asarray(fields["done"], np.uint8)
    if fields["directions"]:
        for group, leaves in zip(("xdirection", "ydirection"), fields["directions"], strict=False):
            _write_list(f.create_group(group), leaves)
        f["dir_file"] = os.path.basename(os.fspath(path))
    f.attrs["jaxnn_identity"] = json.dumps(fields["identity"], sort_keys=True)
    f.attrs["jaxnn_provenance"] = json.dumps(fields["provenance"], sort_keys=True, default=str)


def _metric_names(f: h5py.File, size: int) -> list[str]:
    names = []
    for key in f.keys():
        item = f[key]
        if key in _RESERVED or not isinstance(item, h5py.Dataset):
            continue
        if item.shape != () and int(np.prod(item.shape)) == size:
            names.append(key)
    return names


def read_surface(path: str | os.PathLike) -> dict:
    """Every field of a surface file (jaxnn's or Li et al.'s), metrics under jaxnn names."""
    with h5py.File(path, "r") as f:
        if "xcoordinates" not in f:
            raise ValueError(
                f"{os.fspath(path)!r} is not a surface file: it has no 'xcoordinates' dataset "
                f"(found {sorted(f.keys())})."
            )
        xs = np.asarray(f["xcoordinates"])
        ys = np.asarray(f["ycoordinates"]) if "ycoordinates" in f else None
        shape = (len(xs),) if ys is None else (len(ys), len(xs))
        stored = {
            k: np.asarray(f[k]).ravel().reshape(shape)
            for k in _metric_names(f, len(xs) * (1 if ys is None else len(ys)))
        }
        directions = tuple(_read_list(f[g]) for g in ("xdirection", "ydirection") if g in f)
        done_stored = np.asarray(f[DONE]).astype(bool).reshape(shape) if DONE in f else None
        identity = json.loads(f.attrs.get("jaxnn_identity", "{}"))
        provenance = json.loads(f.attrs.get("jaxnn_provenance", "{}"))
    done = done_stored
    if done is None:  # Li et al.'s file: a point is done when no metric is still -1
        done = np.ones(shape, bool)
        for raw in stored.values():
            done &= raw != UNFINISHED
    values = {}
    for key, raw in stored.items():
        name = _FROM_FILE.get(key, key)
        values[name] = np.where(done, _from_file_values(name, raw), np.nan)
    return dict(
        xs=xs, ys=ys, values=values, done=done, directions=directions,
        identity=identity, provenance=provenance,
    )  # fmt: skip


def read_identity(path: str | os.PathLike) -> dict:
    """The `jaxnn_identity` attribute of a file ({} when absent)."""
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("jaxnn_identity", "{}"))


class BlockWriter:
    """The run file, open for the whole run; `write` stores finished rows and flushes.

    HDF5 writes its metadata on `flush`, so a process killed between two
    blocks (even by SIGKILL) leaves a readable file with every flushed block.
    """

    def __init__(self, path):
        self.file = h5py.File(path, "r+")

    def write(self, rows: slice, values: dict, done: np.ndarray, provenance: dict) -> None:
        """Store rows `rows` (of the `(ny, nx)` grid; a curve: flat indices) of each metric."""
        for name, arr in values.items():
            self.file[file_name(name)][rows] = to_file_values(name, arr[rows])
        self.file[DONE][rows] = np.asarray(done[rows], np.uint8)
        self.file.attrs["jaxnn_provenance"] = json.dumps(provenance, sort_keys=True, default=str)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def save_directions(path: str | os.PathLike, dx, dy=None) -> Path:
    """Write directions as Li et al.'s direction file (groups `xdirection`, `ydirection`).

    Each group holds the direction's leaves (`jax.tree.leaves` order) as
    datasets `"0"`, `"1"`, ...; the file is written atomically.

    Args:
      path: the `.h5` file to write.
      dx: the x direction (a pytree of arrays).
      dy: the y direction, or None for a 1-D study.

    Returns:
      the path written.
    """

    def fill(f):
        _write_list(f.create_group("xdirection"), jax.tree.leaves(dx))
        if dy is not None:
            _write_list(f.create_group("ydirection"), jax.tree.leaves(dy))

    return atomic_h5(path, fill)


def load_directions(path: str | os.PathLike, like=None) -> tuple:
    """Read a direction file (Li et al.'s layout, or a jaxnn surface file).

    Args:
      path: the `.h5` file.
      like: a parameter pytree; when given, each direction is rebuilt with its
        structure (leaf shapes are checked), else lists of numpy arrays are returned.

    Returns:
      `(dx,)` or `(dx, dy)`.
    """
    with h5py.File(path, "r") as f:
        if "xdirection" not in f:
            raise ValueError(
                f"{os.fspath(path)!r} has no 'xdirection' group; it is not a direction file."
            )
        lists = [_read_list(f[g]) for g in ("xdirection", "ydirection") if g in f]
    if like is None:
        return tuple(lists)
    leaves, treedef = jax.tree.flatten(like)
    out = []
    for name, lst in zip(("xdirection", "ydirection"), lists, strict=False):
        shapes = [np.shape(x) for x in lst]
        want = [np.shape(x) for x in leaves]
        if shapes != want:
            raise ValueError(
                f"{name} in {os.fspath(path)!r} has leaf shapes {shapes}, but the parameters "
                f"have {want}; the direction file belongs to another model."
            )
        out.append(
            jax.tree.unflatten(
                treedef,
                [np.asarray(x, np.asarray(p).dtype) for x, p in zip(lst, leaves, strict=True)],
            )
        )
    return tuple(out)
