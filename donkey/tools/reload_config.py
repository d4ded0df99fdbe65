#!/usr/bin/python3
"""Load (or reload) a DSM application bundle config: dsm loadConfig(file, name).

New calls use the new scripts; calls already running keep theirs.  The file
is made absolute here: the server resolves a relative path against its own
directory, not the one the tool runs in.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

if not __package__:  # run as a file (python3 donkey/tools/x.py): the checkout is importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from donkey.tools.client import run_tool  # noqa: E402


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="application config file, e.g. conf/dsm/quizconnect.conf")
    parser.add_argument("name", help="application name, e.g. quizconnect")


def body(server: Any, args: argparse.Namespace) -> int:
    result = server.di("dsm", "loadConfig", os.path.abspath(args.file), args.name)
    if isinstance(result, list) and len(result) >= 2:
        print("%s %s" % (result[0], result[1]))
        return 0 if result[0] == 200 else 1
    print(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(__doc__, body, configure, argv)


if __name__ == "__main__":
    sys.exit(main())
