#!/usr/bin/python3
"""List the IDs of all calls known to monitoring (active and finished)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

if not __package__:  # run as a file (python3 donkey/tools/x.py): the checkout is importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from donkey.tools.client import run_listing  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    return run_listing(__doc__, "list", argv)


if __name__ == "__main__":
    sys.exit(main())
