"""One SIP call leg (dialog + INVITE usage), hiding sippy's UA/CCEvent API.

sippy models a call as a ``UA`` state machine driven by ``CCEvent`` objects
in both directions.  The DSM session layer wants SEMS' vocabulary instead:
"ring", "accept", "bye", plus callbacks such as ``onInvite``, ``onBye``,
``onSipRequest``.  :class:`CallLeg` translates, and fills three gaps in
sippy:

* in-dialog requests sippy does not know (UPDATE, NOTIFY, MESSAGE, INFO with
  DTMF, REFER as a request rather than a transfer) are answered here and
  reported to the app, which may also answer them itself later;
* RFC 4028 session timers (see :mod:`donkey.sip.session_timer`);
* small interop fixes (``;transport=UDP`` in a Contact, R-URI capture).

Everything runs on the reactor thread; sippy calls back synchronously.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventInfo,
    CCEventPreConnect,
    CCEventRedirect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContentType import SipContentType
from sippy.SipFrom import SipFrom
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL
from sippy.Time.Timeout import Timeout
from sippy.UA import UA
from twisted.logger import Logger

from donkey.sip.headers import SipHeaders, make_headers, split_headers, tokens
from donkey.sip.session_timer import (
    SessionTimerState,
    negotiate_uac,
    negotiate_uas,
    uac_request_headers,
)

if TYPE_CHECKING:
    from donkey.sip.stack import SipStack

log = Logger(namespace="donkey.sip.leg")


class CallListener(Protocol):
    """What a :class:`CallLeg` reports to (the DSM session, a B2B leg…).

    All methods are optional in practice: a missing one is skipped.
    """

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
        """RFC 4028 session expired without refresh; the glue then sends BYE."""

    def on_reinvite(self, sdp: str | None) -> str | None:
        """Peer re-INVITE/UPDATE with SDP; return the answer (None: auto answer)."""

    def on_request(self, method: str, info: dict[str, Any]) -> bool:
        """In-dialog request; return True to answer it later with reply_request()."""

    def on_reply(self, code: int, reason: str, info: dict[str, Any]) -> None:
        """Final reply to a request the app sent (send_request/refer/reinvite)."""

    def on_info_dtmf(self, key: int, duration_ms: int) -> None:
        """DTMF received via SIP INFO (application/dtmf-relay or dtmf)."""

    def on_terminated(self) -> None:
        """The leg is gone for good (all retransmission windows closed)."""


# DTMF key mapping as SEMS' AmDtmfDetector: 0-9, *=10, #=11, A-D=12-15.
_DTMF_KEYS = {str(i): i for i in range(10)}
_DTMF_KEYS.update({"*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15})
_DEFAULT_REPLY = {"INFO": 200, "NOTIFY": 200, "MESSAGE": 200, "OPTIONS": 200, "UPDATE": 200}


def _body(sdp: str | None, content_type: str | None = None) -> MsgBody | None:
    if sdp is None:
        return None
    if content_type and content_type.lower() != "application/sdp":
        ct = SipContentType(content_type)
        ct.parse()
        return MsgBody(sdp, ct)
    return MsgBody(sdp)


def _address(uri: str) -> SipAddress:
    uri = uri.strip()
    if "<" not in uri:
        uri = "<%s>" % uri
    return SipAddress(address=uri)


def bump_sdp_version(sdp: str) -> str:
    """Increment the o= session version (a refresh must not look like a no-op)."""

    def inc(m: re.Match[str]) -> str:
        return "%s%d%s" % (m.group(1), int(m.group(2)) + 1, m.group(3))

    return re.sub(r"(?m)^(o=\S+ \S+ )(\d+)( )", inc, sdp, count=1)


def answer_hold(offer: str | None, local_sdp: str | None) -> str | None:
    """Default answer to a re-INVITE: our last SDP, direction mirrored.

    sendonly/inactive/0.0.0.0 offers (hold) get recvonly/inactive; anything
    else gets sendrecv.  This keeps hold/resume working when the app has
    no opinion.
    """
    if local_sdp is None:
        return None
    direction = "sendrecv"
    if offer:
        if re.search(r"(?m)^a=inactive", offer):
            direction = "inactive"
        elif re.search(r"(?m)^a=sendonly", offer) or re.search(r"(?m)^c=IN IP4 0\.0\.0\.0", offer):
            direction = "recvonly"
        elif re.search(r"(?m)^a=recvonly", offer):
            direction = "sendonly"
    out = [
        line
        for line in local_sdp.replace("\r\n", "\n").split("\n")
        if line and line not in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")
    ]
    # direction attribute goes at the end of every media section
    res, in_media = [], False
    for line in out:
        if line.startswith("m=") and in_media:
            res.append("a=" + direction)
        if line.startswith("m="):
            in_media = True
        res.append(line)
    if in_media:
        res.append("a=" + direction)
    return bump_sdp_version("\r\n".join(res) + "\r\n")


def _after_sippy(method):
    """Run an app action later if called from inside sippy's response handling.

    sippy's transaction layer sends the ACK for a 2xx only after the UA's
    callbacks return; a BYE issued from ``on_connected`` would overtake it.
    """

    def wrapper(self, *args, **kwargs):
        if self._in_response:
            self.stack.reactor.callLater(0, method, self, *args, **kwargs)
            return None
        return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    wrapper.__wrapped__ = method
    return wrapper


class _LegUA(UA):
    """sippy UA with hooks the leg needs; keeps sippy's own logic intact."""

    leg: CallLeg | None = None

    def recvRequest(self, req, sip_t):
        leg = self.leg
        method = req.getMethod()
        if leg is not None:
            if method not in ("INVITE", "BYE", "ACK", "CANCEL") and self.isConnected():
                cseq = req.getHFBody("cseq").getCSeqNum()
                if self.rCSeq is not None and self.rCSeq >= cseq:
                    return (
                        req.genResponse(500, "Server Internal Error", server=self.local_ua),
                        None,
                        None,
                    )
                self.rCSeq = cseq
                self.update_ua(req)
                return leg._in_dialog_request(req, sip_t)
            if method == "BYE":
                leg._bye_req = req
            elif method == "INVITE" and self.state.__class__.__name__ == "UaStateConnected":
                # may be a pure refresh that sippy answers without telling us
                leg._st_on_peer_refresh(req)
        rval = super().recvRequest(req, sip_t)
        if leg is not None and rval is not None and method == "INVITE" and rval[1] is not None:
            cancel_cb, noack_cb = rval[1], rval[2]

            def on_cancel(rtime, creq, _cb=cancel_cb):
                leg._cancel_req = creq if creq is not None else True
                _cb(rtime, creq)

            def on_noack(_cb=noack_cb):
                if self.isConnected() and not leg._got_ack:
                    leg._no_ack = True
                _cb()

            rval = (rval[0], on_cancel, on_noack)
        return rval

    def recvResponse(self, resp, tr):
        leg = self.leg
        if leg is None:
            return super().recvResponse(resp, tr)
        code = resp.getSCode()[0]
        if (
            code in (401, 407)
            and self.username is not None
            and resp.getHFBody("cseq").getCSeq()[1] == "INVITE"
        ):
            # let the transaction layer ACK the challenge before sippy
            # sends the authenticated INVITE (strict peers expect that order)
            leg.stack.reactor.callLater(0, self._recv_response_now, resp, tr)
            return None
        return self._recv_response_now(resp, tr)

    def _recv_response_now(self, resp, tr):
        leg = self.leg
        if leg is None:
            return super().recvResponse(resp, tr)
        leg._last_resp = resp
        leg._in_response += 1
        try:
            return super().recvResponse(resp, tr)
        finally:
            leg._in_response -= 1

    def genRequest(self, method, *args, **kwargs):
        # sippy's transport check is case-sensitive; sipp sends transport=UDP.
        rt = self.rTarget
        if rt is not None and isinstance(rt.transport, str):
            rt.transport = rt.transport.lower()
        if self.rAddr is not None and isinstance(self.rAddr[1], str):
            self.rAddr = (self.rAddr[0], self.rAddr[1].lower())
        return super().genRequest(method, *args, **kwargs)

    def sendUasResponse(
        self, scode, reason, body=None, contacts=None, extra_headers=None, ack_wait=False
    ):
        leg = self.leg
        if leg is not None and 200 <= scode < 300:
            extra = leg._st_response_headers()
            if extra:
                extra_headers = tuple(extra_headers or ()) + tuple(make_headers(extra))
        super().sendUasResponse(scode, reason, body, contacts, extra_headers, ack_wait)


