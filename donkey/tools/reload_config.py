#!/usr/bin/python3
"""Load (or reload) a DSM application bundle config: dsm loadConfig(file, name).

New calls use the new scripts; calls already running keep theirs.
"""

import sys

try:  # installed (donkey.tools.x) or run as a script from donkey/tools/
    from donkey.tools.client import run_tool
except ImportError:
    from client import run_tool


def configure(parser):
    parser.add_argument("file", help="application config file, e.g. conf/dsm/quizconnect.conf")
    parser.add_argument("name", help="application name, e.g. quizconnect")


def body(server, args):
    result = server.di("dsm", "loadConfig", args.file, args.name)
    if isinstance(result, list) and len(result) >= 2:
        print("%s %s" % (result[0], result[1]))
        return 0 if result[0] == 200 else 1
    print(result)
    return 0


def main(argv=None):
    return run_tool(__doc__, body, configure, argv)


if __name__ == "__main__":
    sys.exit(main())
