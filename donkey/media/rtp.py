"""RTP packets (RFC 3550), the per-call UDP endpoint and RTP port allocation.

Parsing never raises: anything that is not a well-formed RTP version 2
packet is counted and dropped, because the far end (or anybody on the
network) controls those bytes.

Source policy (issue 11, finding 5).  A packet is taken only from the
address and port of the remote SDP.  Symmetric RTP -- sending to where the
caller's packets really come from, for callers behind NAT -- is a one-off:
while the *latching window* is open (from each new remote SDP address until
the first packet accepted), the first packet with the negotiated payload
type from an eligible source moves :attr:`RtpEndpoint.remote` there and
closes the window; a packet from the SDP's own address and port closes it
too.  Which sources are eligible is :attr:`RtpEndpoint.latching`:

``off``
    none: only the SDP's address and port, ever;
``address`` (the default)
    the SDP's address at any port (a NAT that rewrites ports, or a peer
    sending from another port than it receives on);
``any``
    any address (a caller announcing a private address behind NAT; a
    stranger who is first to guess the port wins the call's audio, so only
    where callers need it).

After that every packet from another source is dropped and counted in
:attr:`RtpStats.wrong_source`: one packet from an attacker no longer
redirects a call's audio.

Sending never raises either: an error of ``sendto`` (a port out of range,
an unreachable network) is counted in :attr:`RtpStats.send_errors` and
logged when the count reaches a power of two, so a broken peer neither
floods the log nor takes the call off the media clock.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Protocol, cast

from twisted.internet import udp
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.posixbase import PosixReactorBase
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

_log = Logger(namespace="donkey.media.rtp")

#: ``recvfrom`` errors that mean "no datagram for us now", not a broken socket:
#: the socket is drained (EAGAIN/EWOULDBLOCK), a signal interrupted the call
#: (EINTR), or an ICMP port-unreachable answering one of our sends surfaced on
#: this socket (ECONNREFUSED: Linux reports it on the next receive).  The
#: same errors Twisted's own UDP port treats as harmless, kept here so we
#: depend on no private Twisted name.
READ_IGNORE_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNREFUSED})

_HDR = struct.Struct("!BBHII")
_pack_into = _HDR.pack_into
_SEQ_TS_SSRC = struct.Struct("!HII")
_unpack_seq_ts_ssrc = _SEQ_TS_SSRC.unpack_from

HEADER_LEN = 12
#: RFC 3550 A.1: a packet this far behind is late; farther, a restarted sequence.
MAX_MISORDER = 100
#: A forward jump this big is a restarted sequence, not loss.
MAX_DROPOUT = 3000


def parse_header(data: bytes) -> tuple[int, bool, int, int, int, int, int] | None:
    """Validate an RTP packet and locate its payload.

    Returns ``(pt, marker, seq, ts, ssrc, payload_start, payload_end)`` or
    None when the bytes are not a usable RTP v2 packet.
    """
    n = len(data)
    if n < HEADER_LEN:
        return None
    b0 = data[0]
    if b0 & 0xC0 != 0x80:
        return None
    start = HEADER_LEN + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if start + 4 > n:
            return None
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    end = n
    if b0 & 0x20:  # padding, count in the last byte
        pad = data[n - 1]
        if pad == 0:
            return None
        end -= pad
    if start > end:
        return None
    b1 = data[1]
    seq, ts, ssrc = _unpack_seq_ts_ssrc(data, 2)
    return b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, start, end


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet; used by tests, tools and the DTMF/bench code paths."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def build(self) -> bytes:
        """Serialise (no padding, no extension)."""
        cc = len(self.csrcs)
        if cc > 15:
            raise ValueError("at most 15 CSRCs")
        head = _HDR.pack(
            0x80 | cc,
            (self.payload_type & 0x7F) | (0x80 if self.marker else 0),
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        if cc:
            head += struct.pack("!%dI" % cc, *self.csrcs)
        return head + self.payload

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket | None:
        """Parse *data*; None if malformed (never raises)."""
        h = parse_header(data)
        if h is None:
            return None
        pt, marker, seq, ts, ssrc, start, end = h
        cc = data[0] & 0x0F
        csrcs = struct.unpack_from("!%dI" % cc, data, HEADER_LEN) if cc else ()
        return cls(pt, seq, ts, ssrc, bytes(data[start:end]), marker, tuple(csrcs))


class NoMediaPortAvailable(RuntimeError):
    """Every RTP port in the configured range is busy: refuse the call."""


#: handler(pt, marker, seq, ts, payload) called for each accepted packet.
PacketHandler = Callable[[int, bool, int, int, bytes], None]


def _drop(pt: int, marker: bool, seq: int, ts: int, payload: bytes) -> None:
    return None


@dataclass(slots=True)
class RtpStats:
    """Counters a monitoring page or a test can read."""

    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0  # sequence gaps seen on receive
    late: int = 0  # duplicates / out of order, dropped
    malformed: int = 0
    unexpected_pt: int = 0
    send_errors: int = 0
    relatched: int = 0  # times the remote address moved to a packet's source
    wrong_source: int = 0  # packets from a source other than the remote, dropped
    #: RFC 3550 interarrival jitter estimate (6.4.1), in RTP timestamp units
    jitter: float = 0.0

    def jitter_seconds(self, clock_rate: int = 8000) -> float:
        """The interarrival jitter in seconds, at the stream's RTP clock rate."""
        return self.jitter / clock_rate


