"""The code blocks of docs/guide/training.md run, in order, in one namespace."""

import pathlib
import re

import pytest

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide" / "training.md"


@pytest.mark.slow  # ~30 s of CPU: every feature it shows is also tested on its own
def test_training_guide_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    assert namespace["straight"].message == namespace["resumed"].message
    assert abs(namespace["final"] - 1.0).max() < 1e-4
    assert "event,epoch,step" in capsys.readouterr().out
