#!/usr/bin/python3
"""List the IDs of active (unfinished) calls known to monitoring."""
import sys

try:  # installed (tools.x) or run as a script from tools/
    from tools.client import print_calls, run_tool
except ImportError:
    from client import print_calls, run_tool


def configure(parser):
    parser.add_argument("--full", action="store_true",
                        help="also print every attribute of each call")


def body(server, args):
    print("calls: %d" % server.calls())
    print_calls(server, server.di("monitoring", "listActive"), args.full)
    return 0


def main(argv=None):
    return run_tool(__doc__, body, configure, argv)


if __name__ == "__main__":
    sys.exit(main())
