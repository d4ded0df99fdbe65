#!/usr/bin/env python3
"""
Control-plane throughput: XML-RPC requests per second against a donkey
XML-RPC server holding N monitored sessions, from one sequential client.

Starts the server as a child process (this file with --serve) on loopback,
then times C{calls()}, C{get(id)} and C{getAttributeActive('dsm_state')}.
For scale, SEMS answered C{calls()} at 5,476/s and
C{getAttributeActive('dsm_state')} with 100 calls up at 876/s.

    python bench/control_bench.py [--sessions 1000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SEMS_REFERENCE = {"calls()": 5476.0, "getAttributeActive('dsm_state')": 876.0}


def serve(sessions: int) -> None:
    """Child process: fill a store with C{sessions} calls and serve it."""
    sys.path.insert(0, ROOT)
    from twisted.internet import reactor

    from donkey.app.monitoring_di import register_monitoring
    from donkey.di.registry import DIRegistry
    from donkey.di.xmlrpc import InMemoryCoreControl, make_xmlrpc_service
    from donkey.monitoring.store import MonitoringStore

    registry = DIRegistry()
    store = MonitoringStore(reactor)
    register_monitoring(registry, store)
    for i in range(sessions):
        ident = "%08X-4C72F4BF%08X-B6A45B70" % (i, i * 7919)
        app = "quizconnect_callee" if i % 3 else "quizconnect_caller"
        store.update(
            ident,
            {
                "from": "<sip:quizconnect@192.168.5.106:5080>",
                "ruri": "sip:user%d@192.168.5.106:5080" % i,
                "app": app,
                "to": "<sip:user%d@192.168.5.106:5080>" % i,
                "dsm_state": "ENTER_PIN",
                "dsm_diag": app,
                "dir": "out",
            },
        )
        for step in ("START", "> got INVITE in callee leg >", "RUN_INVITE", "ENTER_PIN"):
            store.add(ident, "dsm_stategraph", step if step.startswith(">") else app + "/" + step)
    core = InMemoryCoreControl(sessions=sessions)
    service = make_xmlrpc_service(
        {"server_ip": "127.0.0.1", "xmlrpc_port": "0", "direct_export": "monitoring"},
        registry,
        core,
        reactor,
    )
    service.startService()
    print("PORT %d %s" % (service.get_port(), store.list()[sessions // 2]), flush=True)
    reactor.run()


class LeanClient:
    """
    A minimal keep-alive XML-RPC client: one send per request, no HTTP
    header parsing beyond Content-Length.  Shows what the server sustains
    when the client is not the bottleneck (xmlrpc.client's http.client
    spends about as much CPU per request as the server does).
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def call(self, method: str, *params):
        body = xmlrpc.client.dumps(params, method).encode()
        self.sock.sendall(
            b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        length = 0
        while True:
            line = self.file.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.partition(b":")
            if key.lower() == b"content-length":
                length = int(value)
        return xmlrpc.client.loads(self.file.read(length))[0][0]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def start_server(sessions: int):
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", "--sessions", str(sessions)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline().split()
    if not line or line[0] != "PORT":
        child.kill()
        raise SystemExit("server did not start")
    return child, int(line[1]), line[2]


def stop_server(child) -> None:
    child.terminate()
    child.wait()


def measure(label: str, call, requests: int, ref: float | None = None) -> float:
    call()  # warm up (connection, caches)
    start = time.perf_counter()
    for _ in range(requests):
        call()
    elapsed = time.perf_counter() - start
    rate = requests / elapsed
    note = "  (SEMS: %.0f/s)" % ref if ref else ""
    print("  %-40s %8.0f req/s  %7.3f ms/req%s" % (label, rate, 1000 * elapsed / requests, note))
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.sessions)
        return 0

    n, requests = args.sessions, args.requests
    child, port, some_id = start_server(n)
    try:
        s = xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % port)
        assert s.calls() == n
        assert s.get(some_id)[0]["dsm_stategraph"][0] == 0
        assert len(s.getAttributeActive("dsm_state")) == n
        print(
            "donkey XML-RPC control plane, loopback, %d sequential requests per figure" % requests
        )
        print("%d sessions, xmlrpc.client.ServerProxy (as operator scripts use):" % n)
        calls_rate = measure("calls()", s.calls, requests, SEMS_REFERENCE["calls()"])
        measure("get(id)", lambda: s.get(some_id), requests)
        measure(
            "getAttributeActive('dsm_state')", lambda: s.getAttributeActive("dsm_state"), requests
        )
        lean = LeanClient(port)
        print("%d sessions, lean keep-alive client (server-bound):" % n)
        lean_rate = measure(
            "calls()", lambda: lean.call("calls"), requests, SEMS_REFERENCE["calls()"]
        )
        measure("get(id)", lambda: lean.call("get", some_id), requests)
        lean.close()
    finally:
        stop_server(child)

    small = 100
    child, port, _ = start_server(small)
    try:
        s = xmlrpc.client.ServerProxy("http://127.0.0.1:%d" % port)
        print("%d sessions (SEMS's figure was taken with 100 calls up):" % small)
        measure(
            "getAttributeActive('dsm_state')",
            lambda: s.getAttributeActive("dsm_state"),
            requests,
            SEMS_REFERENCE["getAttributeActive('dsm_state')"],
        )
    finally:
        stop_server(child)

    goal = SEMS_REFERENCE["calls()"] / 2
    print(
        "goal calls() >= %.0f/s (half of SEMS): ServerProxy %s, lean client %s"
        % (
            goal,
            "met" if calls_rate >= goal else "NOT met",
            "met" if lean_rate >= goal else "NOT met",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
