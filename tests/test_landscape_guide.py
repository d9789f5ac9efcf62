"""The ```python blocks of docs/guide/landscape_studies.md run, in order, in one namespace."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(ROOT, "docs", "guide", "landscape_studies.md")


@pytest.mark.slow  # about 20 s: a dozen small programs compiled; the API is covered by fast tests
def test_guide_blocks_run(tmp_path, monkeypatch, capsys):
    text = open(GUIDE, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # the guide writes study/...
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, GUIDE, "exec"), namespace)
    assert (tmp_path / "study" / "surface.h5").exists()
    assert (tmp_path / "study" / "surface.html").exists()
    assert namespace["on_plane"].values["loss"].shape == (5, 5)
    assert float(namespace["curve"].curve_loss[0]) == float(namespace["curve"].line_loss[0])
