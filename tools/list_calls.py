#!/usr/bin/python3
"""List the IDs of all calls known to monitoring (active and finished)."""
import argparse
import sys
from xmlrpc.client import Fault, ProtocolError, ServerProxy

DEFAULT_URL = "http://127.0.0.1:8090"


def print_attributes(attrs):
    print("attrib                                 val")
    for key, value in attrs.items():
        print(str(key).ljust(20) + str(value))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL,
                        help="XML-RPC URL of the server (default: %(default)s)")
    parser.add_argument("--full", action="store_true",
                        help="also print every attribute of each call")
    args = parser.parse_args(argv)
    try:
        s = ServerProxy(args.url)
        print("calls: %d" % s.calls())
        ids = s.di("monitoring", "list")
        for call_id in ids:
            print(call_id)
        if args.full:
            for call_id in ids:
                print("----- %s -----" % call_id)
                found = s.di("monitoring", "get", call_id)
                if found:
                    print_attributes(found[0])
    except Fault as e:
        print("error: %s (fault %d)" % (e.faultString, e.faultCode), file=sys.stderr)
        return 1
    except ProtocolError as e:
        print("error: %s: HTTP %d %s" % (args.url, e.errcode, e.errmsg), file=sys.stderr)
        return 1
    except OSError as e:
        print("error: cannot reach %s: %s" % (args.url, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