#: The values of sems.conf ``rtp_latching`` (see the module docstring).
LATCHING_MODES = ("off", "address", "any")
DEFAULT_LATCHING = "address"


class RtpEndpoint(DatagramProtocol):
    """UDP socket of one call: sends our stream, receives and latches theirs.

    Sequence number and SSRC live here so they stay continuous whatever is
    being played; the RTP timestamp is supplied by the caller (the session
    advances it 160 per tick, even when nothing is sent).
    """

    noisy = False  # no "Starting protocol" log lines per call

    def __init__(self, ssrc: int | None = None, latching: str = DEFAULT_LATCHING) -> None:
        if latching not in LATCHING_MODES:
            raise ValueError("rtp latching must be one of %s, got %r" % (LATCHING_MODES, latching))
        self.ssrc = int.from_bytes(os.urandom(4), "big") if ssrc is None else ssrc
        self._seq = int.from_bytes(os.urandom(2), "big")
        #: where we send, and the one source packets are accepted from
        self.remote: tuple[str, int] | None = None
        #: symmetric-RTP policy: ``off``, ``address`` or ``any`` (module docstring)
        self.latching = latching
        #: True until the first packet is accepted after a new remote address
        self.latch_open = True
        self._sdp_remote: tuple[str, int] | None = None
        self.accept_pts: frozenset[int] = frozenset()
        self.handler: PacketHandler = _drop
        self.stats = RtpStats()
        self.local_port: int | None = None
        self._buf = bytearray(HEADER_LEN + 160)
        self._buf_len = HEADER_LEN + 160
        self._sendto: Callable[[bytes | bytearray, tuple[str, int]], object] | None = None
        self._rx_ssrc = -1
        self._rx_seq = 0
        #: the received stream's RTP clock (samples per second), for the jitter estimate
        self.clock_rate = 8000
        self._rx_transit = 0.0

    # -- twisted plumbing
    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        sock = getattr(transport, "socket", None)
        if sock is not None:
            # Straight to the socket: udp.Port.write re-validates the address
            # on every datagram, which is measurable at 25k packets/s.
            self._sendto = sock.sendto
        else:
            self._sendto = lambda data, addr: transport.write(bytes(data), addr)
        if self.local_port is None:
            try:
                self.local_port = transport.getHost().port
            except Exception:
                pass

    # -- sending
    @property
    def sequence(self) -> int:
        """Sequence number of the last packet sent."""
        return self._seq

    def send(self, pt: int, marker: bool, ts: int, payload: bytes) -> None:
        """Send one packet to the (latched) remote address, if any."""
        addr = self.remote
        sendto = self._sendto
        if addr is None or sendto is None:
            return
        seq = (self._seq + 1) & 0xFFFF
        self._seq = seq
        size = HEADER_LEN + len(payload)
        buf = self._buf
        if size != self._buf_len:
            buf = self._buf = bytearray(size)
            self._buf_len = size
        _pack_into(buf, 0, 0x80, pt | 0x80 if marker else pt, seq, ts & 0xFFFFFFFF, self.ssrc)
        buf[HEADER_LEN:] = payload
        try:
            sendto(buf, addr)
        except (OSError, OverflowError, ValueError, TypeError) as e:
            self._send_failed(addr, e)
            return
        self.stats.packets_sent += 1

    def _send_failed(self, addr: tuple[str, int], error: Exception) -> None:
        n = self.stats.send_errors = self.stats.send_errors + 1
        if n & (n - 1) == 0:
            _log.warn(
                "RTP send to {addr!r} failed: {error} ({count} times so far)",
                addr=addr,
                error=error,
                count=n,
            )

    def set_remote(self, addr: tuple[str, int] | None) -> None:
        """A new remote SDP address: send there, and latch once more if the policy allows.

        The same address again (a session refresh, hold/resume) keeps a
        latched source: the caller's NAT has not moved because its SDP was repeated.
        """
        if addr is None:
            self.remote = None
            self._sdp_remote = None
            return
        if addr == self._sdp_remote and self.remote is not None:
            return
        self._sdp_remote = addr
        self.remote = addr
        self.latch_open = True

    def _foreign(self, addr: Any) -> bool:
        """A packet not from :attr:`remote`: latch to its source (once) or drop it."""
        remote = self.remote
        if self.latch_open and remote is not None:
            mode = self.latching
            if mode == "any" or (mode == "address" and addr[0] == remote[0]):
                self.latch_open = False
                self.stats.relatched += 1
                self.remote = (addr[0], addr[1])
                return True
        self.stats.wrong_source += 1
        return False

    # -- receiving
    def datagramReceived(self, data: bytes, addr: Any) -> None:
        stats = self.stats
        if len(data) >= HEADER_LEN and data[0] == 0x80:
            # The usual packet: no CSRCs, extension or padding.
            b1 = data[1]
            pt = b1 & 0x7F
            marker = b1 > 0x7F
            seq, ts, ssrc = _unpack_seq_ts_ssrc(data, 2)
            start = HEADER_LEN
            end = len(data)
        else:
            h = parse_header(data)
            if h is None:
                stats.malformed += 1
                return
            pt, marker, seq, ts, ssrc, start, end = h
        if pt not in self.accept_pts:
            stats.unexpected_pt += 1
            return
        if addr != self.remote:
            if not self._foreign(addr):
                return
        elif self.latch_open:
            self.latch_open = False
        stats.packets_received += 1
        # RFC 3550 6.4.1: J += (|D| - J) / 16, D the change in transit time
        transit = monotonic() * self.clock_rate - ts
        if ssrc != self._rx_ssrc:
            self._rx_ssrc = ssrc
            self._rx_transit = transit
        else:
            d = transit - self._rx_transit
            self._rx_transit = transit
            if d < 0:
                d = -d
            if d > 0x80000000:  # the 32-bit timestamp wrapped
                d = 0x100000000 - d
            stats.jitter += (d - stats.jitter) / 16
            gap = (seq - self._rx_seq) & 0xFFFF
            if gap != 1:
                if gap == 0 or gap > 0x8000:
                    if gap == 0 or gap >= 0x10000 - MAX_MISORDER:
                        # Duplicate or reordered-late: playing it now would be out of
                        # order, and a repeated DTMF end packet carries nothing new.
                        stats.late += 1
                        return
                    # Far behind: the sender restarted its numbering under the
                    # same SSRC (a relay switching sources, a replayed capture).
                elif gap < MAX_DROPOUT:  # bigger jumps are a restarted stream, not loss
                    stats.packets_lost += gap - 1
        self._rx_seq = seq
        self.handler(pt, marker, seq, ts, data[start:end])


