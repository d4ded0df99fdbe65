"""Run a command where 127.0.0.1:PORT is a relay to a Unix socket.

Usage (inside ``unshare --net``)::

    python3 test/netns_relay.py SOCKET PORT COMMAND...

The seed's tools hardcode ``http://127.0.0.1:8090``.  A test cannot count on
that port being free on the host, so it runs the tool in a private network
namespace (whose loopback nobody else uses) and runs this script there: it
brings ``lo`` up, listens on 127.0.0.1:PORT, carries every connection over
the Unix socket *SOCKET* (file system sockets cross network namespaces) to
the test, which forwards it to the daemon's real, freely chosen port; then
it runs *COMMAND* and exits with its status.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        conn, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(path)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def main(argv: list[str]) -> int:
    path, port, command = argv[0], int(argv[1]), argv[2:]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
