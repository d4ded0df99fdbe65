"""Test helpers: run sipp under the reactor, a recording app listener."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.protocol import ProcessProtocol

from donkey.media.sdp_text import answer_hold
from test.daemon import free_port
from test.sipp import Scenario, scenario_file
from test.util import wait_until

SIPP = shutil.which("sipp") or "/usr/bin/sipp"

SDP = (
    "v=0\r\n"
    "o=donkey 1000 1000 IN IP4 127.0.0.1\r\n"
    "s=donkey\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=sendrecv\r\n"
)


#: A UDP port on 127.0.0.1 nobody is bound to right now (the one port picker).
free_udp_port = free_port


def udp_port_bound(port: int) -> bool:
    """True once something (a sipp UAS) is bound to UDP *port* on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def scenario(scen: str | Scenario, directory: str = "sipp-scenarios") -> str:
    """The file sipp loads for *scen*: a :class:`test.sipp.Scenario` or a shared name.

    Every scenario is built by :mod:`test.sipp`; the file is written into
    *directory* (by default under the test run's working directory).
    """
    return scenario_file(scen, os.path.abspath(directory))


class _SippProtocol(ProcessProtocol):
    def __init__(self) -> None:
        self.done: defer.Deferred = defer.Deferred()
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.ended = False

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason) -> None:
        self.ended = True
        self.done.callback(
            (
                reason.value.exitCode,
                b"".join(self.out).decode(errors="replace"),
                b"".join(self.err).decode(errors="replace"),
            )
        )


class Sipp:
    """One sipp process; killed (by its own PID only) on timeout or stop()."""

    def __init__(self, args: list[str], cwd: str, timeout: float = 20.0) -> None:
        os.makedirs(cwd, exist_ok=True)
        self.proto = _SippProtocol()
        argv = [SIPP] + args + ["-nostdin", "-timeout", "%ds" % int(timeout), "-timeout_error"]
        self.transport = reactor.spawnProcess(
            self.proto,
            SIPP,
            argv,
            env={"PATH": os.environ.get("PATH", "")},
            path=cwd,
            childFDs={0: "w", 1: "r", 2: "r"},
        )
        self._killer = reactor.callLater(timeout + 5, self.stop)
        self.port: int | None = None

    def bound(self, timeout: float = 10.0) -> defer.Deferred:
        """Fires once this sipp (a UAS) is bound to its port and can be dialled."""
        port = self.port
        assert port is not None, "bound() is for a UAS started with a port"

        def ready() -> bool:
            if self.proto.ended:
                raise AssertionError(f"sipp exited before binding UDP {port}")
            return udp_port_bound(port)

        return defer.ensureDeferred(wait_until(ready, timeout, f"sipp bound to UDP {port}"))

    @property
    def done(self) -> defer.Deferred:
        return self.proto.done

    def result(self) -> defer.Deferred:
        d = defer.Deferred()

        def fire(res):
            if self._killer.active():
                self._killer.cancel()
            d.callback(res)
            return res

        self.proto.done.addBoth(fire)
        return d

    def stop(self) -> defer.Deferred:
        if self._killer.active():
            self._killer.cancel()
        if not self.proto.ended:
            try:
                self.transport.signalProcess("KILL")
            except Exception:
                pass
        return self.proto.done if not self.proto.ended else defer.succeed(None)


def sipp_uac(
    test,
    scen: str | Scenario,
    target_port: int,
    extra: list[str] | None = None,
    calls: int = 1,
    timeout: float = 20.0,
) -> Sipp:
    cwd = test.mktemp()
    args = [
        "-sf",
        scenario(scen, cwd),
        "-m",
        str(calls),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-s",
        "service",
        "127.0.0.1:%d" % target_port,
    ] + (extra or [])
    s = Sipp(args, cwd, timeout)
    test.addCleanup(s.stop)
    return s


def sipp_uas(
    test, port: int, scen: str | Scenario | None = None, calls: int = 1, timeout: float = 20.0
) -> Sipp:
    """A sipp callee on UDP *port* (sipp's built-in ``uas`` without *scen*).

    ``await sipp.bound()`` before dialling it: sipp needs a moment to bind.
    """
    cwd = test.mktemp()
    args = (["-sf", scenario(scen, cwd)] if scen else ["-sn", "uas"]) + [
        "-m",
        str(calls),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    s = Sipp(args, cwd, timeout)
    s.port = port
    test.addCleanup(s.stop)
    return s


class Recorder:
    """A CallListener recording every callback; ``when(name)`` waits for one."""

    def __init__(self, on_invite: Callable[[Any], None] | None = None) -> None:
        self.events: list[tuple[str, tuple]] = []
        self._waiters: dict[str, list[defer.Deferred]] = {}
        self._on_invite = on_invite
        self.leg = None
        self.reinvite_answer: str | None = None
        self.take_requests = False

    def _rec(self, name: str, *args: Any) -> None:
        self.events.append((name, args))
        for d in self._waiters.pop(name, []):
            d.callback(args)

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def get(self, name: str) -> tuple | None:
        for n, a in self.events:
            if n == name:
                return a
        return None

    def when(self, name: str) -> defer.Deferred:
        got = self.get(name)
        if got is not None:
            return defer.succeed(got)
        d = defer.Deferred()
        self._waiters.setdefault(name, []).append(d)
        return d

    # CallListener
    def on_invite(self, leg) -> None:
        self.leg = leg
        self._rec("on_invite", leg)
        if self._on_invite is not None:
            self._on_invite(leg)

    def on_ringing(self, code, reason, has_body):
        self._rec("on_ringing", code, reason, has_body)

    def on_early(self, sdp):
        self._rec("on_early", sdp)

    def on_connected(self, sdp):
        self._rec("on_connected", sdp)

    def on_failed(self, code, reason):
        self._rec("on_failed", code, reason)

    def on_hangup(self, headers, by_cancel):
        self._rec("on_hangup", headers, by_cancel)

    def on_remote_disappeared(self, code, reason):
        self._rec("on_remote_disappeared", code, reason)

    def on_session_timeout(self):
        self._rec("on_session_timeout")

    def on_reinvite(self, sdp):
        self._rec("on_reinvite", sdp)
        if self.reinvite_answer is not None or self.leg is None:
            return self.reinvite_answer
        # no answer set: hold/resume as the DSM call glue does it
        return answer_hold(sdp, self.leg.local_sdp)

    def on_request(self, method, info):
        self._rec("on_request", method, info)
        return self.take_requests

    def on_reply(self, code, reason, info):
        self._rec("on_reply", code, reason, info)

    def on_info_dtmf(self, key, duration_ms):
        self._rec("on_info_dtmf", key, duration_ms)

    def on_terminated(self):
        self._rec("on_terminated")


def with_timeout(d: defer.Deferred, seconds: float) -> defer.Deferred:
    return d.addTimeout(seconds, reactor)