class _RtpPort(udp.Port):
    """A UDP port that reads one datagram per readiness event.

    RTP arrives one packet per 20 ms per socket: Twisted's ``doRead`` loop
    would follow every packet with a ``recvfrom`` failing with EAGAIN (an
    exception raised and caught, ~2 us) to learn the socket is empty.  With
    level-triggered polling a second queued packet simply wakes us again.

    A protocol that raises is reported on the first failure and then only
    when the count of failures reaches a power of two: a handler broken for
    every packet would otherwise log 50 tracebacks a second per call.
    """

    handler_errors = 0

    def doRead(self) -> None:
        try:
            data, addr = self.socket.recvfrom(self.maxPacketSize)
        except OSError as se:
            if se.args[0] in READ_IGNORE_ERRNOS:
                return
            raise
        try:
            self.protocol.datagramReceived(data, addr)
        except BaseException:
            n = self.handler_errors = self.handler_errors + 1
            if n & (n - 1) == 0:
                _log.failure(
                    "RTP packet handler {protocol!r} failed ({count} times so far)",
                    protocol=self.protocol,
                    count=n,
                )


class ListeningPort(Protocol):
    """What media needs of a listening UDP port: closing it (maybe asynchronously)."""

    def stopListening(self) -> Deferred[None] | None: ...


