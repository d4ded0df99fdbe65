"""One SIP call leg (dialog + INVITE usage) in SEMS' vocabulary.

The DSM session layer wants "ring", "accept", "bye" and callbacks such as
``on_invite``, ``on_hangup``, ``on_request``, not sippy's ``UA`` and
``CCEvent`` objects.  :class:`CallLeg` is that API; it is made of parts that
each do one thing:

* :class:`~donkey.sip.ua.LegUA` speaks to sippy and reports in plain calls;
* :class:`~donkey.sip.in_dialog.InDialogRequests` answers and sends the
  in-dialog requests sippy does not know (INFO, NOTIFY, MESSAGE, REFER);
* :class:`~donkey.sip.session_timer.SessionTimer` keeps the RFC 4028 clock.

What the leg needs from the stack is :class:`LegHost`.  The leg never makes
up SDP: answers to re-INVITE/UPDATE offers and session-refresh offers come
from the listener.  Everything runs on the reactor thread; sippy calls back
synchronously.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from twisted.logger import Logger

from donkey.sip.headers import SipHeaders, split_headers
from donkey.sip.host import LegHost
from donkey.sip.in_dialog import respond
from donkey.sip.listener import CallListener
from donkey.sip.peer import PeerSide
from donkey.sip.session_timer import SessionTimerState, uac_request_headers
from donkey.sip.ua import LegUA, SippyAnswer, next_hop_of

__all__ = ["CallLeg", "CallListener", "LegHost"]

log = Logger(namespace="donkey.sip.leg")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _after_sippy(
    method: Callable[Concatenate[CallLeg, _P], _R],
) -> Callable[Concatenate[CallLeg, _P], _R | None]:
    """Run an app action later if called from inside sippy's response handling.

    sippy's transaction layer sends the ACK for a 2xx only after the UA's
    callbacks return; a BYE issued from ``on_connected`` would overtake it.
    """

    @functools.wraps(method)
    def wrapper(self: CallLeg, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        if self._in_response:
            self.host.clock.callLater(0, method, self, *args, **kwargs)
            return None
        return method(self, *args, **kwargs)

    return wrapper


class CallLeg(PeerSide):
    """One call, inbound (UAS) or outbound (UAC).  See module docstring."""

    def __init__(self, host: LegHost, direction: str, listener: Any = None) -> None:
        super().__init__(host, direction, listener)
        self._request_headers: SipHeaders | None = None
        self._ruri = ""
        self._from_hdr = ""
        self._to_hdr = ""
        self._invite: Any = None  # the initial INVITE (inbound)

    # -- construction --------------------------------------------------------------
    @classmethod
    def inbound(cls, host: LegHost, req: Any, sip_t: Any) -> SippyAnswer | None:
        """Take a new INVITE: a leg run through sippy, or a 422 without one."""
        leg = cls(host, "in")
        leg._invite = req
        body = req.getBody()
        leg._remote_sdp = str(body) if body is not None else None
        leg._ruri = str(req.getRURI())
        leg._from_hdr = str(req.getHFBody("from"))
        leg._to_hdr = str(req.getHFBody("to"))
        min_se = leg.timer.inbound(leg.request_headers)
        if min_se is not None:
            return respond(
                req, host.user_agent, 422, "Session Interval Too Small", "Min-SE: %d" % min_se
            )
        ua = leg._make_ua()
        host.leg_started(leg)
        return ua.recvRequest(req, sip_t)

    def _make_ua(self, **kwargs: Any) -> LegUA:
        ua = LegUA(self, self.host.global_config, **kwargs)
        ua.local_ua = self.host.user_agent
        ua.godead_timeout = self.host.linger
        self.ua = ua
        return ua

    @classmethod
    def dial(
        cls,
        host: LegHost,
        from_uri: str,
        to_uri: str,
        ruri: str,
        sdp_offer: str | None,
        local_tag: str | None = None,
        auth_user: str | None = None,
        auth_pwd: str | None = None,
        headers: str = "",
        listener: Any = None,
        callid: str | None = None,
        next_hop: tuple[str, int] | None = None,
    ) -> CallLeg:
        """Place an outbound call; progress is reported to *listener*.

        *next_hop* ``(host, port)`` defaults to the R-URI's host and port.
        """
        leg = cls(host, "out", listener)
        ua = leg._make_ua(
            username=auth_user,
            password=auth_pwd,
            nh_address=tuple(next_hop or next_hop_of(ruri)),
            ltag=local_tag,
        )
        leg._ruri = ruri
        leg.local_sdp = sdp_offer
        extra = split_headers(headers) + split_headers(uac_request_headers(host.session_timer))
        host.leg_started(leg)
        ua.place_call(from_uri, to_uri, ruri, sdp_offer, callid, extra)
        if ua.lUri is not None:
            leg._from_hdr = str(ua.lUri)
            leg._to_hdr = str(ua.rUri)
        return leg

    # -- what the DSM layer selects on ---------------------------------------------
    @property
    def callid(self) -> str:
        """The dialog's Call-ID ("" once the leg is gone)."""
        return str(self.ua.cId) if self.ua is not None and self.ua.cId is not None else ""

    @property
    def local_tag(self) -> str:
        return (self.ua.lTag or "") if self.ua is not None else ""

    @property
    def remote_tag(self) -> str:
        if self.ua is None or self.ua.rUri is None:
            return ""
        return self.ua.rUri.getTag() or ""

    @property
    def user(self) -> str:
        """The called user (inbound: the R-URI's; outbound: our From's)."""
        if self.direction == "in" and self._invite is not None:
            return self._invite.getRURI().username or ""
        u = self.ua.url("lUri") if self.ua is not None else None
        return (u.username or "") if u is not None else ""

    @property
    def domain(self) -> str:
        if self.direction == "in" and self._invite is not None:
            return str(self._invite.getRURI().host or "")
        u = self.ua.url("lUri") if self.ua is not None else None
        return str(u.host or "") if u is not None else ""

    @property
    def local_uri(self) -> str:
        u = self.ua.url("lUri") if self.ua is not None else None
        return str(u) if u is not None else ""

    @property
    def remote_uri(self) -> str:
        u = self.ua.url("rUri") if self.ua is not None else None
        return str(u) if u is not None else ""

    @property
    def local_party(self) -> str:
        return self.ua.party("lUri") if self.ua is not None else ""

    @property
    def remote_party(self) -> str:
        return self.ua.party("rUri") if self.ua is not None else ""

    @property
    def ruri(self) -> str:
        return self._ruri

    @property
    def from_hdr(self) -> str:
        return self._from_hdr

    @property
    def to_hdr(self) -> str:
        return self._to_hdr

    @property
    def remote_sdp(self) -> str | None:
        """The peer's last SDP (offer or answer)."""
        return self._remote_sdp

    @property
    def request_headers(self) -> SipHeaders:
        """Headers of the initial INVITE (inbound); parsed on first use."""
        if self._request_headers is None:
            self._request_headers = (
                SipHeaders.from_msg(self._invite) if self._invite is not None else SipHeaders()
            )
        return self._request_headers

    @property
    def session_timer(self) -> SessionTimerState | None:
        """What was agreed under RFC 4028 (None: no session timer)."""
        return self.timer.state

    # -- app -> network ------------------------------------------------------------
    def _sendable_ua(self) -> LegUA | None:
        ua = self.ua
        if ua is None or ua.state is None and self.direction == "in":
            return None
        return ua

    @_after_sippy
    def ring(
        self,
        code: int = 183,
        reason: str = "Session Progress",
        sdp: str | None = None,
        headers: str = "",
    ) -> None:
        """Provisional reply to the INVITE (with SDP: early media)."""
        if sdp is not None:
            self.local_sdp = sdp
        ua = self._sendable_ua()
        if ua is not None:
            ua.ring(code, reason, sdp, headers)

    @_after_sippy
    def accept(
        self, code: int = 200, reason: str = "OK", sdp: str | None = None, headers: str = ""
    ) -> None:
        """Answer the INVITE; on_connected follows when the ACK arrives."""
        if sdp is not None:
            self.local_sdp = sdp
        ua = self._sendable_ua()
        if ua is not None:
            ua.pre_connect(code, reason, sdp, headers)

    @_after_sippy
    def reply(self, code: int, reason: str, headers: str = "") -> None:
        """Any reply to the INVITE: 1xx rings, 2xx accepts, the rest ends the call."""
        if code < 200:
            self.ring(code, reason, None, headers)
        elif code < 300:
            self.accept(code, reason, self.local_sdp, headers)
        else:
            self.ended = True
            ua = self._sendable_ua()
            if ua is not None:
                ua.fail(code, reason, headers)

    @_after_sippy
    def bye(self, headers: str = "") -> None:
        """BYE when connected, CANCEL while dialling, 500 to an unanswered INVITE."""
        if self.ended or self.ua is None:
            return
        self.ended = True
        self._suppress_disconnect = True
        ua = self._sendable_ua()
        if ua is not None:
            ua.disconnect(headers)

    @_after_sippy
    def reinvite(self, sdp: str, headers: str = "") -> None:
        """Send a re-INVITE; its final reply goes to ``on_reply``."""
        self.local_sdp = sdp
        self._reinvite_kind = "app"
        ua = self._sendable_ua()
        if ua is not None:
            ua.reoffer(sdp, headers)

    @_after_sippy
    def send_request(
        self,
        method: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> int | None:
        """In-dialog request (INFO, REFER, NOTIFY…); final reply -> on_reply."""
        ua = self.ua
        if ua is None or not ua.isConnected():
            log.warn(
                "{call_id}: {m} outside an established dialog dropped",
                call_id=self.callid,
                m=method,
            )
            return None
        method = method.upper()
        if method == "INVITE":
            self.reinvite(body or "", headers)
            return None
        return self._requests.send(ua, method, headers, body, content_type)

    @_after_sippy
    def refer(self, target: str, expires: int = 0, headers: str = "") -> int | None:
        """Send REFER to *target*; the reply goes to ``on_reply``."""
        hdrs = "Refer-To: %s\r\n" % (target if "<" in target else "<%s>" % target)
        if expires:
            hdrs += "Expires: %d\r\n" % expires
        return self.send_request("REFER", hdrs + headers)

    @_after_sippy
    def reply_request(
        self,
        cseq: int,
        code: int,
        reason: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> bool:
        """Answer an in-dialog request the app took over (on_request returned True)."""
        return self._requests.answer(cseq, code, reason, headers, body, content_type)

    def __repr__(self) -> str:
        return "<CallLeg %s %s>" % (self.direction, self.callid)
