#!/usr/bin/python3
"""List the IDs of all calls known to monitoring (active and finished)."""

import sys

try:  # installed (donkey.tools.x) or run as a script from donkey/tools/
    from donkey.tools.client import run_listing
except ImportError:
    from client import run_listing


def main(argv=None):
    return run_listing(__doc__, "list", argv)


if __name__ == "__main__":
    sys.exit(main())
