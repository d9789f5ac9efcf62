"""`python -m experiments`: see `harness/experiments_cli.py` or `--help`."""

import sys

from harness.experiments_cli import main

if __name__ == "__main__":
    sys.exit(main())
