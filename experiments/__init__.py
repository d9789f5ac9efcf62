"""Reproductions of the classic pictures of how networks train, each with its claim checked.

Run with ``python -m experiments`` (from the repository root) or
``jaxnn-experiments`` (from anywhere, after ``pip install -e .``); ``--help``
lists the commands and options. Each experiment is one module here that
follows the contract checked by ``harness/registry.py``: a docstring
(command, runtime, expected result), ``NAME``, ``CLAIM``, an optional
``ORDER`` (its place in the gallery), a ``Config`` dataclass with a
``quick()`` variant, and ``run(config, out_dir) -> metrics``, which computes,
draws its figures from the numbers, and writes ``out_dir/NAME/metrics.json``
atomically (``experiments._common.finish``). A new file is enough: the
registry finds it.
"""
