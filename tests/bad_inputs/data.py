"""Bad inputs to jaxnn.data: damaged MNIST IDX files (written to a fresh temporary folder)."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np

from jaxnn import data
from tests.bad_inputs._case import Case


def _idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array: magic 0x0000 08 <ndim>, one big-endian size per axis, data."""
    head = (0x0800 | array.ndim).to_bytes(4, "big")
    sizes = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + sizes + array.astype(np.uint8).tobytes()


def _load_with(name: str, content: bytes):
    """`load_mnist` on a temporary folder of the four MNIST files, `name` replaced by `content`."""
    with tempfile.TemporaryDirectory(prefix="jaxnn-bad-idx-") as tmp:
        return data.load_mnist(_write_folder(Path(tmp), name, content))


def _write_folder(folder: Path, name: str, content: bytes) -> Path:
    images, labels = np.zeros((2, 3, 3), np.uint8), np.zeros(2, np.uint8)
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte").write_bytes(_idx(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(_idx(labels))
    (folder / "train-images-idx3-ubyte").unlink()
    (folder / name).write_bytes(content)
    return folder


def _truncated_header():
    full = _idx(np.zeros((2, 3, 3), np.uint8))
    return _load_with("train-images-idx3-ubyte", full[:9])


def _truncated_gz():
    packed = gzip.compress(_idx(np.arange(2 * 28 * 28).reshape(2, 28, 28) % 251))
    return _load_with("train-images-idx3-ubyte.gz", packed[: len(packed) // 2])


CASES = [
    Case(
        "data-idx-truncated-header",
        _truncated_header,
        ValueError,
        ("train-images-idx3-ubyte", "truncated IDX header", "16-byte", "9 bytes"),
    ),
    Case(
        "data-idx-truncated-gz",
        _truncated_gz,
        ValueError,
        ("train-images-idx3-ubyte.gz", "gzip", "truncated"),
    ),
]
