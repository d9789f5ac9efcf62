"""The identity and provenance of a resumable surface run (private to `compute`).

* `identity_of`: what makes two calls the same run: kind, coordinates, metric
  names, SHA-256 fingerprints of the centre and the directions (leaf bytes,
  shapes, dtypes and the tree structure), chunk and block sizes.
* `check_resume`: compares a call's identity with the one stored in a file and
  raises a `ValueError` naming what differs (the file is only read).
* `new_provenance`: versions, backend, devices, configuration, sessions.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys

import jax
import numpy as np

from jaxnn.landscape import _hdf5


def _fingerprint(tree) -> str:
    h = hashlib.sha256()
    leaves, treedef = jax.tree.flatten(tree)
    h.update(str(treedef).encode())
    for leaf in leaves:
        arr = np.asarray(jax.device_get(leaf))
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:32]


def _block_points(n: int, chunk: int) -> int:
    per_call = chunk * jax.device_count()
    want = max(16, -(-n // 100))
    return per_call * max(1, -(-want // per_call))


def identity_of(kind, coords, names, trees, chunk, with_hashes: bool) -> dict:
    if not with_hashes:  # no file: only the blocking matters
        n = int(np.prod([len(c) for c in coords]))
        return {"chunk_size": chunk, "block_size": _block_points(n, chunk)}
    return {
        "kind": kind,
        "xcoordinates": _fingerprint(coords[0]),
        "ycoordinates": _fingerprint(coords[1]) if len(coords) > 1 else None,
        "metrics": sorted(names),
        "params": _fingerprint(trees[0]),
        "directions": _fingerprint(trees[1:]),
        "chunk_size": chunk,
        "block_size": _block_points(int(np.prod([len(c) for c in coords])), chunk),
    }


def check_resume(path, identity: dict, explicit_chunk: bool) -> dict:
    """The stored identity, after checking that this call is the same run."""
    stored = _hdf5.read_identity(path)
    if not stored:
        raise ValueError(
            f"{os.fspath(path)!r} exists but was not written by compute_surface (no run identity); "
            "pass another path. The file was left unchanged."
        )
    if not explicit_chunk:
        identity = dict(identity, chunk_size=stored.get("chunk_size"),
                        block_size=stored.get("block_size"))  # fmt: skip
    differ = [k for k in sorted(set(identity) | set(stored)) if identity.get(k) != stored.get(k)]
    if differ:
        what = {"xcoordinates": "grid (xs)", "ycoordinates": "grid (ys)", "params": "centre params",
                "directions": "directions", "metrics": "metric names", "kind": "kind (1-D/2-D)",
                "chunk_size": f"chunk_size (stored {stored.get('chunk_size')})",
                "block_size": f"block size (stored {stored.get('block_size')})"}  # fmt: skip
        raise ValueError(
            f"{os.fspath(path)!r} holds another run: its "
            f"{', '.join(what.get(k, k) for k in differ)} "
            "differ from this call's. The file was left unchanged; pass a new path, or the "
            "arguments of the stored run to resume it."
        )
    return identity


def new_provenance(config, direction_info, identity) -> dict:
    return {
        "jaxnn_version": getattr(sys.modules.get("jaxnn"), "__version__", "unknown"),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "num_devices": jax.device_count(),
        "python": platform.python_version(),
        "config": config or {},
        "direction_info": direction_info or {},
        "identity": identity,
        "sessions": [],
    }
