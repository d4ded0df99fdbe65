"""What every donkey tool shares: ``--url``, the XML-RPC proxy, clear errors.

A tool is a docstring, an optional ``configure(parser)`` and a
``body(server, args) -> int``; :func:`run_tool` does the rest.
"""

import argparse
import sys
from xmlrpc.client import Fault, ProtocolError, ServerProxy

DEFAULT_URL = "http://127.0.0.1:8090"


def print_attributes(attrs):
    """One call's monitoring attributes, in the seed's sems_get_session.py layout."""
    print("attrib                                 val")
    for key, value in attrs.items():
        print(str(key).ljust(20) + str(value))


def print_calls(server, ids, full):
    """Call IDs one a line; with ``full`` every attribute of each."""
    for call_id in ids:
        print(call_id)
    if full:
        for call_id in ids:
            print("----- %s -----" % call_id)
            found = server.di("monitoring", "get", call_id)
            if found:
                print_attributes(found[0])


def run_tool(doc, body, configure=None, argv=None):
    """Parse arguments, call ``body(server, args)``; XML-RPC trouble -> message, 1."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="XML-RPC URL of the server (default: %(default)s)"
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


def run_listing(doc, function, argv=None):
    """A tool that prints ``calls()`` and the call IDs from ``monitoring.<function>``."""

    def configure(parser):
        parser.add_argument(
            "--full", action="store_true", help="also print every attribute of each call"
        )

    def body(server, args):
        print("calls: %d" % server.calls())
        print_calls(server, server.di("monitoring", function), args.full)
        return 0

    return run_tool(doc, body, configure, argv)
