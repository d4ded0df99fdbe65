#!/usr/bin/python3
"""List the IDs of finished calls awaiting garbage collection."""
import argparse
import sys
from xmlrpc.client import Fault, ProtocolError, ServerProxy

DEFAULT_URL = "http://127.0.0.1:8090"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL,
                        help="XML-RPC URL of the server (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        s = ServerProxy(args.url)
        print("calls: %d" % s.calls())
        ids = s.di("monitoring", "listFinished")
        for call_id in ids:
            print(call_id)
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
