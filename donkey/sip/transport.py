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
from typing import Any

from sippy.Network_server import Network_server, Remote_address
from sippy.SipConf import MyPort
from sippy.SipTransactionManager import SipTransactionManager
from sippy.Time.MonoTime import MonoTime
from sippy.Udp_server import Udp_server_opts
from twisted.internet import abstract
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from donkey.sip import sippy_process

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


class TwistedSipTransactionManager(SipTransactionManager):
    """sippy's transaction layer on :class:`TwistedUdpServer`."""

    model_udp_server = (TwistedUdpServer, Udp_server_opts)

    def __init__(self, global_config: dict, req_cb=None) -> None:
        sippy_process.install(global_config.get("_reactor"))
        super().__init__(global_config, req_cb)

    def handleIncoming(self, data_in, ra, server, rtime):
        # sippy decodes strictly and lets UnicodeDecodeError escape; SIP is
        # UTF-8 text, anything else is garbage.  Also stops any other parse
        # exception at this boundary so one bad packet never hurts a call.
        try:
            data_in.decode("utf-8")
        except UnicodeDecodeError:
            log.warn("dropped non-UTF-8 datagram from {ra}", ra=str(ra))
            return
        try:
            super().handleIncoming(data_in, ra, server, rtime)
        except Exception as ex:
            log.warn("dropped datagram from {ra}: {ex!r}", ra=str(ra), ex=ex)

    @property
    def server(self) -> TwistedUdpServer | None:
        servers = list(self.l4r.cache_l2s.values()) if self.l4r else []
        return servers[0] if servers else None
