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
        {
            "name": n,
            "claim": f"claim {n}",
            "claim_holds": i % 2 == 0,
            "checks": [],
            "numbers": {},
            "figures": [],
            "seconds": 0.0,
        }
        for i, n in enumerate(["a", "b", "c"])
    ]
    index = write_gallery(tmp_path, fake)
    text = index.read_text()
    assert "2 of 3 claims hold" in text
    assert all(f'id="{n}"' in text for n in "abc")


def test_cli_list_run_and_unknown_name(tmp_path):
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "experiments", *args], capture_output=True, text=True
        )

    listed = cli("list")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(names())
    ran = cli("run", "backprop_circuit", "--quick", "--out", str(tmp_path))
    assert ran.returncode == 0 and "holds" in ran.stdout
    assert json.loads((tmp_path / "backprop_circuit" / "metrics.json").read_text())["claim_holds"]
    unknown = cli("run", "no_such_experiment")
    assert unknown.returncode != 0 and "Unknown experiment" in unknown.stderr


def _check_conditions(name):
    """The `holds` expressions of every `checks.add(name, value, holds, ...)` in an experiment."""
    import ast
    import pathlib

    source = pathlib.Path(__file__).parent.parent / "experiments" / f"{name}.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "checks"
            and len(node.args) >= 3
        ):
            yield node.args[2]


def _bit_equality(expr) -> list[str]:
    """Sub-expressions of `expr` that demand bit-equality of floats: `np.array_equal(...)`, or
    `==` against a float literal (e.g. `spread == 0.0`)."""
    import ast

    found = []
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "array_equal":
            found.append(ast.unparse(node))
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and isinstance(o.value, float) for o in operands):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("name", names())
def test_claims_state_a_tolerance_not_bit_equality(name):
    """A claim compares floats within a tolerance that follows from the physics: XLA:CPU emits
    different code (and so different last bits) per instruction set, so `== 0.0` or
    `array_equal` on a computed float passes on one machine and fails on the next."""
    conditions = list(_check_conditions(name))
    assert conditions, f"{name}: no checks.add(name, value, holds) call found"
    offending = [text for expr in conditions for text in _bit_equality(expr)]
    assert not offending, f"{name}: bit-equality in a claim check: {offending}"
