"""SIP over UDP on a Twisted datagram port, for sippy's transaction manager.

sippy's stock ``Udp_server`` runs three receiver and three sender threads per
socket.  Receivers race each other, so an INVITE's ACK can reach the
transaction layer before the 200 it acknowledges; under load (500 cps) that
failed ~5% of calls.  Here the socket is a plain Twisted ``udp.Port``: every
datagram is handed to sippy in arrival order, on the reactor thread.

The socket is created and bound by us and then adopted by the reactor.  It
is bound exclusively (sippy's ``SO_REUSE*`` options are not applied), so a
second daemon on the same address fails to start instead of sharing it.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sippy.Network_server import Network_server, Remote_address
from sippy.SipConf import MyPort
from sippy.SipTransactionManager import SipTransactionManager
from sippy.Time.MonoTime import MonoTime
from sippy.Udp_server import Udp_server_opts
from twisted.internet import abstract
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from donkey.sip import sippy_process, validate
from donkey.sip.clock import Clock
from donkey.sip.ratelimit import SourceLogLimiter

log = Logger(namespace="donkey.sip.transport")

RCVBUF_SIZE = 4 * 1024 * 1024
MAX_DATAGRAM = 65535
_SHARING_OPTIONS = {(socket.SOL_SOCKET, socket.SO_REUSEADDR)} | (
    {(socket.SOL_SOCKET, socket.SO_REUSEPORT)} if hasattr(socket, "SO_REUSEPORT") else set()
)


class _SipDatagramProtocol(DatagramProtocol):
    """Hands datagrams to the owning server; never lets an error escape."""

    noisy = False

    def __init__(self, server: TwistedUdpServer) -> None:
        self.server = server

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.datagram_received(data, addr)


class TwistedUdpServer(Network_server):
    """Drop-in for ``sippy.Udp_server.Udp_server`` (``model_udp_server``)."""

    transport = "udp"

    def __init__(self, global_config: dict, uopts: Udp_server_opts) -> None:
        # sippy's dry run sets flags=0 on *its* copy; getCopy() drops it.
        dry_run = getattr(uopts, "flags", None) == 0
        super().__init__(uopts)
        self.reactor = global_config.get("_reactor") or _default_reactor()
        self.port: Any = None
        self.stats = [0, 0, 0]  # sent, send errors, received (as sippy)
        self.dropped = 0
        family = self.uopts.family
        skt = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._bind(skt, family)
            if dry_run:
                # sippy's dry run: bind without SO_REUSE* only to prove that
                # nobody else owns the port, then let it go.
                return
            try:
                skt.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_SIZE)
            except OSError:
                log.warn("could not set SO_RCVBUF to {n}", n=RCVBUF_SIZE)
            skt.setblocking(False)
            self.port = self.reactor.adoptDatagramPort(
                skt.fileno(), family, _SipDatagramProtocol(self), maxPacketSize=MAX_DATAGRAM
            )
        finally:
            # adoptDatagramPort dup()s the descriptor; ours is not needed.
            skt.close()

    def _bind(self, skt: socket.socket, family: int) -> None:
        laddress = self.uopts.laddress
        if laddress is None:
            return
        host, port = laddress
        if isinstance(port, MyPort):
            port = int(port)
        ai: list[Any] = socket.getaddrinfo(host, None, family)
        for so_val in self.uopts.getSockOpts():
            # sippy asks for SO_REUSEADDR and SO_REUSEPORT; on Linux either
            # lets a second process bind the same UDP address and take calls.
            # The SIP port is ours alone: a second daemon fails to start.
            if so_val[:2] not in _SHARING_OPTIONS:
                skt.setsockopt(*so_val)
        addr = (
            (ai[0][4][0], port)
            if family == socket.AF_INET
            else (ai[0][4][0], port, ai[0][4][2], ai[0][4][3])
        )
        skt.bind(addr)
        if port == 0:
            self.uopts.laddress = (laddress[0], skt.getsockname()[1])
        else:
            self.uopts.laddress = (laddress[0], port)

    # sippy Network_server API -----------------------------------------
    def getSIPaddr(self):
        if self.uopts.family == socket.AF_INET:
            return (self.uopts.laddress, self.transport)
        return (("[%s]" % self.uopts.laddress[0], self.uopts.laddress[1]), self.transport)

    def send_to(self, data, address, delayed: bool = False) -> None:
        if self.port is None:
            return
        if not isinstance(data, bytes):
            data = data.encode("utf-8")
        host, port = address
        host = str(host)
        if host.startswith("["):
            host = host[1:-1]
        port = int(port)
        if abstract.isIPAddress(host) or abstract.isIPv6Address(host):
            self._write(data, (host, port))
            return
        d = self.reactor.resolve(host)
        d.addCallbacks(
            lambda ip: self._write(data, (ip, port)),
            lambda f: log.warn("cannot resolve {host}: {err}", host=host, err=f.getErrorMessage()),
        )

    def _write(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.port is None:
            return
        try:
            self.port.write(data, addr)
            self.stats[0] += 1
        except Exception as ex:  # ENOBUFS, EMSGSIZE, bad address ...
            self.stats[1] += 1
            log.warn("UDP send to {addr} failed: {ex}", addr=addr, ex=ex)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        cb = self.uopts.data_callback
        if cb is None or not data:
            return
        self.stats[2] += 1
        if self.uopts.family == socket.AF_INET6:
            addr = ("[%s]" % addr[0], addr[1])
        try:
            cb(data, Remote_address(addr, self.transport), self, MonoTime())
        except Exception as ex:
            self.dropped += 1
            log.warn("dropped malformed/unhandled datagram from {addr}: {ex!r}", addr=addr, ex=ex)

    def shutdown(self) -> None:
        self.uopts.data_callback = None
        if self.port is not None:
            port, self.port = self.port, None
            port.stopListening()

    def join(self) -> None:
        pass


def _default_reactor():
    from twisted.internet import reactor

    return reactor


#: what the stack's overload check says about a new INVITE: None admits it,
#: else ``(reason for the log, Retry-After seconds)``
Admission = Callable[[], "tuple[str, int] | None"]

#: stateless replies remembered for retransmissions of the same bad datagram
_REPLY_MEMORY = 1024
#: new INVITEs remembered as admitted, so their retransmissions reach sippy
_ADMITTED_MEMORY = 65536
_ADMITTED_TTL = 64.0  # RFC 3261 timer B: an INVITE is not retransmitted longer


class TwistedSipTransactionManager(SipTransactionManager):
    """sippy's transaction layer on :class:`TwistedUdpServer`, behind a gate.

    Every datagram is first judged by :func:`donkey.sip.validate.check`:
    malformed requests are answered here, statelessly (400, 416, 505), and
    what cannot be answered is dropped, each with one rate-limited log line
    naming the source and the problem.  A new INVITE then meets
    :attr:`admission` (the stack's session and cps limits) before sippy
    parses it: an overloaded server answers 503 with ``Retry-After`` having
    allocated nothing (no transaction, no leg, no RTP port).  A request that
    passes both and still makes sippy give up gets a 400 from here too.
    """

    model_udp_server = (TwistedUdpServer, Udp_server_opts)

    def __init__(self, global_config: dict, req_cb=None) -> None:
        reactor = global_config.get("_reactor")
        sippy_process.install(reactor)
        self.clock: Clock = reactor or _default_reactor()
        self.input_log = SourceLogLimiter(self.clock)
        self.admission: Admission | None = None
        self.user_agent: str = global_config.get("_uaname", "DonkeySM")
        self.warn_host: str = str(global_config.get("_sip_address", "donkey"))
        #: replies sent from here, by class ("4xx", "5xx") and code, for stats and tests
        self.gate_replies: dict[int, int] = {}
        self.gate_drops = 0
        self._sippy_failure: str | None = None
        self._replies: OrderedDict[int, bytes] = OrderedDict()
        self._admitted: OrderedDict[tuple[str, str], float] = OrderedDict()
        sippy_process.route_sippy_errors(self._sippy_error)
        super().__init__(global_config, req_cb)

    def handleIncoming(self, data_in, ra, server, rtime):
        source = _source(ra)
        verdict = validate.check(bytes(data_in))
        if verdict.action == "drop":
            if verdict.problem:
                self.gate_drops += 1
                self._note(source, "dropped: " + verdict.problem)
            return
        head = verdict.head
        if verdict.action == "reply" and head is not None:
            self._note(source, "%d: %s" % (verdict.code, verdict.problem))
            self._reply(
                server, ra, head, verdict.code, validate.REASONS[verdict.code], verdict.problem
            )
            return
        if (
            verdict.initial_invite
            and head is not None
            and not self._admit(server, ra, head, source)
        ):
            return
        if not verdict.response:
            key = hash(verdict.data)
            cached = self._replies.get(key)
            if cached is not None:  # a retransmission of a request sippy gave up on
                server.send_to(cached, ra.address)
                return
        sent = server.stats[0]
        self._sippy_failure = None
        try:
            super().handleIncoming(verdict.data, ra, server, rtime)
        except Exception as ex:
            self._sippy_failure = "%s: %s" % (type(ex).__name__, ex)
        failure, self._sippy_failure = self._sippy_failure, None
        if failure is None:
            return
        if verdict.response or head is None:
            self._note(source, "dropped response: " + _one_line(failure))
            return
        self._note(source, "%s not handled: %s" % (head.method, _one_line(failure)))
        if head.method != "ACK" and server.stats[0] == sent:
            # the reply names the kind of failure only, never a fragment of the message
            kind = failure.split(":", 1)[0]
            reply = self._reply(server, ra, head, 400, "Bad Request", "not understood (%s)" % kind)
            self._replies[hash(verdict.data)] = reply
            while len(self._replies) > _REPLY_MEMORY:
                self._replies.popitem(last=False)

    def _admit(self, server, ra, head: validate.Head, source: tuple[str, int | None]) -> bool:
        """The overload check for a new INVITE; False once it has been answered 503."""
        if self.admission is None:
            return True
        key = (head.call_id or "", head.vias[0])
        now = self.clock.seconds()
        if key in self._admitted:
            return True  # a retransmission: sippy's transaction absorbs it
        refused = self.admission()
        if refused is None:
            self._admitted[key] = now
            while self._admitted:
                oldest, when = next(iter(self._admitted.items()))
                if now - when < _ADMITTED_TTL and len(self._admitted) <= _ADMITTED_MEMORY:
                    break
                del self._admitted[oldest]
            return True
        why, retry_after = refused
        self._note(source, "INVITE %s refused with 503: %s" % (_one_line(head.call_id or ""), why))
        self._reply(
            server, ra, head, 503, "Service Unavailable", why, extra="Retry-After: %d" % retry_after
        )
        return False

    def _reply(
        self, server, ra, head: validate.Head, code: int, reason: str, why: str, extra: str = ""
    ) -> bytes:
        data = validate.build_reply(
            head, code, reason, why, host=self.warn_host, server=self.user_agent, extra=extra
        )
        self.gate_replies[code] = self.gate_replies.get(code, 0) + 1
        server.send_to(data, ra.address)
        return data

    def _note(self, source: tuple[str, int | None], what: str) -> None:
        """One rate-limited line in the input log about a datagram from *source*."""
        self.input_log.emit(source[0], what, source[1])

    def _sippy_error(self, what: str, exception: BaseException | None) -> None:
        """sippy gave up on a datagram (its ``dump_exception``): remember why."""
        text = what if exception is None else "%s: %s" % (type(exception).__name__, exception)
        self._sippy_failure = text

    def shutdown(self) -> None:
        self.input_log.stop()
        sippy_process.route_sippy_errors(None)
        super().shutdown()

    @property
    def server(self) -> TwistedUdpServer | None:
        servers = list(self.l4r.cache_l2s.values()) if self.l4r else []
        return servers[0] if servers else None


def _source(ra: Any) -> tuple[str, int | None]:
    """``(host, port)`` of a sippy ``Remote_address``, for the input log."""
    address = getattr(ra, "address", None)
    if isinstance(address, tuple) and len(address) >= 2:
        try:
            return str(address[0]), int(address[1])
        except (TypeError, ValueError):
            return str(address[0]), None
    return str(ra), None


def _one_line(text: str) -> str:
    return validate.clean(str(text))
