"""B2BUA mode: the callee leg of a DSM call and the bridge between the two legs.

:class:`B2BBridge` is ``session.call.b2b`` of a :class:`~donkey.app.call.DSMCall`
(the caller, the A leg).  ``B2B.connectCallee`` places the B leg, whose
:class:`CalleeLeg` listener turns what B does into the caller session's
``B2B.otherReply``, ``B2B.otherBye`` and ``B2B.otherRequest`` events.

Media follow SEMS (what a packet capture of SEMS shows): B's INVITE carries
A's original offer; once B answers, A is re-INVITEd with B's SDP and A's
answer goes on to B in a re-INVITE, so the RTP flows end to end and donkey
sends none.  A caller that was not answered yet gets B's SDP in its 200
instead.  In RTP-relay mode (``dlg.connectCalleeRelayed``) B is offered a
second port of donkey's and :class:`~donkey.media.relay.RtpRelay` forwards
the packets, so the script can still record the call.

A BYE from either side ends the other (``set(#processed=true)`` in
``B2B.otherBye`` keeps the caller, to be reconnected to donkey's media with
``B2B.sendReinvite(true)``); the caller's CANCEL or BYE while B rings
cancels B.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from donkey.dsm import events as ev
from donkey.dsm.core.b2b import OTHER_BYE, OTHER_REPLY, OTHER_REQUEST, InviteHeaders
from donkey.dsm.events import Event
from donkey.dsm.session import new_tag
from donkey.media.relay import RtpRelay
from donkey.media.sdp_text import bump_sdp_version
from donkey.media.session import MediaSession
from donkey.sip.leg import CallLeg

if TYPE_CHECKING:  # pragma: no cover
    from donkey.app.call import DSMCall

log = Logger(namespace="donkey.app.b2b")


def _media_lines(sdp: str | None) -> list[str]:
    """The lines of an SDP that matter to the far end (not its ``o=`` version)."""
    return [line.strip() for line in (sdp or "").splitlines() if line[:2] not in ("o=", "")]


class CalleeLeg:
    """The B leg: a SIP call donkey placed for a B2B caller, and its listener."""

    def __init__(self, bridge: B2BBridge, ltag: str, relayed_invite: bool) -> None:
        self.bridge = bridge
        self.ltag = ltag
        self.relayed_invite = relayed_invite
        self.leg: CallLeg | None = None
        self.media: MediaSession | None = None  # RTP-relay mode: donkey's side facing B
        self.connected = False
        self.ended = False
        self._ring: tuple[int, str] = (183, "Session Progress")

    @property
    def callid(self) -> str:
        return self.leg.callid if self.leg is not None else ""

    def hang_up(self, headers: str = "") -> None:
        """BYE when answered, CANCEL while ringing."""
        self.ended = True
        if self.leg is not None:
            self.leg.bye(headers)

    def close(self) -> None:
        if self.media is not None:
            media, self.media = self.media, None
            media.close()

    # -- CallListener ----------------------------------------------------------
    def on_ringing(self, code: int, reason: str, has_body: bool) -> None:
        self._ring = (code, reason)
        self.bridge.other_reply(self, code, reason, "")
        if not has_body:
            self.bridge.relay_ringing(self, code, reason, None)

    def on_early(self, sdp: str) -> None:
        code, reason = self._ring
        self.bridge.relay_ringing(self, code, reason, sdp)

    def on_connected(self, sdp: str | None) -> None:
        self.connected = True
        self.bridge.other_reply(self, 200, "OK", "")
        self.bridge.callee_answered(self, sdp)

    def on_failed(self, code: int, reason: str) -> None:
        self.ended = True
        self.bridge.other_reply(self, code, reason, "")
        self.bridge.callee_failed(self, code, reason)

    def on_hangup(self, headers: str, by_cancel: bool) -> None:
        self.ended = True
        self.bridge.other_bye(self, headers)

    def on_remote_disappeared(self, code: int, reason: str) -> None:
        self.ended = True
        self.bridge.other_bye(self, "")

    def on_reinvite(self, sdp: str | None) -> str | None:
        return self.bridge.callee_reoffer(self, sdp)

    def on_refresh_offer(self, sdp: str) -> str:
        return bump_sdp_version(sdp)

    def on_request(self, method: str, info: dict[str, Any]) -> bool:
        self.bridge.other_request(self, method, info)
        return False

    def on_reply(self, code: int, reason: str, info: dict[str, Any]) -> None:
        """The answer to a re-INVITE of ours: B has the caller's SDP now."""

    def on_terminated(self) -> None:
        self.ended = True
        self.close()
        self.bridge.callee_gone(self)


