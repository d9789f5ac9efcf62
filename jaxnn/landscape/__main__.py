"""`python -m jaxnn.landscape surface | hessian | trajectory ...` (see `jaxnn.landscape.cli`)."""

import sys

from jaxnn.landscape.cli import main

if __name__ == "__main__":
    sys.exit(main())
