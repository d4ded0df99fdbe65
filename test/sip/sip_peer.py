"""An in-memory SIP peer for driving a :class:`SipStack` on a fake reactor.

The stack runs on :class:`FakeSipReactor` (``MemoryReactorClock`` whose
adopted datagram port records what it writes), so sippy's transaction layer
and every timer run on ``task.Clock`` time and no packet leaves the process.
:class:`SipPeer` writes requests as text and reads what the stack sent.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.testing import MemoryReactorClock

PEER_ADDR = ("127.0.0.1", 5099)

SDP = (
    "v=0\r\n"
    "o=peer 2000 2000 IN IP4 127.0.0.1\r\n"
    "s=peer\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 41000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=sendrecv\r\n"
)


class RecordingPort:
    """The adopted UDP port: keeps every datagram the stack writes."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.written: list[tuple[bytes, tuple[str, int]]] = []
        self.listening = True

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.written.append((data, addr))

    def stopListening(self) -> None:
        self.listening = False


class FakeSipReactor(MemoryReactorClock):
    """A Clock-driven reactor whose adopted datagram ports record writes."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[RecordingPort] = []

    def adoptDatagramPort(self, fileno, addressFamily, protocol, maxPacketSize=8192):
        port = RecordingPort(protocol)
        self.ports.append(port)
        return port


class SipMessage:
    """A message the stack sent, parsed just enough for assertions."""

    def __init__(self, text: str) -> None:
        self.text = text
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))

    @property
    def code(self) -> int | None:
        """Status code of a response (None for a request)."""
        if self.first.startswith("SIP/2.0 "):
            return int(self.first.split()[1])
        return None

    @property
    def method(self) -> str:
        """Request method, or the CSeq method of a response."""
        if self.code is None:
            return self.first.split()[0]
        return self["cseq"].split()[1]

    def __getitem__(self, name: str) -> str:
        for n, v in self.headers:
            if n == name.lower():
                return v
        raise KeyError(name)

    def get(self, name: str, default: str = "") -> str:
        try:
            return self[name]
        except KeyError:
            return default

    def __repr__(self) -> str:
        return "<SipMessage %s>" % self.first


class SipPeer:
    """The far end of one call, speaking to the stack's fake port."""

    def __init__(self, reactor: FakeSipReactor, stack_port: int) -> None:
        self.port = reactor.ports[-1]
        self.stack_port = stack_port
        self.call_id = "leg-test@127.0.0.1"
        self.from_tag = "peer-tag"
        self.to_tag = ""
        self.cseq = 0
        self._branches = itertools.count(1)
        self._invite_branch = 0
        self._seen = 0

    # -- sending -----------------------------------------------------------------
    def request(
        self, method: str, body: str = "", headers: str = "", cseq: int | None = None
    ) -> None:
        """Send *method* in this call (INVITE first, then in-dialog requests)."""
        if cseq is None:
            if method != "ACK":
                self.cseq += 1
            cseq = self.cseq
        if method == "CANCEL":
            branch = self._invite_branch  # a CANCEL matches its INVITE's transaction
        else:
            branch = next(self._branches)
            if method == "INVITE" and not self.to_tag:
                self._invite_branch = branch
        to = "<sip:service@127.0.0.1:%d>" % self.stack_port
        if self.to_tag:
            to += ";tag=" + self.to_tag
        ctype = (
            "Content-Type: application/sdp\r\n" if body and "Content-Type" not in headers else ""
        )
        text = (
            "%s sip:service@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-peer-%d\r\n"
            'From: "peer" <sip:peer@127.0.0.1:%d>;tag=%s\r\n'
            "To: %s\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d %s\r\n"
            "Contact: <sip:peer@127.0.0.1:%d>\r\n"
            "Max-Forwards: 70\r\n"
            "%s%s"
            "Content-Length: %d\r\n\r\n%s"
        ) % (
            method,
            self.stack_port,
            PEER_ADDR[0],
            PEER_ADDR[1],
            branch,
            PEER_ADDR[1],
            self.from_tag,
            to,
            self.call_id,
            cseq,
            method,
            PEER_ADDR[1],
            headers,
            ctype,
            len(body.encode()),
            body,
        )
        self.port.protocol.datagramReceived(text.encode(), PEER_ADDR)

    def reply(self, req: SipMessage, code: int, reason: str, headers: str = "") -> None:
        """Answer a request the stack sent us."""
        to = req["to"]
        if ";tag=" not in to:
            to += ";tag=" + self.from_tag
        text = (
            "SIP/2.0 %d %s\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
            "%sContent-Length: 0\r\n\r\n"
        ) % (code, reason, req["via"], req["from"], to, req["call-id"], req["cseq"], headers)
        self.port.protocol.datagramReceived(text.encode(), PEER_ADDR)

    # -- receiving ---------------------------------------------------------------
    def received(self) -> list[SipMessage]:
        """Everything the stack sent us so far."""
        return [SipMessage(d.decode()) for d, addr in self.port.written if addr == PEER_ADDR]

    def new(self) -> list[SipMessage]:
        """What the stack sent since the last call of :meth:`new`."""
        msgs = self.received()
        fresh, self._seen = msgs[self._seen :], len(msgs)
        return fresh

    def last_final(self, method: str) -> SipMessage | None:
        """The latest final response to our *method*, remembering the dialog's To tag."""
        for msg in reversed(self.received()):
            if msg.code is not None and msg.code >= 200 and msg.method == method:
                if method == "INVITE" and ";tag=" in msg["to"]:
                    self.to_tag = msg["to"].split(";tag=")[1].split(";")[0]
                return msg
        return None

    def requests(self, method: str) -> list[SipMessage]:
        """Requests of *method* the stack sent us."""
        return [m for m in self.received() if m.code is None and m.method == method]