class B2BBridge:
    """``session.call.b2b`` of one caller (:class:`~donkey.dsm.protocols.B2BHandle`)."""

    def __init__(self, call: DSMCall) -> None:
        # the call owns its bridge: held weakly, so an ended call is freed by reference counting
        self._call = weakref.ref(call)
        #: A's offer in its initial INVITE: what B's INVITE carries (direct mode)
        self.caller_offer: str | None = call.leg.remote_sdp
        self._headers = InviteHeaders()
        self.callee: CalleeLeg | None = None
        self.relay: RtpRelay | None = None
        self.early_media_relay = False
        self.relay_only = False
        # what a re-INVITE of A we sent is for: "bridge" (pass A's answer to B), "own"
        self._reinvite: str | None = None

    @property
    def call(self) -> DSMCall:
        """The caller leg; a bridge outliving its call is a bug (ReferenceError)."""
        call = self._call()
        if call is None:
            raise ReferenceError("the B2B bridge's call is gone")
        return call

    @property
    def alive(self) -> bool:
        """False once the call is gone: what the B leg still reports is dropped."""
        return self._call() is not None

    # -- B2BHandle -----------------------------------------------------------
    @property
    def other_id(self) -> str:
        callee = self.callee
        return callee.ltag if callee is not None and not callee.ended else ""

    @property
    def rtp_relay_mode(self) -> str:
        return "RTP_Relay" if self.callee is not None and self.callee.media else "RTP_Direct"

    @property
    def headers(self) -> str:
        return self._headers.text

    def add_header(self, header: str) -> None:
        self._headers.add(header)

    def remove_header(self, name: str) -> None:
        self._headers.remove(name)

    def clear_headers(self) -> None:
        self._headers.clear()

    def set_headers(self, headers: str, replace_crlf: bool = False) -> None:
        self._headers.set(headers, replace_crlf)

    def set_early_media_relay(self, enabled: bool) -> None:
        self.early_media_relay = enabled

    def set_relay_only(self, enabled: bool) -> None:
        self.relay_only = enabled

    def connect_callee(
        self,
        remote_party: str,
        remote_uri: str,
        *,
        local_party: str = "",
        local_uri: str = "",
        auth_user: str = "",
        auth_pwd: str = "",
        callid: str = "",
        relayed_invite: bool = False,
        rtp_relay: bool = False,
    ) -> None:
        call = self.call
        stack = call.controller.stack
        if stack is None:
            raise RuntimeError("no SIP stack to place the B leg with")
        self.terminate_other_leg()
        self.relay_only = relayed_invite
        callee = CalleeLeg(self, new_tag(), relayed_invite)
        if rtp_relay:
            callee.media = call.controller.new_media()
            offer: str | None = callee.media.offer()
        else:
            offer = self.caller_offer
        from_hdr = local_party or call.leg.remote_party or local_uri
        try:
            callee.leg = stack.dial(
                from_hdr,
                remote_party or f"<{remote_uri}>",
                remote_uri,
                offer,
                local_tag=callee.ltag,
                auth_user=auth_user or None,
                auth_pwd=auth_pwd or None,
                headers=self._headers.text,
                listener=callee,
                callid=callid or None,
            )
        except Exception:
            callee.close()
            raise
        self.callee = callee
        log.info(
            "{ltag}: B leg {other} to {uri}",
            ltag=call.session.ltag,
            other=callee.ltag,
            uri=remote_uri,
        )

    def terminate_other_leg(self) -> None:
        callee, self.callee = self.callee, None
        self._stop_relay()
        if callee is not None and not callee.ended:
            callee.hang_up()

    def send_reinvite(self, generate_sdp: bool, headers: str = "") -> None:
        call = self.call
        if generate_sdp:
            self._stop_relay()
            sdp = call.media.offer()
            self._reinvite = "own"
        else:
            sdp = call.leg.local_sdp or ""
            self._reinvite = None
        call.leg.reinvite(sdp, headers)

    def relay_event(self, params: Mapping[str, str]) -> bool:
        other = self.other_session()
        if other is None or other.ended:
            return False
        other.post(Event(ev.B2B_EVENT, dict(params)))
        return True

    # -- the other leg's session -----------------------------------------------
    def other_session(self) -> Any:
        """The DSM session on the other side of the bridge, if one runs there.

        A B leg dialled back into this daemon is answered by a session of
        its own (same Call-ID): that session and this one are each other's
        other leg.  A B leg to anywhere else runs no DSM.
        """
        calls = self.call.controller.calls.values()
        callee = self.callee
        if callee is not None and not callee.ended and callee.callid:
            for other in calls:
                if other is not self.call and other.leg.direction == "in":
                    if other.callid == callee.callid:
                        return other.session
        mine = self.call.callid
        for other in calls:
            bridge = other.b2b
            if other is not self.call and bridge.callee is not None:
                if not bridge.callee.ended and bridge.callee.callid == mine:
                    return other.session
        return None

    # -- what the B leg reports ------------------------------------------------
    def _current(self, callee: CalleeLeg) -> bool:
        return callee is self.callee and self.alive and not self.call.session.ended

    def other_reply(self, callee: CalleeLeg, code: int, reason: str, hdrs: str) -> None:
        if self._current(callee):
            self.call.session.post(
                Event(OTHER_REPLY, {"code": str(code), "reason": reason, "hdrs": hdrs})
            )

    def relay_ringing(self, callee: CalleeLeg, code: int, reason: str, sdp: str | None) -> None:
        """B's 1xx: to a caller not yet answered in relayed INVITE mode; its SDP if enabled."""
        if not self._current(callee):
            return
        call = self.call
        relay_sdp = sdp is not None and (self.early_media_relay or self.relay_only)
        if call.accepted:
            if relay_sdp and callee.media is None:
                call.media.disconnect()
                self._reinvite = None
                call.leg.reinvite(sdp or "")
            return
        if self.relay_only or relay_sdp:
            if relay_sdp and callee.media is None:
                call.media.disconnect()
                call.leg.ring(code, reason, sdp)
                call.replied = call.accepted = True
            else:
                call.leg.ring(code, reason, None)
                call.replied = True

    def callee_answered(self, callee: CalleeLeg, sdp: str | None) -> None:
        if not self._current(callee):
            return
        call = self.call
        if callee.media is not None:
            self._answer_relayed(callee, sdp)
            return
        call.media.disconnect()  # from now on RTP flows between A and B
        answered = call.final_code is not None and 200 <= call.final_code < 300
        if call.accepted and call.leg.connected:
            self._reinvite = "bridge"
            call.leg.reinvite(sdp or "")
        elif answered and not call.leg.ended:
            # A has our 200 but its ACK is not in yet: no re-INVITE can go before it
            # (sippy would drop it), so it goes when the ACK arrives (caller_confirmed)
            self._bridge_after_ack = sdp or ""
        elif call.leg.connected or call.leg.ended:
            return
        else:
            call.leg.accept(200, "OK", sdp)
            call.replied = call.accepted = True

    def _answer_relayed(self, callee: CalleeLeg, sdp: str | None) -> None:
        """RTP-relay mode: B answered donkey's own offer; forward between the two ports."""
        call = self.call
        media = callee.media
        assert media is not None
        if sdp:
            try:
                media.apply_answer(sdp)
            except Exception as e:
                log.warn("{ltag}: unusable SDP from B: {e}", ltag=call.session.ltag, e=str(e))
        if not call.accepted and not call.leg.connected:
            call.accept_invite(200, "OK")
        self.relay = RtpRelay(call.media, media)
        self.relay.start()

    def callee_failed(self, callee: CalleeLeg, code: int, reason: str) -> None:
        if callee is not self.callee or not self.alive:
            return
        self.callee = None
        callee.close()
        call = self.call
        if self.relay_only and not call.replied and not call.session.ended:
            call.reply(code, reason)

    def other_bye(self, callee: CalleeLeg, hdrs: str) -> None:
        """B hung up: ``B2B.otherBye``; unless the script handles it the caller gets BYE."""
        if not self._current(callee):
            return
        self.callee = None
        self._stop_relay()
        session = self.call.session
        event = Event(OTHER_BYE, {"hdrs": hdrs})
        session.post(event)

        def default() -> None:
            if (event.params or {}).get("processed") != "true" and not session.stopped:
                session.stop(True)

        session.when_idle(default)

    def other_request(self, callee: CalleeLeg, method: str, info: Mapping[str, Any]) -> None:
        if self._current(callee):
            params = {k: str(v) for k, v in info.items()}
            params["method"] = method
            self.call.session.post(Event(OTHER_REQUEST, params))

    def callee_reoffer(self, callee: CalleeLeg, sdp: str | None) -> str | None:
        """B re-INVITEs: answered with the caller's SDP (direct) or donkey's (relay)."""
        if not self.alive:
            return None
        if callee.media is not None:
            if not sdp:
                return callee.media.offer()
            try:
                return callee.media.answer(sdp)
            except Exception:
                return None
        return self.call.leg.remote_sdp

    def callee_gone(self, callee: CalleeLeg) -> None:
        if callee is self.callee and callee.ended and not callee.connected:
            self.callee = None

    # -- what the caller leg reports (hooks of DSMCall) --------------------------
    def caller_reply(self, code: int, reason: str) -> bool:
        """A answered a re-INVITE of ours; True when it was the bridge's own."""
        kind, self._reinvite = self._reinvite, None
        if kind is None:
            return False
        call = self.call
        if kind == "bridge":
            callee = self.callee
            if 200 <= code < 300 and callee is not None and callee.leg is not None:
                answer = call.leg.remote_sdp or ""
                self._last_caller_sdp = answer
                if answer == callee.leg.local_sdp:
                    # what B was offered already: a re-offer of it is its next version
                    # (sippy would not send an unchanged SDP at all)
                    answer = bump_sdp_version(answer)
                callee.leg.reinvite(answer)
        elif kind == "own" and 200 <= code < 300 and call.leg.remote_sdp:
            try:
                call.media.apply_answer(call.leg.remote_sdp)
            except Exception as e:
                log.warn("{ltag}: unusable SDP answer: {e}", ltag=call.session.ltag, e=str(e))
        return True

    def caller_reoffer(self, sdp: str | None) -> str | None:
        """A re-INVITEs while bridged directly: B's SDP answers it; a new offer goes on to B.

        None: not bridged, donkey's own media answers.
        """
        callee = self.callee
        if callee is None or callee.ended or callee.media is not None or not callee.connected:
            return None
        if callee.leg is None or callee.leg.remote_sdp is None:
            return None
        if sdp and _media_lines(sdp) != _media_lines(self._last_caller_sdp):
            callee.leg.reinvite(sdp)
        self._last_caller_sdp = sdp
        return bump_sdp_version(callee.leg.remote_sdp)

    _last_caller_sdp: str | None = None
    #: B's SDP for A, waiting for A's ACK (B answered between our 200 and that ACK)
    _bridge_after_ack: str | None = None

    def caller_confirmed(self) -> None:
        """A's ACK arrived: send the bridge's re-INVITE if B answered before it."""
        sdp, self._bridge_after_ack = self._bridge_after_ack, None
        callee = self.callee
        if sdp is None or not self.alive or callee is None or callee.ended:
            return
        self._reinvite = "bridge"
        self.call.leg.reinvite(sdp)

    def caller_gone(self, headers: str) -> None:
        """A's BYE (or CANCEL) goes on to B: BYE end to end, or CANCEL while B rings."""
        callee, self.callee = self.callee, None
        self._stop_relay()
        if callee is not None and not callee.ended:
            callee.hang_up(headers)

    def close(self) -> None:
        """The caller's session ended: the B leg goes with it."""
        self.terminate_other_leg()

    def _stop_relay(self) -> None:
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.stop()
