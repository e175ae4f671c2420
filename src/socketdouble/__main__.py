"""``python -m socketdouble``: the ``socketdouble`` command."""

import sys

from .service.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
