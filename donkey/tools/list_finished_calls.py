#!/usr/bin/python3
"""List the IDs of finished calls awaiting garbage collection."""

import sys

try:  # installed (donkey.tools.x) or run as a script from donkey/tools/
    from donkey.tools.client import run_listing
except ImportError:
    from client import run_listing


def main(argv=None):
    return run_listing(__doc__, "listFinished", argv)


if __name__ == "__main__":
    sys.exit(main())
