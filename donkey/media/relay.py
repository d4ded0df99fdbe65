"""RTP relay mode: donkey forwards the packets of a bridged call between two ports.

In SEMS's RTP-relay B2B mode the media of both legs pass through the
B2BUA.  :class:`RtpRelay` joins two :class:`~donkey.media.session.MediaSession`
objects: every packet one side's socket receives is sent on by the other's
(payload, payload type, marker and timestamp unchanged; sequence number and
SSRC those of the sending socket, so each far end sees one continuous
stream).  The received packets still reach their own session too, so a
script can record the caller (``recordFile``) or detect its DTMF while the
call is bridged; the sessions' own sending is muted for as long as the relay
runs.  A recording of the caller's session so holds what A says, not B
(B's packets reach the session facing B).  SEMS's own relay hands a relayed
packet on without buffering it for the session, so there a recording gets
none of the relayed audio; keeping it is what the relay mode is for here.
"""

from __future__ import annotations

from donkey.media.rtp import PacketHandler
from donkey.media.session import MediaSession


class RtpRelay:
    """Forward RTP between ``a`` and ``b`` until :meth:`stop`."""

    def __init__(self, a: MediaSession, b: MediaSession) -> None:
        self.a = a
        self.b = b
        self.forwarded = {"a_to_b": 0, "b_to_a": 0}
        self._saved: tuple[PacketHandler, PacketHandler] | None = None
        self._was_muted = (False, False)

    @property
    def running(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        if self._saved is not None:
            return
        a, b = self.a, self.b
        self._saved = (a.rtp.handler, b.rtp.handler)
        self._was_muted = (a.muted, b.muted)
        a.mute()
        b.mute()
        a.rtp.handler = self._forwarder(a.rtp.handler, b, "a_to_b")
        b.rtp.handler = self._forwarder(b.rtp.handler, a, "b_to_a")

    def _forwarder(self, own: PacketHandler, to: MediaSession, counter: str) -> PacketHandler:
        send = to.rtp.send
        counts = self.forwarded

        def handle(pt: int, marker: bool, seq: int, ts: int, payload: bytes) -> None:
            if not to.closed:
                send(pt, marker, ts, payload)
                counts[counter] += 1
            own(pt, marker, seq, ts, payload)

        return handle

    def stop(self) -> None:
        """Give both sockets back to their sessions (and their own sending)."""
        saved, self._saved = self._saved, None
        if saved is None:
            return
        a, b = self.a, self.b
        if not a.closed:
            a.rtp.handler = saved[0]
            if not self._was_muted[0]:
                a.unmute()
        if not b.closed:
            b.rtp.handler = saved[1]
            if not self._was_muted[1]:
                b.unmute()
