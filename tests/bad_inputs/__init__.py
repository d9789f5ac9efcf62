"""Rows of the bad-input table (see tests/test_bad_inputs.py), one module per area.

Each module defines ``CASES``: a list of :class:`tests.bad_inputs._case.Case`.
"""
