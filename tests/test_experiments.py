"""Every experiment, in its quick variant, writes its files and its claim holds."""

import json

import pytest

from experiments import get, names
from experiments._gallery import write_gallery


@pytest.mark.parametrize("name", names())
def test_quick_experiment_claim_holds(name, tmp_path):
    module = get(name)
    metrics = module.run(module.Config.quick(), tmp_path)
    folder = tmp_path / name
    on_disk = json.loads((folder / "metrics.json").read_text())
    assert on_disk["name"] == name and on_disk["claim"] == module.CLAIM
    assert on_disk["checks"], "an experiment must record the checks its claim rests on"
    for fig in metrics["figures"]:
        assert (folder / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed = [c for c in metrics["checks"] if not c["holds"]]
    assert metrics["claim_holds"], f"{name}: failed checks {failed}"


def test_gallery_lists_every_result(tmp_path):
    fake = [
        {"name": n, "claim": f"claim {n}", "claim_holds": i % 2 == 0, "checks": [],
         "numbers": {}, "figures": [], "seconds": 0.0}
        for i, n in enumerate(["a", "b", "c"])
    ]
    index = write_gallery(tmp_path, fake)
    text = index.read_text()
    assert "2 of 3 claims hold" in text
    assert all(f'id="{n}"' in text for n in "abc")
