"""Checkpoints of a `fit` run with orbax-checkpoint: save, restore, refuse another run's.

A checkpoint holds two items: `arrays` (the leaves of the current and the
best-epoch `TrainState` plus the divergence flag, PRNG keys as raw key data)
and `meta` (JSON: completed epochs, history, early-stopping bookkeeping and
the run's fingerprint). orbax writes each checkpoint to a temporary folder
and renames it into place, so a run killed while saving leaves the previous
checkpoint intact; the last `keep` are kept.

orbax is imported when a checkpoint is first used, not at `import jaxnn`
(it costs about a second to import).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn.train._types import PyTree


def _ocp() -> Any:
    return importlib.import_module("orbax.checkpoint")


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_storable(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _from_storable(tree: PyTree, like: PyTree) -> PyTree:
    def back(x, ref):
        if _is_key(ref):
            return jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref))
        return x

    return jax.tree.map(back, tree, like)


def fingerprint(arrays: PyTree, **config: Any) -> dict:
    """What identifies a run: every leaf's path, shape and dtype, plus `config`."""
    leaves = jax.tree_util.tree_leaves_with_path(_to_storable(arrays))
    spec = [
        [jax.tree_util.keystr(path), list(np.shape(x)), str(np.asarray(x).dtype)]
        for path, x in leaves
    ]
    return {"arrays": spec, **config}


def _differences(saved: dict, now: dict) -> list[str]:
    out = []
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name), now.get(name)
        if name == "arrays" and a != b:
            old = {p: f"{s} {d}" for p, s, d in a or []}
            new = {p: f"{s} {d}" for p, s, d in b or []}
            diff = [p for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)]
            detail = ", ".join(
                f"{p}: saved {old.get(p, 'absent')}, now {new.get(p, 'absent')}" for p in diff[:3]
            )
            out.append(f"the parameter/state/optimizer-state trees differ ({detail})")
        elif a != b:
            out.append(f"{name} was {a!r}, now {b!r}")
    return out


class Checkpointer:
    """The checkpoints of one `fit` run in `directory` (keeps the last `keep`)."""

    def __init__(self, directory: str | os.PathLike, keep: int = 2) -> None:
        self.directory = Path(directory).expanduser().resolve()
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"`checkpoint_dir` {str(self.directory)!r} exists and is a file.")
        ocp = _ocp()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("arrays", "meta")
        )

    def latest(self) -> int | None:
        """Completed epochs of the newest checkpoint, or None when there is none."""
        return self._manager.latest_step()

    def save(self, epochs_done: int, arrays: PyTree, meta: dict) -> None:
        """Write a checkpoint (atomic) after `epochs_done` epochs."""
        ocp = _ocp()
        leaves = {f"{i:06d}": x for i, x in enumerate(jax.tree.leaves(_to_storable(arrays)))}
        self._manager.save(
            epochs_done,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(leaves), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, like: PyTree, fingerprint_now: dict) -> tuple[PyTree, dict]:
        """The newest checkpoint as `(arrays shaped like like, meta)`; refuses another run's."""
        ocp = _ocp()
        step = self._manager.latest_step()
        meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = meta["meta"]
        problems = _differences(meta["fingerprint"], fingerprint_now)
        if problems:
            raise ValueError(
                f"The checkpoint in {str(self.directory)!r} belongs to a different run: "
                + "; ".join(problems)
                + ". Resume with the same model, optimizer, data, batch size and key, or "
                "use another (or an empty) checkpoint_dir."
            )
        storable = _to_storable(like)
        leaves, treedef = jax.tree.flatten(storable)
        target = {f"{i:06d}": x for i, x in enumerate(leaves)}
        out = self._manager.restore(
            step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore(target))
        )
        restored = [out["arrays"][f"{i:06d}"] for i in range(len(leaves))]
        return _from_storable(jax.tree.unflatten(treedef, restored), like), meta

    def close(self) -> None:
        """Release orbax's resources."""
        self._manager.close()
