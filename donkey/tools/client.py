"""What every donkey tool shares: ``--url``, the XML-RPC proxy, clear errors.

A tool is a docstring, an optional ``configure(parser)`` and a
``body(server, args) -> int``; :func:`run_tool` does the rest.  The server's
URL is ``--url``, else ``$DONKEY_XMLRPC_URL``, else :data:`DEFAULT_URL` (the
bundled configuration's), so one ``export`` serves a shell's worth of calls
to a server on another port.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from xmlrpc.client import Fault, ProtocolError, ServerProxy

DEFAULT_URL = "http://127.0.0.1:8090"
URL_VARIABLE = "DONKEY_XMLRPC_URL"

Body = Callable[[Any, argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """``$DONKEY_XMLRPC_URL`` when set, else the bundled configuration's URL."""
    env = os.environ if environ is None else environ
    return env.get(URL_VARIABLE, "").strip() or DEFAULT_URL


def print_attributes(attrs: Mapping[str, Any]) -> None:
    """One call's monitoring attributes, in the seed's sems_get_session.py layout."""
    print("attrib                                 val")
    for key, value in attrs.items():
        print(str(key).ljust(20) + str(value))


def print_calls(server: Any, ids: Iterable[str], full: bool) -> None:
    """Call IDs one a line; with ``full`` every attribute of each."""
    ids = list(ids)
    for call_id in ids:
        print(call_id)
    if full:
        for call_id in ids:
            print("----- %s -----" % call_id)
            found = server.di("monitoring", "get", call_id)
            if found:
                print_attributes(found[0])


def run_tool(
    doc: str | None,
    body: Body,
    configure: Configure | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse arguments, call ``body(server, args)``; XML-RPC trouble -> message, 1."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument(
        "--url",
        default=default_url(),
        help=f"XML-RPC URL of the server (default: ${URL_VARIABLE}, else {DEFAULT_URL})",
    )
    if configure is not None:
        configure(parser)
    args = parser.parse_args(argv)
    try:
        return body(ServerProxy(args.url), args)
    except Fault as e:
        print("error: %s (fault %d)" % (e.faultString, e.faultCode), file=sys.stderr)
    except ProtocolError as e:
        print("error: %s: HTTP %d %s" % (args.url, e.errcode, e.errmsg), file=sys.stderr)
    except OSError as e:
        print("error: cannot reach %s: %s" % (args.url, e), file=sys.stderr)
    return 1


def run_listing(doc: str | None, function: str, argv: Sequence[str] | None = None) -> int:
    """A tool that prints ``calls()`` and the call IDs from ``monitoring.<function>``."""

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--full", action="store_true", help="also print every attribute of each call"
        )

    def body(server: Any, args: argparse.Namespace) -> int:
        print("calls: %d" % server.calls())
        print_calls(server, server.di("monitoring", function), args.full)
        return 0

    return run_tool(doc, body, configure, argv)
