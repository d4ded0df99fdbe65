"""What a call leg reports to: :class:`CallListener`.

A listener is the app side of one leg (the DSM call, a test recorder, a
benchmark).  Every method is optional in practice: the leg skips the ones a
listener lacks, and a listener that raises is logged, never fatal to the
call.  The leg never makes up SDP: it asks the listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from donkey.sip.leg import CallLeg


class CallListener(Protocol):
    """What a :class:`~donkey.sip.leg.CallLeg` reports to (module docstring)."""

    def on_invite(self, leg: CallLeg) -> None:
        """New inbound call; reply with ring/accept/reply now or later."""

    def on_ringing(self, code: int, reason: str, has_body: bool) -> None:
        """Outbound call got a 1xx (> 100)."""

    def on_early(self, sdp: str) -> None:
        """Outbound call got early media SDP in a 1xx."""

    def on_connected(self, sdp: str | None) -> None:
        """UAC got 2xx (sdp = answer) / UAS got the ACK (sdp if any)."""

    def on_failed(self, code: int, reason: str) -> None:
        """Outbound call ended with a final non-2xx (or timed out)."""

    def on_hangup(self, headers: str, by_cancel: bool) -> None:
        """Peer sent BYE, or CANCEL before we answered."""

    def on_remote_disappeared(self, code: int, reason: str) -> None:
        """In-dialog request got 408/481, or the ACK never came."""

    def on_session_timeout(self) -> None:
        """RFC 4028 session expired without refresh; the leg then sends BYE."""

    def on_reinvite(self, sdp: str | None) -> str | None:
        """Peer re-INVITE/UPDATE (offer or None); return the answer, None refuses with 488."""

    def on_refresh_offer(self, sdp: str) -> str | None:
        """We refresh the session with a re-INVITE; return its offer (None: *sdp* as it is)."""

    def on_request(self, method: str, info: dict[str, Any]) -> bool:
        """In-dialog request; return True to answer it later with reply_request()."""

    def on_reply(self, code: int, reason: str, info: dict[str, Any]) -> None:
        """Final reply to a request the app sent (send_request/refer/reinvite)."""

    def on_info_dtmf(self, key: int, duration_ms: int) -> None:
        """DTMF received via SIP INFO (application/dtmf-relay or dtmf)."""

    def on_terminated(self) -> None:
        """The leg is gone for good (all retransmission windows closed)."""