class _DialTry(CCEventTry):
    """CCEventTry that puts the app's From/To/R-URI in place before sending."""

    def __init__(self, data, leg: CallLeg, from_uri: str, to_uri: str, ruri: str) -> None:
        super().__init__(data)
        self._leg_info = (from_uri, to_uri, ruri)

    def onUacSetupComplete(self, ua) -> None:
        from_uri, to_uri, ruri = self._leg_info
        lfrom = SipFrom(address=_address(from_uri))
        lfrom.setTag(ua.lTag)
        ua.lUri = lfrom
        ua.rUri = SipTo(address=_address(to_uri))
        ua.rTarget = SipURL(ruri)
        curl = ua.lContact.getUrl()
        curl.username = lfrom.getUrl().username


class CallLeg:
    """One call, inbound (UAS) or outbound (UAC).  See module docstring."""

    def __init__(
        self, stack: SipStack, direction: str, listener: CallListener | None = None
    ) -> None:
        self._ended = False
        self.stack = stack
        self.direction = direction
        self.listener: Any = listener
        self.ua: _LegUA | None = None
        self._request_headers: SipHeaders | None = None
        self._ruri = ""
        self._from_hdr = ""
        self._to_hdr = ""
        self._invite = None  # the initial INVITE (inbound)
        self._bye_req = None
        self._cancel_req: Any = None
        self._last_resp = None
        self._got_ack = False
        self._in_response = 0
        self._no_ack = False
        self.connected = False
        self.ended = False
        self.terminated = False
        self.local_sdp: str | None = None
        # sippy forgets the offer when a body-less ACK arrives; keep our own
        self._remote_sdp: str | None = None
        self._pending_requests: dict[int, Any] = {}
        self._app_requests: dict[int, str] = {}
        self._reinvite_kind: str | None = None  # 'app' | 'refresh'
        self._suppress_disconnect = False
        # session timer
        self._st: SessionTimerState | None = None
        self._st_timer = None
        self._st_refresh_method: str | None = None
        self._peer_allow: list = []

    @property
    def ended(self) -> bool:
        """True once the call is over for the app (BYE/CANCEL/failure)."""
        return self._ended

    @ended.setter
    def ended(self, value: bool) -> None:
        if value and not self._ended:
            self._ended = True
            self.stack._leg_ended(self)

    # ------------------------------------------------------------------
    # construction
    @classmethod
    def _inbound(cls, stack: SipStack, req, sip_t):
        """Create a UAS leg for a new INVITE and run it through sippy."""
        leg = cls(stack, "in")
        leg._invite = req
        body = req.getBody()
        leg._remote_sdp = str(body) if body is not None else None
        leg._ruri = str(req.getRURI())
        leg._from_hdr = str(req.getHFBody("from"))
        leg._to_hdr = str(req.getHFBody("to"))
        cfg = stack.session_timer
        st, min_se = None, None
        if cfg.enabled:
            leg._peer_allow = tokens(leg.request_headers.get_all("allow"))
            st, min_se = negotiate_uas(cfg, leg.request_headers)
        if min_se is not None:
            resp = req.genResponse(422, "Session Interval Too Small", server=stack.user_agent)
            resp.appendHeaders(make_headers("Min-SE: %d" % min_se))
            return None, (resp, None, None)
        leg._st = st
        ua = leg._make_ua()
        stack._add_leg(leg)
        rval = ua.recvRequest(req, sip_t)
        return leg, rval

    def _make_ua(self, **kw) -> _LegUA:
        ua = _LegUA(self.stack.global_config, event_cb=self._on_event, **kw)
        ua.leg = self
        ua.local_ua = self.stack.user_agent
        ua.godead_timeout = self.stack.linger
        ua.dead_cbs = (self._on_dead,)
        self.ua = ua
        return ua

    @classmethod
    def dial(
        cls,
        stack: SipStack,
        from_uri: str,
        to_uri: str,
        ruri: str,
        sdp_offer: str | None,
        local_tag: str | None = None,
        auth_user: str | None = None,
        auth_pwd: str | None = None,
        headers: str = "",
        listener: CallListener | None = None,
        callid: str | None = None,
        next_hop: tuple | None = None,
    ) -> CallLeg:
        """Place an outbound call; progress is reported to *listener*.

        *next_hop* ``(host, port)`` defaults to the R-URI's host and port.
        """
        leg = cls(stack, "out", listener)
        url = SipURL(ruri)
        if next_hop is None:
            next_hop = (url.host, int(url.port or 5060))
        ua = leg._make_ua(
            username=auth_user, password=auth_pwd, nh_address=tuple(next_hop), ltag=local_tag
        )
        leg._ruri = ruri
        leg.local_sdp = sdp_offer
        cid = SipCallId(callid) if callid else None
        ev = _DialTry(
            (cid, url.username, url.username, _body(sdp_offer), None, None),
            leg,
            from_uri,
            to_uri,
            ruri,
        )
        extra = split_headers(headers) + split_headers(uac_request_headers(stack.session_timer))
        if extra:
            ev.extra_headers = tuple(make_headers(extra))
        stack._add_leg(leg)
        ua.recvEvent(ev)
        if ua.lUri is not None:
            leg._from_hdr = str(ua.lUri)
            leg._to_hdr = str(ua.rUri)
        return leg

    # ------------------------------------------------------------------
    # properties the DSM layer selects on
    @property
    def callid(self) -> str:
        return str(self.ua.cId) if self.ua is not None and self.ua.cId is not None else ""

    @property
    def local_tag(self) -> str:
        return (self.ua.lTag or "") if self.ua is not None else ""

    @property
    def remote_tag(self) -> str:
        if self.ua is None or self.ua.rUri is None:
            return ""
        return self.ua.rUri.getTag() or ""

    def _url(self, which: str):
        ua = self.ua
        hf = getattr(ua, which, None) if ua is not None else None
        return hf.getUrl() if hf is not None else None

    @property
    def user(self) -> str:
        if self.direction == "in" and self._invite is not None:
            return self._invite.getRURI().username or ""
        u = self._url("lUri")
        return (u.username or "") if u is not None else ""

    @property
    def domain(self) -> str:
        if self.direction == "in" and self._invite is not None:
            return str(self._invite.getRURI().host or "")
        u = self._url("lUri")
        return str(u.host or "") if u is not None else ""

    @property
    def local_uri(self) -> str:
        u = self._url("lUri")
        return str(u) if u is not None else ""

    @property
    def remote_uri(self) -> str:
        u = self._url("rUri")
        return str(u) if u is not None else ""

    def _party(self, which: str) -> str:
        ua = self.ua
        hf = getattr(ua, which, None) if ua is not None else None
        if hf is None:
            return ""
        addr = hf.getUri().getCopy()
        addr.delParam("tag") if "tag" in addr.params else None
        return str(addr)

    @property
    def local_party(self) -> str:
        return self._party("lUri")

    @property
    def remote_party(self) -> str:
        return self._party("rUri")

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
        return self._st

    # ------------------------------------------------------------------
    # app -> network
    def _send(self, ev, headers: Any = "") -> None:
        if self.ua is None or self.ua.state is None and self.direction == "in":
            return
        hs = make_headers(headers)
        if hs:
            ev.extra_headers = tuple(hs)
        self.ua.recvEvent(ev)

    @_after_sippy
    def ring(
        self,
        code: int = 183,
        reason: str = "Session Progress",
        sdp: str | None = None,
        headers: str = "",
    ) -> None:
        if sdp is not None:
            self.local_sdp = sdp
        self._send(CCEventRing((code, reason, _body(sdp))), headers)

    @_after_sippy
    def accept(
        self, code: int = 200, reason: str = "OK", sdp: str | None = None, headers: str = ""
    ) -> None:
        """Answer the INVITE; on_connected follows when the ACK arrives."""
        if sdp is not None:
            self.local_sdp = sdp
        # PreConnect makes sippy wait for the ACK and tell us about it.
        self._send(CCEventPreConnect((code, reason, _body(sdp))), headers)

    @_after_sippy
    def reply(self, code: int, reason: str, headers: str = "") -> None:
        if code < 200:
            self.ring(code, reason, None, headers)
        elif code < 300:
            self.accept(code, reason, self.local_sdp, headers)
        else:
            self.ended = True
            self._send(CCEventFail((code, reason)), headers)

    @_after_sippy
    def bye(self, headers: str = "") -> None:
        """BYE when connected, CANCEL while dialling, 500 to an unanswered INVITE."""
        if self.ended or self.ua is None:
            return
        self.ended = True
        self._st_cancel()
        self._suppress_disconnect = True
        self._send(CCEventDisconnect(), headers)

    @_after_sippy
    def reinvite(self, sdp: str, headers: str = "") -> None:
        self.local_sdp = sdp
        self._reinvite_kind = "app"
        self._send(CCEventUpdate(_body(sdp)), headers)

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
            log.warn("{cid}: {m} outside an established dialog dropped", cid=self.callid, m=method)
            return None
        method = method.upper()
        if method == "INVITE":
            self.reinvite(body or "", headers)
            return None
        req = ua.genRequest(
            method,
            _body(body, content_type or "application/sdp"),
            extra_headers=make_headers(headers) or None,
        )
        cseq = req.getHFBody("cseq").getCSeqNum()
        self._app_requests[cseq] = method
        ua.newTransaction(req, resp_cb=self._on_app_reply)
        return cseq

    @_after_sippy
    def refer(self, target: str, expires: int = 0, headers: str = "") -> int | None:
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
        pend = self._pending_requests.get(cseq)
        if pend is None:
            return False
        req, sip_t, guard = pend
        if code >= 200:
            del self._pending_requests[cseq]
        resp = req.genResponse(
            code, reason, _body(body, content_type), server=self.stack.user_agent
        )
        hs = make_headers(headers)
        if hs:
            resp.appendHeaders(hs)
        if code >= 200 and req.getMethod() == "UPDATE":
            st = self._st_response_headers()
            if st:
                resp.appendHeaders(make_headers(st))
        self.stack.tm.sendResponse(resp, sip_t)
        return True

    # ------------------------------------------------------------------
    # network -> app
    def _notify(self, name: str, *args: Any) -> Any:
        fn = getattr(self.listener, name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception:
            log.failure("{cid}: listener.{name} failed", cid=self.callid, name=name)
            return None

    def _on_event(self, event, ua) -> None:
        data = event.getData()
        if isinstance(event, (CCEventRing, CCEventConnect, CCEventPreConnect)) and data is not None:
            if data[2] is not None:
                self._remote_sdp = str(data[2])
        elif isinstance(event, CCEventUpdate) and data is not None:
            self._remote_sdp = str(data)
        if isinstance(event, CCEventTry):
            call_factory = self.stack.call_factory
            if self.listener is None and call_factory is not None:
                try:
                    listener = call_factory(self)
                    if listener is not None:
                        self.listener = listener
                except Exception:
                    log.failure("call factory failed")
            if self.listener is None:
                # the factory may already have answered (404, 503...)
                if not self.ended:
                    self.reply(500, "Server Internal Error")
                return
            self._notify("on_invite", self)
        elif isinstance(event, CCEventRing):
            code, reason, body = data
            if code <= 100:
                return
            self._notify("on_ringing", code, reason, body is not None)
            if body is not None:
                self._notify("on_early", str(body))
        elif isinstance(event, CCEventConnect):
            self._on_connect_event(data)
        elif isinstance(event, CCEventPreConnect):
            # late-media outbound call: we never dial without SDP; ACK it.
            self._on_connect_event(data)
        elif isinstance(event, CCEventUpdate):
            self._on_reinvite(data)
        elif isinstance(event, (CCEventFail, CCEventRedirect)):
            code, reason = data[0], data[1]
            if self.connected:
                # failed re-INVITE (ours)
                kind, self._reinvite_kind = self._reinvite_kind, None
                if code in (408, 481):
                    self._suppress_disconnect = True
                    self._ended_remote(code, reason)
                elif kind == "app":
                    self._notify("on_reply", code, reason, self._reply_info(code, reason))
                return
            self.ended = True
            self._notify("on_failed", code, reason)
        elif isinstance(event, CCEventDisconnect):
            self._on_disconnect_event()
        elif isinstance(event, CCEventInfo):
            pass  # INFO is intercepted before sippy sees it

    def _on_connect_event(self, data) -> None:
        code, reason, body = data
        sdp = str(body) if body is not None else None
        if not self.connected:
            self.connected = True
            if self.direction == "in":
                self._got_ack = True
            else:
                if self._last_resp is not None and self.stack.session_timer.enabled:
                    h = SipHeaders.from_msg(self._last_resp)
                    self._peer_allow = tokens(h.get_all("allow"))
                    self._st = negotiate_uac(self.stack.session_timer, h)
            self._st_start()
            self.stack._leg_connected(self)
            self._notify("on_connected", sdp)
            return
        # 2xx to our re-INVITE
        kind, self._reinvite_kind = self._reinvite_kind, None
        if self._last_resp is not None and self._st is not None:
            self._st_renegotiate_from_response(self._last_resp)
        if kind == "app":
            self._notify(
                "on_reply",
                code if isinstance(code, int) else 200,
                reason,
                self._reply_info(200, reason),
            )

    def _on_reinvite(self, body) -> None:
        offer = str(body) if body is not None else None
        answer = self._notify("on_reinvite", offer)
        if answer is None:
            answer = answer_hold(offer, self.local_sdp)
        if answer is None:
            self.ua.recvEvent(CCEventFail((488, "Not Acceptable Here")))
            return
        self.local_sdp = answer
        self.ua.recvEvent(CCEventConnect((200, "OK", _body(answer))))

    def _on_disconnect_event(self) -> None:
        self._st_cancel()
        if self._suppress_disconnect:
            return
        self._suppress_disconnect = True
        self.ended = True
        if self._no_ack:
            self._notify("on_remote_disappeared", 408, "No ACK")
            return
        bye, self._bye_req = self._bye_req, None
        if bye is not None:
            self._notify("on_hangup", SipHeaders.from_msg(bye).raw, False)
            return
        cancel = self._cancel_req
        if cancel is not None:
            hdrs = SipHeaders.from_msg(cancel).raw if cancel is not True else ""
            self._notify("on_hangup", hdrs, True)
            return
        # REFER-initiated or timer-initiated disconnects inside sippy
        self._notify("on_hangup", "", False)

    def _ended_remote(self, code: int, reason: str) -> None:
        self._st_cancel()
        self.ended = True
        self._notify("on_remote_disappeared", code, reason)

    def _on_dead(self, ua) -> None:
        self._st_cancel()
        for _req, _sip_t, guard in list(self._pending_requests.values()):
            if guard is not None:
                guard.cancel()
        self._pending_requests.clear()
        self.terminated = True
        self.ended = True
        self.stack._remove_leg(self)
        self._notify("on_terminated")
        self.ua = None
        self.listener = None

    # ------------------------------------------------------------------
    # in-dialog requests sippy does not handle the way we want
    def _request_info(self, req) -> dict[str, Any]:
        h = SipHeaders.from_msg(req)
        body = req.getBody()
        return {
            "method": req.getMethod(),
            "r_uri": str(req.getRURI()),
            "from": str(req.getHFBody("from")),
            "to": str(req.getHFBody("to")),
            "callid": self.callid,
            "hdrs": h.raw,
            "headers": h,
            "content_type": body.getType() if body is not None else "",
            "body": str(body) if body is not None else "",
            "cseq": req.getHFBody("cseq").getCSeqNum(),
        }

    def _reply_info(self, code: int, reason: str, resp=None) -> dict[str, Any]:
        resp = resp if resp is not None else self._last_resp
        info: dict[str, Any] = {
            "sip_code": code,
            "sip_reason": reason,
            "hdrs": "",
            "content_type": "",
            "body": "",
        }
        if resp is not None:
            h = SipHeaders.from_msg(resp)
            body = resp.getBody()
            cseq, method = resp.getHFBody("cseq").getCSeq()
            info.update(
                hdrs=h.raw,
                headers=h,
                cseq=cseq,
                method=method,
                content_type=body.getType() if body is not None else "",
                body=str(body) if body is not None else "",
            )
        return info

    def _in_dialog_request(self, req, sip_t):
        method = req.getMethod()
        body = req.getBody()
        ctype = body.getType() if body is not None else ""

        def resp(code, reason, extra="", rbody=None):
            r = req.genResponse(code, reason, rbody, server=self.stack.user_agent)
            hs = make_headers(extra)
            if hs:
                r.appendHeaders(hs)
            return (r, None, None)

        if method == "INFO" and ctype in ("application/dtmf-relay", "application/dtmf"):
            key, dur = _parse_dtmf(ctype, str(body))
            if key is not None:
                self._notify("on_info_dtmf", key, dur)
            return resp(200, "OK")
        if method == "UPDATE":
            self._st_on_peer_refresh(req)
            if body is not None and ctype == "application/sdp":
                offer = str(body)
                answer = self._notify("on_reinvite", offer)
                if answer is None:
                    answer = answer_hold(offer, self.local_sdp)
                if answer is None:
                    return resp(488, "Not Acceptable Here")
                self.local_sdp = answer
                self._remote_sdp = offer
                self.ua.rSDP = body.getCopy()
                self.ua.lSDP = _body(answer)
                return resp(200, "OK", self._st_response_headers(), _body(answer))
            return resp(200, "OK", self._st_response_headers())
        info = self._request_info(req)
        cseq = info["cseq"]
        # Pending before the listener hears of it: a DSM session runs the
        # sipRequest event (and its dlg.replyRequest) inside on_request.
        self._pending_requests[cseq] = (req, sip_t, None)
        taken = bool(self._notify("on_request", method, info))
        pend = self._pending_requests.get(cseq)
        if pend is None:
            # answered already, from inside on_request
            return None
        if taken and self.listener is not None:
            # keep sippy's server transaction alive until the app answers
            guard = Timeout(self._request_guard, 30.0, 1, cseq)
            sip_t.teF = guard
            self._pending_requests[cseq] = (req, sip_t, guard)
            return None
        del self._pending_requests[cseq]
        code = _DEFAULT_REPLY.get(method)
        if method == "REFER":
            return resp(202, "Accepted") if req.countHFs("refer-to") else resp(400, "Bad Request")
        if code is None:
            return resp(501, "Not Implemented")
        return resp(code, "OK")

    def _request_guard(self, cseq: int) -> None:
        pend = self._pending_requests.get(cseq)
        if pend is not None:
            pend[1].teF = None
            self.reply_request(cseq, 500, "Server Internal Error")

    def _on_app_reply(self, resp) -> None:
        code, reason = resp.getSCode()
        if code < 200:
            return
        cseq, method = resp.getHFBody("cseq").getCSeq()
        self._app_requests.pop(cseq, None)
        self._notify("on_reply", code, reason, self._reply_info(code, reason, resp))
        if code in (408, 481) and not self.ended:
            self._ended_remote(code, reason)
            self._suppress_disconnect = True
            if self.ua is not None:
                self.ua.recvEvent(CCEventDisconnect())

    # ------------------------------------------------------------------
    # RFC 4028 session timer
    def _st_response_headers(self) -> str:
        st = self._st
        if st is None:
            return ""
        # we always answer as the UAS of the transaction being answered
        h = "Session-Expires: %s\r\n" % st.header_value(True)
        if st.peer_supports:
            h += "Require: timer\r\n"
        return h + "Supported: timer\r\n"

    def _st_start(self) -> None:
        self._st_cancel()
        st = self._st
        if st is None or self.ended:
            return
        if st.we_refresh:
            self._st_timer = Timeout(self._st_refresh, st.refresh_delay(), 1)
        else:
            self._st_timer = Timeout(self._st_expired, st.expiry_delay(), 1)

    def _st_cancel(self) -> None:
        if self._st_timer is not None:
            self._st_timer.cancel()
            self._st_timer = None

    def _st_on_peer_refresh(self, req) -> None:
        if self._st is None and not self.stack.session_timer.enabled:
            return
        st, _ = negotiate_uas(self.stack.session_timer, SipHeaders.from_msg(req))
        if st is not None:
            # "uas" in the request now means whoever receives this request
            self._st = st
        self._st_start()

    def _st_renegotiate_from_response(self, resp) -> None:
        st = negotiate_uac(self.stack.session_timer, SipHeaders.from_msg(resp))
        if st is not None:
            self._st = st
        self._st_start()

    def _st_refresh(self) -> None:
        self._st_timer = None
        ua = self.ua
        if ua is None or self.ended or not ua.isConnected():
            return
        method = self.stack.session_timer.refresh_method.upper()
        use_update = method == "UPDATE" or (
            method == "UPDATE_FALLBACK_INVITE" and "update" in self._peer_allow
        )
        st = self._st
        hdrs = "Session-Expires: %d;refresher=uac\r\nMin-SE: %d\r\nSupported: timer\r\n" % (
            st.interval,
            self.stack.session_timer.min_se,
        )
        if use_update:
            req = ua.genRequest("UPDATE", extra_headers=make_headers(hdrs))
            ua.newTransaction(req, resp_cb=self._st_update_reply)
        elif ua.state.__class__.__name__ == "UaStateConnected" and self.local_sdp is not None:
            self._st_refresh_method = "INVITE"
            self._reinvite_kind = "refresh"
            self.local_sdp = bump_sdp_version(self.local_sdp)
            ev = CCEventUpdate(_body(self.local_sdp))
            ev.extra_headers = tuple(make_headers(hdrs))
            ua.recvEvent(ev)
        else:
            # busy with another re-INVITE: try again shortly
            self._st_timer = Timeout(self._st_refresh, 1.0, 1)

    def _st_update_reply(self, resp) -> None:
        code, reason = resp.getSCode()
        if code < 200 or self.ended:
            return
        if 200 <= code < 300:
            self._st_renegotiate_from_response(resp)
        elif code in (405, 501):
            self._peer_allow = [m for m in self._peer_allow if m != "update"]
            self._st_refresh()
        elif code in (408, 481):
            self._ended_remote(code, reason)
            self._suppress_disconnect = True
            if self.ua is not None:
                self.ua.recvEvent(CCEventDisconnect())
        else:
            self._st_start()

    def _st_expired(self) -> None:
        self._st_timer = None
        if self.ended:
            return
        log.info("{cid}: session timer expired", cid=self.callid)
        self._notify("on_session_timeout")
        self.bye()

    def __repr__(self) -> str:
        return "<CallLeg %s %s>" % (self.direction, self.callid)


def _parse_dtmf(ctype: str, body: str):
    """(key, duration_ms) from an INFO body; (None, 0) when unparsable."""
    if ctype == "application/dtmf":
        k = body.strip()
        if k.isdigit() and int(k) <= 15:
            return int(k), 250
        return _DTMF_KEYS.get(k.upper()), 250
    key, dur = None, 250
    for line in body.replace("\r", "").split("\n"):
        name, _, value = line.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "signal":
            key = _DTMF_KEYS.get(value.upper())
            if key is None and value.isdigit() and int(value) <= 15:
                key = int(value)
        elif name == "duration":
            try:
                dur = int(value)
            except ValueError:
                pass
    return key, dur
