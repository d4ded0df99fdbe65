#!/usr/bin/python3
"""Print every monitoring attribute of one call, by its ID (local tag)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

if not __package__:  # run as a file (python3 donkey/tools/x.py): the checkout is importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from donkey.tools.client import print_attributes, run_tool  # noqa: E402


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("call_id", help="ID (local tag) of the call")


def body(server: Any, args: argparse.Namespace) -> int:
    print("calls: %d" % server.calls())
    found = server.di("monitoring", "get", args.call_id)
    if not found:
        print("call not found")
        return 1
    print_attributes(found[0])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(__doc__, body, configure, argv)


if __name__ == "__main__":
    sys.exit(main())
