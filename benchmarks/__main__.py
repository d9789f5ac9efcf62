"""`python -m benchmarks`: see `harness/bench_cli.py` or `--help`."""

import sys

from harness.bench_cli import main

if __name__ == "__main__":
    sys.exit(main())
