"""The peer's side of a call leg: what sippy and the network report.

:class:`PeerSide` is the base of :class:`~donkey.sip.leg.CallLeg`.  It owns
the dialog state that only the network changes (connected, ended, the last
response, a pending BYE or CANCEL, the SDP of both ends) and turns what the
:class:`~donkey.sip.ua.LegUA` and :class:`~donkey.sip.in_dialog.InDialogRequests`
report into listener callbacks.  It implements their owner Protocols
(:class:`~donkey.sip.ua.UaOwner`, :class:`~donkey.sip.in_dialog.RequestOwner`)
and drives the leg's :class:`~donkey.sip.session_timer.SessionTimer`.
The app's side (ring, accept, bye...) is in :mod:`donkey.sip.leg`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.logger import Logger

from donkey.sip.clock import Clock
from donkey.sip.headers import SipHeaders, capability_headers
from donkey.sip.host import LegHost
from donkey.sip.in_dialog import InDialogRequests, reply_info, respond
from donkey.sip.session_timer import SessionTimer
from donkey.sip.ua import LegUA, SippyAnswer, sip_body

if TYPE_CHECKING:
    from donkey.sip.leg import CallLeg

log = Logger(namespace="donkey.sip.leg")


class PeerSide:
    """Dialog state and the network-to-app half of a leg (module docstring)."""

    def __init__(self, host: LegHost, direction: str, listener: Any = None) -> None:
        self.host = host
        self.direction = direction
        #: the :class:`CallListener` (methods it lacks are skipped)
        self.listener: Any = listener
        self.ua: LegUA | None = None
        self.timer = SessionTimer(
            host.session_timer, host.clock, self._refresh_session, self._session_expired
        )
        self._requests = InDialogRequests(self, host)
        self._ended = False
        self._bye_req: Any = None
        self._cancel_req: Any = None
        self._last_resp: Any = None
        self._got_ack = False
        self._in_response = 0
        self._no_ack = False
        self.connected = False
        self.terminated = False
        self.local_sdp: str | None = None
        # sippy forgets the offer when a body-less ACK arrives; keep our own
        self._remote_sdp: str | None = None
        self._reinvite_kind: str | None = None  # 'app' | 'refresh'
        self._suppress_disconnect = False

    @property
    def ended(self) -> bool:
        """True once the call is over for the app (BYE/CANCEL/failure)."""
        return self._ended

    @ended.setter
    def ended(self, value: bool) -> None:
        if value and not self._ended:
            self._ended = True
            self.timer.close()
            self.host.leg_ended(self._leg)

    if TYPE_CHECKING:
        # the app's side, defined by CallLeg

        @property
        def callid(self) -> str: ...

        def reply(self, code: int, reason: str, headers: str = "") -> None: ...

        def bye(self, headers: str = "") -> None: ...

    @property
    def _leg(self) -> CallLeg:
        """This object as the CallLeg it is (PeerSide is only ever a base)."""
        return cast("CallLeg", self)

    # -- InDialogRequests' owner ------------------------
    @property
    def listening(self) -> bool:
        """True while a listener is attached."""
        return self.listener is not None

    def notify(self, name: str, *args: Any) -> Any:
        """Call the listener's *name*; a missing method or a failure gives None."""
        fn = getattr(self.listener, name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception:
            log.failure("{call_id}: listener.{name} failed", call_id=self.callid, name=name)
            return None

    def update_reply_headers(self) -> str:
        """Session-timer headers our final reply to an UPDATE must carry."""
        return self.timer.response_headers()

    def remote_gone(self, code: int, reason: str) -> None:
        """A request of ours got 408/481: tell the app, end the dialog quietly."""
        if self.ended:
            return
        self._ended_remote(code, reason)
        self._suppress_disconnect = True
        if self.ua is not None:
            self.ua.disconnect()

    def _ended_remote(self, code: int, reason: str) -> None:
        self.ended = True
        self.notify("on_remote_disappeared", code, reason)

    # -- LegUA's owner -------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The host's clock (sippy's deferred work runs there too)."""
        return self.host.clock

    def ua_invited(self) -> None:
        """Find the app for a new INVITE and tell it; 500 if there is none."""
        if self.listener is None:
            listener = self.host.listener_for(self._leg)
            if listener is not None:
                self.listener = listener
        if self.listener is None:
            # the factory may already have answered (404, 503...)
            if not self.ended:
                self.reply(500, "Server Internal Error")
            return
        self.notify("on_invite", self._leg)

    def ua_ringing(self, code: int, reason: str, sdp: str | None) -> None:
        if sdp is not None:
            self._remote_sdp = sdp
        if code <= 100:
            return
        self.notify("on_ringing", code, reason, sdp is not None)
        if sdp is not None:
            self.notify("on_early", sdp)

    def ua_connected(self, code: Any, reason: str, sdp: str | None) -> None:
        if sdp is not None:
            self._remote_sdp = sdp
        if not self.connected:
            self.connected = True
            if self.direction == "in":
                self._got_ack = True
            elif self._last_resp is not None:
                self.timer.outbound(SipHeaders.from_msg(self._last_resp))
            self.timer.start()
            self.host.leg_connected(self._leg)
            self.notify("on_connected", sdp)
            return
        # 2xx to our re-INVITE
        kind, self._reinvite_kind = self._reinvite_kind, None
        if self._last_resp is not None and self.timer.state is not None:
            self.timer.refreshed(SipHeaders.from_msg(self._last_resp))
        if kind == "app":
            code = code if isinstance(code, int) else 200
            self.notify("on_reply", code, reason, reply_info(200, reason, self._last_resp))

    def ua_offer(self, sdp: str | None) -> None:
        if sdp is not None:
            self._remote_sdp = sdp
        ua = self.ua
        if ua is None:
            return
        answer = self.notify("on_reinvite", sdp)
        if answer is None:
            ua.refuse_offer()
            return
        self.local_sdp = answer
        ua.answer_offer(answer)

    def ua_failed(self, code: int, reason: str) -> None:
        if self.connected:
            # failed re-INVITE (ours)
            kind, self._reinvite_kind = self._reinvite_kind, None
            if code in (408, 481):
                self._suppress_disconnect = True
                self._ended_remote(code, reason)
            elif kind == "app":
                self.notify("on_reply", code, reason, reply_info(code, reason, self._last_resp))
            return
        self.ended = True
        self.notify("on_failed", code, reason)

    def ua_disconnected(self) -> None:
        if self._suppress_disconnect:
            return
        self._suppress_disconnect = True
        self.ended = True
        if self._no_ack:
            self.notify("on_remote_disappeared", 408, "No ACK")
            return
        bye, self._bye_req = self._bye_req, None
        if bye is not None:
            self.notify("on_hangup", SipHeaders.from_msg(bye).raw, False)
            return
        cancel = self._cancel_req
        if cancel is not None:
            hdrs = SipHeaders.from_msg(cancel).raw if cancel is not True else ""
            self.notify("on_hangup", hdrs, True)
            return
        # REFER-initiated or timer-initiated disconnects inside sippy
        self.notify("on_hangup", "", False)

    def ua_request(self, req: Any, sip_t: Any) -> SippyAnswer | None:
        if req.getMethod() == "UPDATE":
            return self._update_received(req)
        return self._requests.receive(req, sip_t)

    def _update_received(self, req: Any) -> SippyAnswer:
        """UPDATE: a session refresh, with SDP also an offer the listener answers."""
        self.timer.peer_refreshed(SipHeaders.from_msg(req))
        user_agent = self.host.user_agent
        body = req.getBody()
        if body is None or body.getType() != "application/sdp":
            return respond(req, user_agent, 200, "OK", self.timer.response_headers())
        offer = str(body)
        answer = self.notify("on_reinvite", offer)
        if answer is None or self.ua is None:
            return respond(req, user_agent, 488, "Not Acceptable Here")
        self.local_sdp = answer
        self._remote_sdp = offer
        self.ua.adopt_update_sdp(body, answer)
        headers = self.timer.response_headers()
        return respond(req, user_agent, 200, "OK", headers, sip_body(answer))

    def ua_bye(self, req: Any) -> None:
        self._bye_req = req

    def ua_reinvite(self, req: Any) -> None:
        # may be a pure refresh that sippy answers without telling us
        self.timer.peer_refreshed(SipHeaders.from_msg(req))

    def ua_cancel(self, req: Any) -> None:
        self._cancel_req = req if req is not None else True

    def ua_no_ack(self) -> None:
        if not self._got_ack:
            self._no_ack = True

    def ua_response(self, resp: Any, done: bool) -> None:
        if done:
            self._in_response -= 1
        else:
            self._last_resp = resp
            self._in_response += 1

    def ua_2xx_headers(self) -> str:
        """``Allow``/``Supported`` and the session-timer headers of our 2xx to an INVITE."""
        return self.capability_headers(self.timer.response_headers())

    def capability_headers(self, extra: str = "") -> str:
        """``Allow`` and ``Supported`` (once: *extra* may bring its own ``Supported: timer``)."""
        caps = capability_headers(self.host.session_timer.enabled)
        if "supported:" in extra.lower():
            caps = "".join(line + "\r\n" for line in caps.split("\r\n") if line.startswith("Allow"))
        return caps + extra

    def ua_dead(self) -> None:
        self.timer.close()
        self._requests.close()
        self.terminated = True
        self.ended = True
        self.host.leg_gone(self._leg)
        self.notify("on_terminated")
        self.ua = None
        self.listener = None

    # -- the session timer's callbacks ---------------------------------------------
    def _refresh_session(self) -> None:
        ua = self.ua
        if ua is None or self.ended or not ua.isConnected():
            return
        headers = self.timer.refresh_headers()
        if self.timer.refresh_with_update():
            ua.request("UPDATE", None, None, headers, self._refresh_replied)
        elif ua.in_connected_state() and self.local_sdp is not None:
            self._reinvite_kind = "refresh"
            offer = self.notify("on_refresh_offer", self.local_sdp)
            if offer is not None:
                self.local_sdp = offer
            ua.reoffer(self.local_sdp, headers)
        else:
            # busy with another re-INVITE: try again shortly
            self.timer.retry()

    def _refresh_replied(self, resp: Any) -> None:
        code, reason = resp.getSCode()
        if code < 200 or self.ended:
            return
        if 200 <= code < 300:
            self.timer.refreshed(SipHeaders.from_msg(resp))
        elif code in (405, 501):
            self.timer.update_refused()
            self._refresh_session()
        elif code in (408, 481):
            self.remote_gone(code, reason)
        else:
            self.timer.start()

    def _session_expired(self) -> None:
        if self.ended:
            return
        log.info("{call_id}: session timer expired", call_id=self.callid)
        self.notify("on_session_timeout")
        self.bye()
