"""Run ``twistd -n donkeysm`` as a child process for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import xmlrpc.client
from collections.abc import Sequence

from test.util import service_missing, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETNS_RELAY = os.path.join(ROOT, "test", "netns_relay.py")
SEED_TOOLS_PORT = 8090  # hardcoded by tools/*.py; only ever bound inside a private namespace


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_rtp_range(size: int = 40) -> tuple[int, int]:
    """An even-aligned range of UDP ports nobody listens on right now."""
    for _ in range(50):
        low = (free_port() // 2) * 2
        if low + size >= 65000:
            continue
        socks = []
        try:
            for p in range(low, low + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free RTP port range")


class Daemon:
    """A donkey daemon on free ports, in its own working directory; killed by PID."""

    def __init__(
        self,
        testcase,
        config: str | None = None,
        extra_args: Sequence[str] = (),
        xmlrpc_port: int | None = None,
    ):
        self.workdir = os.path.abspath(testcase.mktemp())
        os.makedirs(self.workdir)
        self.sip_port = free_port()
        self.xmlrpc_port = xmlrpc_port or free_port(socket.SOCK_STREAM)
        low, high = free_rtp_range()
        self.log_path = os.path.join(self.workdir, "donkey.log")
        argv = [
            sys.executable,
            "-c",
            "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
            "-n",
            "--pidfile=",
            "-l",
            self.log_path,
            "donkeysm",
            "--sip-port",
            str(self.sip_port),
            "--xmlrpc-port",
            str(self.xmlrpc_port),
            "--rtp-ports",
            f"{low}-{high}",
            "--state-dir",
            os.path.join(self.workdir, "state"),
        ]
        if config:
            argv += ["-c", config]
        argv += list(extra_args)
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            argv, cwd=self.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        testcase.addCleanup(self.stop)
        self.url = f"http://127.0.0.1:{self.xmlrpc_port}"

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(self.url, allow_none=True)

    async def ready(self, timeout: float = 15.0) -> None:
        """Return once the XML-RPC port accepts connections; fail if donkey exited."""

        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"donkey exited with {self.process.returncode}:\n" + self.output()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.xmlrpc_port), timeout=0.2):
                    return True
            except OSError:
                return False

        try:
            await wait_until(listening, timeout, "donkey's XML-RPC port", interval=0.1)
        except AssertionError as e:
            if "timed out" in str(e):
                raise AssertionError("donkey did not start:\n" + self.output()) from None
            raise

    def output(self) -> str:
        text = ""
        if os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                text = f.read()
        return text

    async def call_xmlrpc(self, method: str, *args):
        """One XML-RPC call from a thread (the client blocks)."""
        from twisted.internet.threads import deferToThread

        return await deferToThread(lambda: getattr(self.proxy(), method)(*args))

    async def run_tool(self, *argv: str, wrapper: list[str] | None = None) -> str:
        """Run ``python3 *argv`` in the daemon's directory from a thread; return its stdout."""
        from twisted.internet.threads import deferToThread

        result = await deferToThread(
            subprocess.run,
            [*(wrapper or []), sys.executable, *argv],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError(f"{argv} failed: {result.stdout}{result.stderr}")
        return result.stdout

    async def run_seed_tool(self, *argv: str, port: int = SEED_TOOLS_PORT) -> str:
        """Run ``python3 *argv`` where ``127.0.0.1:<port>`` is this daemon's XML-RPC port.

        The seed's tools hardcode http://127.0.0.1:8090 and must run byte for
        byte; rather than hoping 8090 is free on the host, the tool runs in a
        private network namespace (``unshare --net``) whose own 127.0.0.1:8090
        is relayed over a Unix socket to the daemon's freely chosen port.
        """
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThread
        from twisted.protocols.portforward import ProxyFactory

        why = await deferToThread(netns_unavailable)
        if why:
            service_missing(why)
        sockdir = tempfile.mkdtemp(prefix="donkey-ns-")
        path = os.path.join(sockdir, "xmlrpc.sock")
        listening = reactor.listenUNIX(path, ProxyFactory("127.0.0.1", self.xmlrpc_port))
        try:
            return await self.run_tool(
                NETNS_RELAY,
                path,
                str(port),
                sys.executable,
                *argv,
                wrapper=["unshare", "--net"],
            )
        finally:
            await listening.stopListening()
            shutil.rmtree(sockdir, ignore_errors=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout:
            self.process.stdout.close()


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll an async or plain predicate until it is true (:func:`test.util.wait_until`)."""
    return await wait_until(predicate, timeout, what, interval=0.1)


def tcp_port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def netns_unavailable() -> str | None:
    """Why a private network namespace cannot be made here, or None if it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) and ip (iproute2) are needed for a private network namespace"
    probe = subprocess.run(
        ["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace (unshare --net): {probe.stderr.strip()}"
    return None


def sipp_available() -> bool:
    return shutil.which("sipp") is not None
