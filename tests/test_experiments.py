"""Every experiment, in its quick variant, holds its claim; the registry, CLI and gallery work.

The list of experiments is written out here, not read from the registry, so a
deleted or broken module fails a test instead of vanishing from both.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import experiments_cli, gallery, registry

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide" / "experiments_and_benchmarks.md"

EXPERIMENTS = [
    "linear_collapse",
    "activations",
    "softmax_temperature",
    "universal_approximation",
    "loss_functions",
    "numerical_gradient",
    "backprop_circuit",
    "gradient_descent_lr",
    "batch_vs_minibatch",
    "optimizer_race",
    "nesterov_lookahead",
    "adagrad_vs_rmsprop",
    "adam_anatomy",
    "lr_schedules",
    "exponential_decay",
    "saddle_point",
    "gradient_clipping",
    "batchnorm",
    "initialization",
    "vanishing_gradients",
    "under_overfitting",
    "regularization",
    "filter_normalized_landscape",
    "sharp_vs_flat",
    "skip_connections",
    "trajectory_pca",
    "linear_interpolation",
    "mode_connectivity",
    "edge_of_stability",
    "hessian_outliers",
    "large_batch_sharpness",
    "mnist1d_baselines",
]
# Paper reproductions: quick claims asserted in tests/test_paper_experiments.py.
PAPERS = EXPERIMENTS[EXPERIMENTS.index("skip_connections") :]  # the gallery ends with them


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n not in PAPERS])
def test_quick_experiment_claim_holds(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    metrics = module.run(module.Config.quick(), tmp_path)
    folder = tmp_path / name
    on_disk = json.loads((folder / "metrics.json").read_text())
    assert on_disk["name"] == name and on_disk["claim"] == module.CLAIM
    assert on_disk["checks"], "an experiment must record the checks its claim rests on"
    for fig in metrics["figures"]:
        assert (folder / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed = [c for c in metrics["checks"] if not c["holds"]]
    assert metrics["claim_holds"], f"{name}: failed checks {failed}"


def _check_conditions(name):
    """The `holds` expressions of every `checks.add(name, value, holds, ...)` in an experiment."""
    source = ROOT / "experiments" / f"{name}.py"
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
    found = []
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "array_equal":
            found.append(ast.unparse(node))
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and isinstance(o.value, float) for o in operands):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_claims_state_a_tolerance_not_bit_equality(name):
    """A claim compares floats within a tolerance that follows from the physics: XLA:CPU emits
    different code (and so different last bits) per instruction set, so `== 0.0` or
    `array_equal` on a computed float passes on one machine and fails on the next."""
    conditions = list(_check_conditions(name))
    assert conditions, f"{name}: no checks.add(name, value, holds) call found"
    offending = [text for expr in conditions for text in _bit_equality(expr)]
    assert not offending, f"{name}: bit-equality in a claim check: {offending}"


def test_registry_finds_exactly_the_listed_experiments():
    entries = registry.discover(ROOT / "experiments", "experiment")
    assert [e.name for e in entries] == EXPERIMENTS
    assert all(e.claim == importlib.import_module(f"experiments.{e.name}").CLAIM for e in entries)


# ----------------------------------------------------------------- fake experiments


def _template() -> str:
    """The experiment template of the user guide (its first python block)."""
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)[0]


def _fake_folder(tmp_path: Path) -> Path:
    """A package of three experiments: the guide's template (holds), a failing one
    with an infinite number, and one that raises."""
    folder = tmp_path / f"fakexp_{tmp_path.name.replace('-', '_')}"
    folder.mkdir()
    (folder / "__init__.py").write_text('"""Fake experiments."""\n')
    (folder / "halving.py").write_text(_template())
    failing = _template().replace('NAME = "halving"', 'NAME = "failing"')
    failing = failing.replace("ORDER = 1000", "ORDER = 5").replace(
        "bool(jnp.allclose(ratios, 0.25, atol=1e-6))",
        "False",  # the forced failure
    )
    failing = failing.replace('{"loss": aux["loss"]}', '{"loss": aux["loss"], "gap": float("inf")}')
    (folder / "failing.py").write_text(failing)
    raising = _template().replace('NAME = "halving"', 'NAME = "raising"')
    raising = raising.replace("    checks = Checks()\n", "    raise RuntimeError('boom')\n")
    (folder / "raising.py").write_text(raising)
    return folder


def test_cli_all_resume_gallery_and_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXNN_EXPERIMENTS_DIR", str(_fake_folder(tmp_path)))
    out = tmp_path / "out"
    (out / "halving").mkdir(parents=True)
    stale = out / "halving" / ".metrics.json.abc123.tmp"
    stale.write_text("half-written")
    assert experiments_cli.main(["all", "--quick", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert not stale.exists() and "Removed 1 temporary file" in printed
    lines = printed.splitlines()
    assert lines.index("[1/3] failing … (elapsed 0:00, ETA unknown)") < lines.index(
        next(line for line in lines if line.startswith("[1/3] failing DOES NOT HOLD"))
    )
    assert "Failed claims (2):" in printed and "failed check max |loss ratio" in printed
    assert "raised RuntimeError: boom" in printed
    metrics = json.loads((out / "failing" / "metrics.json").read_text())
    assert metrics["numbers"]["gap"] is None and metrics["numbers"]["gap_nonfinite"] == "inf"
    page = (out / "index.html").read_text()
    assert page.index("Failed checks") < page.index('<section id="halving">')
    assert "1 of 3 claims hold" in page and "boom" in page

    # --resume reuses the current result and reruns the rest; a changed config reruns.
    assert experiments_cli.main(["all", "--quick", "--resume", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "[2/3] halving holds (up to date, skipped)" in printed
    assert "failing DOES NOT HOLD (up to date, skipped)" in printed  # same config: kept
    assert "raising DOES NOT HOLD (" in printed and "raising DOES NOT HOLD (up" not in printed
    assert experiments_cli.main(["run", "halving", "--resume", "--out", str(out)]) == 0
    assert "up to date" not in capsys.readouterr().out  # full config != quick config

    assert experiments_cli.main(["--out", str(out), "gallery"]) == 1
    assert experiments_cli.main(["run", "halving", "--only", "nomatch*", "--out", str(out)]) == 2
    assert experiments_cli.main(["run", "no_such_experiment", "--out", str(out)]) == 2
    assert experiments_cli.main(["all", "--out", str(out / "index.html")]) == 2
    err = capsys.readouterr().err
    assert "Unknown experiment 'no_such_experiment'" in err and "is a file" in err
    assert "matches no experiment" in err


def test_registry_fails_loudly_on_a_broken_module(tmp_path):
    folder = _fake_folder(tmp_path)
    (folder / "broken.py").write_text(
        '"""No claim, no Config."""\nNAME = "broken"\n\ndef run(): ...\n'
    )
    (folder / "syntax.py").write_text("def (:\n")
    with pytest.raises(registry.RegistryError) as info:
        registry.discover(folder, "experiment")
    message = str(info.value)
    assert "broken.py does not follow the experiment contract" in message
    assert "CLAIM as a non-empty string literal" in message and "a Config class" in message
    assert "syntax.py does not parse" in message


def _cli(*args, cwd=ROOT, env=None):
    env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_cli_subprocess_list_without_jax():
    code = (
        "import sys; from harness.experiments_cli import main; rc = main(['list']); "
        "print('JAX-IMPORTED' if 'jax' in sys.modules else 'NO-JAX'); sys.exit(rc)"
    )
    listed = _cli("-c", code)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[-1] == "NO-JAX"
    assert [line.split()[0] for line in lines[:-1]] == EXPERIMENTS


def test_console_script_from_another_folder_exit_code(tmp_path):
    """`jaxnn-experiments` (its entry point, jaxnn._cli) run outside the checkout."""
    env = {"PYTHONPATH": str(ROOT), "JAXNN_EXPERIMENTS_DIR": str(_fake_folder(tmp_path))}
    code = (
        "import sys; from jaxnn._cli import experiments; "
        "sys.argv[1:] = ['run', 'failing', '--quick', '--out', 'res']; sys.exit(experiments())"
    )
    ran = _cli("-c", code, cwd=tmp_path, env=env)
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout.startswith("[1/1] failing …") and "Failed claims (1):" in ran.stdout
    assert (tmp_path / "res" / "index.html").exists()


# ----------------------------------------------------------------- gallery


def _metrics(name, holds, checks, numbers=None, seconds=1.0):
    return {
        "name": name,
        "claim": f"The claim of {name} (−1 < 0).",
        "claim_holds": holds,
        "checks": checks,
        "numbers": numbers or {},
        "figures": [],
        "seconds": seconds,
    }


def test_gallery_failures_first_rounded_values_and_marks(tmp_path):
    ok = {"name": "fine", "value": 0.09999993318508066, "holds": True, "detail": "< 0.2"}
    bad = {"name": "rises monotonically", "value": 2.5e-33, "holds": False, "detail": "> 1e-6"}
    numbers = {
        "acc_mean": 0.91234,
        "acc_std": 0.0123,
        "loss": None,
        "loss_nonfinite": "inf",
        "curve": list(range(100)),
        "per_seed": [1.0, 2.0, 3.0],
        "wall_s": 3.14159,
    }
    results = [
        _metrics("alpha", True, [ok], numbers),
        _metrics("beta", False, [ok, bad]),
    ]
    text = gallery.write_gallery(tmp_path, results).read_text()
    assert "1 of 2 claims hold. Failing: <a href='#beta'>beta</a>" in text
    failed = text[text.index("Failed checks") : text.index('<section id="alpha">')]
    assert "rises monotonically" in failed and "2.5e-33" in failed and "&gt; 1e-6" in failed
    assert "fine" not in failed  # only the failed checks are listed first
    nav = text[text.index("<nav>") : text.index("</nav>")]
    assert "✔</span> alpha" in nav and "✘</span> beta" in nav
    assert "0.09999993318508066" not in text and "<td class='wide'>0.1</td>" in text
    assert "0.9123 ± 0.0123" in text and "<td>loss</td><td>inf</td>" in text
    assert "100 values: 0, 1 … 99 (0 … 99)" in text and "2 ± 0.8165 (n = 3)" in text
    assert "3.142 s" in text and "−1 &lt; 0" in text and "\\u2212" not in text
    assert "<a href='alpha/metrics.json'>raw JSON</a>" in text


def test_results_read_back_as_numbers_with_pandas(tmp_path):
    from jaxnn.results import read_json, write_json

    rows = [{"lr": 0.1, "final_loss": 0.5}, {"lr": 10.0, "final_loss": float("inf")}]
    path = write_json(tmp_path / "rows.json", rows)
    frame = pd.read_json(path)
    assert frame["final_loss"].dtype == "float64" and frame["final_loss"].isna().tolist() == [
        False,
        True,
    ]
    assert read_json(path)[1]["final_loss_nonfinite"] == "inf"
