#!/usr/bin/python3
"""List the IDs of active (unfinished) calls known to monitoring."""

import sys

try:  # installed (donkey.tools.x) or run as a script from donkey/tools/
    from donkey.tools.client import run_listing
except ImportError:
    from client import run_listing


def main(argv=None):
    return run_listing(__doc__, "listActive", argv)


if __name__ == "__main__":
    sys.exit(main())
