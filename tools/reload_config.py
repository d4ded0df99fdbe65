#!/usr/bin/python3
"""Load (or reload) a DSM application bundle config: dsm loadConfig(file, name).

New calls use the new scripts; calls already running keep theirs.
"""
import argparse
import sys
from xmlrpc.client import Fault, ProtocolError, ServerProxy

DEFAULT_URL = "http://127.0.0.1:8090"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL,
                        help="XML-RPC URL of the server (default: %(default)s)")
    parser.add_argument("file", help="application config file, e.g. /usr/local/etc/sems/dsm/quizconnect.conf")
    parser.add_argument("name", help="application name, e.g. quizconnect")
    args = parser.parse_args(argv)
    try:
        s = ServerProxy(args.url)
        result = s.di("dsm", "loadConfig", args.file, args.name)
        if isinstance(result, list) and len(result) >= 2:
            print("%s %s" % (result[0], result[1]))
            if result[0] != 200:
                return 1
        else:
            print(result)
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
