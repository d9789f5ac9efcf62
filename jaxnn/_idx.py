"""Reading IDX files (the format of MNIST and Fashion-MNIST), plain or gzipped.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>`` (type 0x08:
unsigned bytes), ``ndim`` big-endian 4-byte sizes, then the data in C order.
Every damaged file (wrong magic, truncated header or data, a broken ``.gz``)
raises a ValueError that names the file. Used by ``jaxnn.data.load_mnist``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np


def find_idx(folder: Path, stem: str) -> Path:
    """``stem`` as distributed (``train-images-idx3-ubyte``), gzipped, or with a '.' before idx."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    raise FileNotFoundError(
        f"No {stem} (or {stem}.gz) in {folder}; found {present or 'nothing'}. Download the "
        "four MNIST / Fashion-MNIST IDX files into that folder (they are read offline)."
    )


def _read_bytes(path):
    """The (decompressed) bytes of ``path``; a damaged ``.gz`` raises a ValueError naming it."""
    if not path.name.endswith(".gz"):
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (EOFError, OSError, zlib.error) as err:  # truncated stream, bad header or CRC
        raise ValueError(
            f"{path} is not a readable gzip file ({err}); it is probably truncated or "
            "corrupt: download it again."
        ) from err


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read one IDX file and check its magic number: 0x00 0x00 <0x08 = ubyte> <ndim>."""
    raw = _read_bytes(path)
    expected = 0x0800 | ndim
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected:
        got = f"0x{magic:08X}" if magic is not None else f"a {len(raw)}-byte file"
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s): expected "
            f"magic number 0x{expected:08X}, got {got}."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path} has a truncated IDX header: {ndim} dimension(s) need a {header}-byte "
            f"header (magic number and one 4-byte size each), but the file holds "
            f"{len(raw)} bytes; the file is truncated or corrupt."
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = raw[header:]
    if len(body) != int(np.prod(dims)):
        raise ValueError(
            f"{path} declares shape {dims} ({int(np.prod(dims))} bytes of data) but holds "
            f"{len(body)} bytes; the file is truncated or corrupt."
        )
    return np.frombuffer(body, np.uint8).reshape(dims)