class UdpReactor(Protocol):
    """The part of ``IReactorUDP`` the port allocator needs.

    A :class:`typing.Protocol` rather than Twisted's zope interface, so the
    type checker can follow calls through it.
    """

    def listenUDP(
        self, port: int, protocol: DatagramProtocol, interface: str = "", maxPacketSize: int = 8192
    ) -> Any: ...


def _listen_rtp(
    reactor: UdpReactor, port: int, protocol: DatagramProtocol, interface: str
) -> ListeningPort:
    if isinstance(reactor, PosixReactorBase):
        p = _RtpPort(port, protocol, interface, 8192, reactor)
        p.startListening()
        return p
    return reactor.listenUDP(port, protocol, interface=interface)


class _Discard(DatagramProtocol):
    """Holds the RTCP port (RTP port + 1) so nobody else takes it."""

    noisy = False

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        pass


@dataclass
class PortAllocator:
    """Hands out RTP/RTCP port pairs (even RTP port) in ``[low, high]``.

    Ports are tried round-robin so a just-released port is not immediately
    reused (late packets of the old call would land in the new one).  Ports
    held by other programs are skipped.
    """

    low: int
    high: int
    host: str = "127.0.0.1"
    reactor: UdpReactor | None = None
    _next: int = field(init=False, default=0)
    _bound: dict[int, tuple[ListeningPort, ListeningPort]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.low % 2:
            self.low += 1
        if self.high < self.low + 1:
            raise ValueError("port range too small: %d-%d" % (self.low, self.high))
        self._next = self.low
        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = cast(UdpReactor, reactor)

    @property
    def capacity(self) -> int:
        """Number of port pairs in the range."""
        return (self.high - self.low + 1) // 2

    @property
    def in_use(self) -> int:
        """Number of port pairs bound now."""
        return len(self._bound)

    def bind(self, protocol: DatagramProtocol) -> int:
        """Listen *protocol* on a free even port (reserving port+1); return it.

        Raises :class:`NoMediaPortAvailable` when the range is exhausted.
        """
        reactor = self.reactor
        assert reactor is not None  # set in __post_init__
        for _ in range(self.capacity):
            port = self._next
            self._next = port + 2 if port + 3 <= self.high else self.low
            if port in self._bound:
                continue
            # RTCP first: a failed bind must not leave *protocol* attached.
            try:
                rtcp: ListeningPort = reactor.listenUDP(port + 1, _Discard(), interface=self.host)
            except CannotListenError:
                continue
            try:
                rtp = _listen_rtp(reactor, port, protocol, self.host)
            except CannotListenError:
                rtcp.stopListening()
                continue
            self._bound[port] = (rtp, rtcp)
            if isinstance(protocol, RtpEndpoint):
                protocol.local_port = port
            return port
        raise NoMediaPortAvailable(
            "no free RTP port pair in %d-%d on %s" % (self.low, self.high, self.host)
        )

    def release(self, port: int) -> Deferred[Any]:
        """Close the RTP and RTCP sockets of *port* (idempotent).

        Returns a Deferred firing once both sockets are really closed.
        """
        pair = self._bound.pop(port, None)
        if pair is None:
            return succeed(None)
        return gatherResults([d for d in (p.stopListening() for p in pair) if d is not None])
