"""SDP (RFC 4566) parse/build and the offer/answer rules (RFC 3264) we need.

Audio only: PCMU, PCMA and telephone-event/8000 for RFC 4733 DTMF, 20 ms
ptime.  Hold is expressed with direction attributes; the old style
``c=0.0.0.0`` is understood on input and can be produced on request.

Every SDP body comes from a stranger, so parsing is bounded and strict
where a value later reaches a socket: the body's size and line count are
capped (:data:`MAX_SDP_BYTES`, :data:`MAX_SDP_LINES`, :data:`MAX_MEDIA`), a
port outside 0-65535 and a ``c=`` address that is neither an IP literal nor
a host name are :class:`SdpError`.  Both errors mean 488 to the caller; they
are the only exceptions :func:`parse` and the negotiator raise on any input.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from donkey.media import codecs as _codecs
from donkey.media.codecs import Codec

SENDRECV, SENDONLY, RECVONLY, INACTIVE = "sendrecv", "sendonly", "recvonly", "inactive"
DIRECTIONS = (SENDRECV, SENDONLY, RECVONLY, INACTIVE)
TELEPHONE_EVENT = "telephone-event"
DEFAULT_DTMF_PT = 101
PTIME = 20
_STATIC = {
    0: ("PCMU", 8000),
    8: ("PCMA", 8000),
    3: ("GSM", 8000),
    18: ("G729", 8000),
    9: ("G722", 8000),
}


#: Larger bodies are refused before they are split into lines (SIP bodies
#: of real calls are well under 4 KiB).
MAX_SDP_BYTES = 16384
#: More lines than this is not a call's SDP but an attempt to make us work.
MAX_SDP_LINES = 512
#: ``m=`` sections we look at; a body with more is refused (a call has one or two).
MAX_MEDIA = 16

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class SdpError(ValueError):
    """The SDP text cannot be parsed."""


class UnsupportedOffer(SdpError):
    """No usable audio stream / codec in common (SIP answers 488)."""


def is_ip_literal(addr: str) -> bool:
    """True for an IPv4/IPv6 address written as numbers (nothing to resolve)."""
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return False
    return True


def _dir_caps(direction: str) -> tuple[bool, bool]:
    """(can send, can receive) for a direction attribute."""
    return direction in (SENDRECV, SENDONLY), direction in (SENDRECV, RECVONLY)


def _caps_dir(send: bool, recv: bool) -> str:
    if send and recv:
        return SENDRECV
    if send:
        return SENDONLY
    if recv:
        return RECVONLY
    return INACTIVE


def is_null_address(addr: str | None) -> bool:
    """True for the RFC 2543 hold address (and the IPv6 equivalent)."""
    return addr in ("0.0.0.0", "::")


@dataclass(slots=True)
class MediaDescription:
    """One ``m=`` section; attributes kept in order as (name, value|None)."""

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)  # i=, b=, k= ...

    def attr(self, name: str) -> str | None:
        for k, v in self.attributes:
            if k == name:
                return v
        return None

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """pt -> (encoding name, clock rate, channels)."""
        out: dict[int, tuple[str, int, int]] = {}
        for k, v in self.attributes:
            if k != "rtpmap" or not v:
                continue
            try:
                pt_s, enc = v.split(None, 1)
                parts = enc.strip().split("/")
                out[int(pt_s)] = (parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 1)
            except (ValueError, IndexError):
                continue
        return out

    def fmtp(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for k, v in self.attributes:
            if k == "fmtp" and v:
                pt_s, _, params = v.partition(" ")
                try:
                    out[int(pt_s)] = params.strip()
                except ValueError:
                    continue
        return out

    @property
    def direction(self) -> str | None:
        """Media-level direction attribute, None when absent."""
        found = None
        for k, _ in self.attributes:
            if k in DIRECTIONS:
                found = k
        return found

    @property
    def ptime(self) -> int | None:
        v = self.attr("ptime")
        try:
            return int(v) if v else None
        except ValueError:
            return None

    def payload_types(self) -> list[int]:
        out = []
        for f in self.formats:
            try:
                out.append(int(f))
            except ValueError:
                pass
        return out


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP body."""

    origin: str = "- 0 0 IN IP4 0.0.0.0"
    name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)

    @property
    def direction(self) -> str | None:
        found = None
        for k, _ in self.attributes:
            if k in DIRECTIONS:
                found = k
        return found

    def media_direction(self, m: MediaDescription) -> str:
        return m.direction or self.direction or SENDRECV

    def media_connection(self, m: MediaDescription) -> str | None:
        return m.connection or self.connection

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse SDP text; raises :class:`SdpError` when it is not SDP."""
        if len(text) > MAX_SDP_BYTES:
            raise SdpError("SDP body too large (%d bytes, at most %d)" % (len(text), MAX_SDP_BYTES))
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        lines = text.splitlines()
        if len(lines) > MAX_SDP_LINES:
            raise SdpError(
                "SDP body has too many lines (%d, at most %d)" % (len(lines), MAX_SDP_LINES)
            )
        sd = cls()
        seen_v = False
        cur: MediaDescription | None = None
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if len(line) < 2 or line[1] != "=":
                raise SdpError("bad SDP line: %r" % line[:60])
            t, value = line[0], line[2:]
            if t == "v":
                seen_v = True
            elif t == "o":
                sd.origin = value
            elif t == "s":
                sd.name = value
            elif t == "t" and cur is None:
                sd.timing = value
            elif t == "c":
                addr = _parse_connection(value)
                if cur is None:
                    sd.connection = addr
                else:
                    cur.connection = addr
            elif t == "m":
                parts = value.split()
                if len(parts) < 3:
                    raise SdpError("bad m= line: %r" % value)
                port_text = parts[1].split("/")[0]
                if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
                    raise SdpError("bad port in m= line: %r" % value[:60])
                port = int(port_text)
                if port > 65535:
                    raise SdpError("port out of range in m= line: %r" % value[:60])
                if len(sd.media) >= MAX_MEDIA:
                    raise UnsupportedOffer("too many m= lines (at most %d)" % MAX_MEDIA)
                cur = MediaDescription(parts[0], port, parts[2], parts[3:])
                sd.media.append(cur)
            elif t == "a":
                name, sep, val = value.partition(":")
                item = (name.strip(), val.strip() if sep else None)
                (sd.attributes if cur is None else cur.attributes).append(item)
            else:
                (sd.extra_lines if cur is None else cur.extra_lines).append(line)
        if not seen_v:
            raise SdpError("not SDP: no v= line")
        return sd

    def to_text(self) -> str:
        lines = ["v=0", "o=" + self.origin, "s=" + (self.name or "-")]
        lines += self.extra_lines
        if self.connection:
            lines.append("c=IN %s %s" % (_addrtype(self.connection), self.connection))
        lines.append("t=" + self.timing)
        lines += [_attr_line(a) for a in self.attributes]
        for m in self.media:
            lines.append("m=%s %d %s %s" % (m.media, m.port, m.proto, " ".join(m.formats)))
            if m.connection:
                lines.append("c=IN %s %s" % (_addrtype(m.connection), m.connection))
            lines += m.extra_lines
            lines += [_attr_line(a) for a in m.attributes]
        return "\r\n".join(lines) + "\r\n"


def _attr_line(a: tuple[str, str | None]) -> str:
    return "a=%s" % a[0] if a[1] is None else "a=%s:%s" % a


def _addrtype(addr: str) -> str:
    return "IP6" if ":" in addr else "IP4"


def _parse_connection(value: str) -> str:
    """The address of a ``c=`` line: an IP literal or a host name (resolved later)."""
    parts = value.split()
    if len(parts) < 3:
        raise SdpError("bad c= line: %r" % value[:60])
    addr = parts[2].split("/")[0]
    if not is_ip_literal(addr) and _HOSTNAME.match(addr) is None:
        raise SdpError("bad address in c= line: %r" % value[:60])
    return addr


def parse(text: str | bytes) -> SessionDescription:
    return SessionDescription.parse(text)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """Outcome of offer/answer for the audio stream, from our point of view."""

    codec: Codec
    payload_type: int  # PT of the codec on the wire
    telephone_event_pt: int | None  # None: no RFC 4733, use in-band detection
    remote_addr: tuple[str, int] | None  # None when the peer asked not to receive
    direction: str  # our direction: may we send / receive
    ptime: int = PTIME

    @property
    def sending(self) -> bool:
        return self.remote_addr is not None and self.direction in (SENDRECV, SENDONLY)

    @property
    def receiving(self) -> bool:
        return self.direction in (SENDRECV, RECVONLY)

    @property
    def on_hold(self) -> bool:
        return self.direction != SENDRECV


def _codec_for(
    m: MediaDescription, pt: int, rtpmap: dict[int, tuple[str, int, int]]
) -> Codec | None:
    if pt in rtpmap:
        name, rate, _ = rtpmap[pt]
    elif pt in _STATIC:
        name, rate = _STATIC[pt]
    else:
        return None
    c = _codecs.find(name)
    if c is None or rate != c.clock_rate:
        return None
    return c


def _te_pt(m: MediaDescription, rtpmap: dict[int, tuple[str, int, int]]) -> int | None:
    """PT of telephone-event/8000 if it is actually listed on the m= line."""
    for pt in m.payload_types():
        name, rate, _ = rtpmap.get(pt, ("", 0, 0))
        if name.lower() == TELEPHONE_EVENT and rate == 8000:
            return pt
    return None


class SdpNegotiator:
    """Per-call SDP state: our address/port, origin line versioning, last offer.

    Methods mirror the SIP flows: :meth:`make_offer` (we offer),
    :meth:`apply_answer` (their answer to it), :meth:`make_answer` (they offer).
    """

    def __init__(
        self,
        local_ip: str,
        port: int,
        codec_names: tuple[str, ...] = ("PCMU", "PCMA"),
        dtmf_pt: int = DEFAULT_DTMF_PT,
        telephone_event: bool = True,
    ) -> None:
        self.local_ip = local_ip
        self.port = port
        self.codecs = [c for c in (_codecs.find(n) for n in codec_names) if c is not None]
        if not self.codecs:
            raise ValueError("no known codec in %r" % (codec_names,))
        self.dtmf_pt = dtmf_pt
        self.telephone_event = telephone_event
        self._sess_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self._version = self._sess_id
        self._last_body: str | None = None
        self._offered_direction = SENDRECV
        self.negotiated: Negotiated | None = None

    # -- building
    def _media(
        self, pts: list[int], rtpmap: dict[int, str], direction: str, te_pt: int | None
    ) -> MediaDescription:
        m = MediaDescription("audio", self.port, "RTP/AVP", [str(p) for p in pts])
        for pt in pts:
            if pt == te_pt:
                m.attributes.append(("rtpmap", "%d %s/8000" % (pt, TELEPHONE_EVENT)))
                m.attributes.append(("fmtp", "%d 0-15" % pt))
            else:
                m.attributes.append(("rtpmap", "%d %s/8000" % (pt, rtpmap[pt])))
        m.attributes.append(("ptime", str(PTIME)))
        m.attributes.append((direction, None))
        return m

    def _render(self, sd: SessionDescription) -> str:
        """Fill the o= line, bumping the version only when the body changed."""
        sd.origin = "donkey %d %d IN %s %s" % (
            self._sess_id,
            self._version,
            _addrtype(self.local_ip),
            self.local_ip,
        )
        body = sd.to_text()
        tail = body.split("\r\n", 2)[2]
        if self._last_body is not None and tail != self._last_body:
            self._version += 1
            sd.origin = "donkey %d %d IN %s %s" % (
                self._sess_id,
                self._version,
                _addrtype(self.local_ip),
                self.local_ip,
            )
            body = sd.to_text()
        self._last_body = tail
        return body

    def make_offer(self, direction: str = SENDRECV, zero_connection_hold: bool = False) -> str:
        """Our offer; ``direction='sendonly'`` puts the peer on hold.

        ``zero_connection_hold`` additionally uses ``c=0.0.0.0`` (RFC 2543
        style) for old peers that ignore direction attributes.
        """
        if direction not in DIRECTIONS:
            raise ValueError(direction)
        pts = [c.payload_type for c in self.codecs]
        names = {c.payload_type: c.name for c in self.codecs}
        te = self.dtmf_pt if self.telephone_event else None
        if te is not None:
            pts.append(te)
        conn = "0.0.0.0" if zero_connection_hold and direction != SENDRECV else self.local_ip
        sd = SessionDescription(
            name="donkey", connection=conn, media=[self._media(pts, names, direction, te)]
        )
        self._offered_direction = direction
        return self._render(sd)

    def make_answer(
        self, offer: str | SessionDescription, direction: str = SENDRECV
    ) -> tuple[str, Negotiated]:
        """Answer a peer's offer; raises :class:`UnsupportedOffer` (→ 488)."""
        sd = offer if isinstance(offer, SessionDescription) else SessionDescription.parse(offer)
        if direction not in DIRECTIONS:
            raise ValueError(direction)
        chosen: tuple[MediaDescription, Codec, int] | None = None
        answer_media: list[MediaDescription] = []
        negotiated: Negotiated | None = None
        for m in sd.media:
            ok = (
                chosen is None
                and m.media == "audio"
                and m.port != 0
                and m.proto.upper() in ("RTP/AVP", "RTP/AVPF")
            )
            codec = pt = None
            if ok:
                rtpmap = m.rtpmap()
                for cand in m.payload_types():
                    c = _codec_for(m, cand, rtpmap)
                    if c is not None and c in self.codecs:
                        codec, pt = c, cand
                        break
            if codec is None or pt is None:
                # RFC 3264 6: reject a stream by answering it with port 0.
                answer_media.append(MediaDescription(m.media, 0, m.proto, m.formats[:1] or ["0"]))
                continue
            chosen = (m, codec, pt)
            te = _te_pt(m, rtpmap) if self.telephone_event else None
            conn = sd.media_connection(m)
            peer_send, peer_recv = _dir_caps(sd.media_direction(m))
            if is_null_address(conn):
                peer_recv = False
            want_send, want_recv = _dir_caps(direction)
            ours = _caps_dir(want_send and peer_recv, want_recv and peer_send)
            pts = [pt] + ([te] if te is not None else [])
            answer_media.append(self._media(pts, {pt: codec.name}, ours, te))
            remote = None if (conn is None or is_null_address(conn)) else (conn, m.port)
            negotiated = Negotiated(codec, pt, te, remote, ours, PTIME)
        if negotiated is None:
            offered = ", ".join(" ".join(m.formats) for m in sd.media if m.media == "audio")
            raise UnsupportedOffer(
                "no supported audio codec in offer (formats: %s)" % (offered or "none")
            )
        answer = SessionDescription(name="donkey", connection=self.local_ip, media=answer_media)
        self.negotiated = negotiated
        return self._render(answer), negotiated

    def apply_answer(self, answer: str | SessionDescription) -> Negotiated:
        """Take the peer's answer to our last offer; raises on no common codec."""
        sd = answer if isinstance(answer, SessionDescription) else SessionDescription.parse(answer)
        for m in sd.media:
            if m.media != "audio" or m.port == 0:
                continue
            rtpmap = m.rtpmap()
            for cand in m.payload_types():
                c = _codec_for(m, cand, rtpmap)
                if c is None or c not in self.codecs:
                    continue
                te = _te_pt(m, rtpmap) if self.telephone_event else None
                conn = sd.media_connection(m)
                peer_send, peer_recv = _dir_caps(sd.media_direction(m))
                if is_null_address(conn):
                    peer_recv = False
                want_send, want_recv = _dir_caps(self._offered_direction)
                ours = _caps_dir(want_send and peer_recv, want_recv and peer_send)
                remote = None if (conn is None or is_null_address(conn)) else (conn, m.port)
                self.negotiated = Negotiated(c, cand, te, remote, ours, PTIME)
                return self.negotiated
        raise UnsupportedOffer("answer has no audio codec we offered")


__all__ = [
    "SdpError",
    "UnsupportedOffer",
    "MediaDescription",
    "SessionDescription",
    "Negotiated",
    "SdpNegotiator",
    "parse",
    "is_ip_literal",
    "MAX_SDP_BYTES",
    "MAX_SDP_LINES",
    "MAX_MEDIA",
    "SENDRECV",
    "SENDONLY",
    "RECVONLY",
    "INACTIVE",
]
