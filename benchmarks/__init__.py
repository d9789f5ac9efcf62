"""Benchmarks: jaxnn's speed against optax, flax, the reference landscape method
and the hardware's limits, and a fair optimizer benchmark suite.

Run with ``python -m benchmarks`` (from the repository root) or ``jaxnn-bench``
(from anywhere, after ``pip install -e .``); ``--help`` lists the commands and
options. Each benchmark is one module here with a docstring and
``run(quick: bool, out_dir) -> dict``, writing ``out_dir/NAME.json`` (with a
"machine" and a "summary" block, and "targets" where it has them) and
printing a table. A new file is enough: the registry finds it.
"""
