#!/usr/bin/python3
"""Print every monitoring attribute of one call, by its ID (local tag)."""

import sys

try:  # installed (donkey.tools.x) or run as a script from donkey/tools/
    from donkey.tools.client import print_attributes, run_tool
except ImportError:
    from client import print_attributes, run_tool


def configure(parser):
    parser.add_argument("call_id", help="ID (local tag) of the call")


def body(server, args):
    print("calls: %d" % server.calls())
    found = server.di("monitoring", "get", args.call_id)
    if not found:
        print("call not found")
        return 1
    print_attributes(found[0])
    return 0


def main(argv=None):
    return run_tool(__doc__, body, configure, argv)


if __name__ == "__main__":
    sys.exit(main())
