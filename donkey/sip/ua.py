"""The sippy side of a call leg: a ``UA`` subclass speaking plain calls.

sippy models a call as a ``UA`` state machine driven by ``CCEvent`` objects
in both directions.  :class:`LegUA` keeps sippy's own logic intact and
translates at the edge:

* events sippy raises become calls on its :class:`UaOwner` (the leg):
  ``ua_invited``, ``ua_ringing``, ``ua_connected``, ``ua_offer``,
  ``ua_failed``, ``ua_disconnected``;
* what the leg sends becomes ``CCEvent`` objects (:meth:`LegUA.ring`,
  :meth:`LegUA.pre_connect`, :meth:`LegUA.disconnect` ...);
* hooks sippy has no event for (a BYE or CANCEL request, an in-dialog
  request sippy does not handle, a missing ACK, a 2xx about to be sent) are
  reported through the owner too;
* small interop fixes: ``;transport=UDP`` in a Contact (sippy compares it
  case-sensitively), the ACK for a 401/407 before the authenticated INVITE,
  the app's From/To/R-URI on an outbound INVITE.

Nothing outside :mod:`donkey.sip.leg` and :mod:`donkey.sip.in_dialog`
touches sippy's UA API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventPreConnect,
    CCEventRedirect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContact import SipContact
from sippy.SipContentType import SipContentType
from sippy.SipFrom import SipFrom
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL
from sippy.UA import UA

from donkey.sip.clock import Clock
from donkey.sip.headers import make_headers

#: ``(response, cancel_cb, noack_cb)`` as sippy's request callbacks return it
SippyAnswer = tuple[Any, Any, Any]


def sip_body(text: str | None, content_type: str | None = None) -> MsgBody | None:
    """A sippy message body (SDP unless *content_type* says otherwise)."""
    if text is None:
        return None
    if content_type and content_type.lower() != "application/sdp":
        ctype = SipContentType(content_type)
        ctype.parse()
        return MsgBody(text, ctype)
    return MsgBody(text)


def sip_address(uri: str) -> SipAddress:
    """``sip:a@b`` or ``"A" <sip:a@b>`` as a sippy address."""
    uri = uri.strip()
    if "<" not in uri:
        uri = "<%s>" % uri
    return SipAddress(address=uri)


def next_hop_of(ruri: str) -> tuple[str, int]:
    """Where a request to *ruri* goes without a proxy: its host and port."""
    url = SipURL(ruri)
    return (url.host, int(url.port or 5060))


#: the Contact user part when the R-URI has none (``sip:127.0.0.1``)
CONTACT_USER = "donkey"


def local_contact(user: str | None) -> SipContact:
    """Our Contact: ``<sip:user@host:port>`` (sippy's default is ``Anonymous <sip:host:port>``).

    A user part lets the peer's requests name what they reach (RFC 3261
    8.1.1.8 wants a URI the peer can send to; peers such as baresip show
    and match on it); the host and port are the stack's own address.
    """
    contact = SipContact()
    contact.getUri().name = None
    contact.getUrl().username = user or CONTACT_USER
    return contact


def _sdp(body: Any) -> str | None:
    return str(body) if body is not None else None


class UaOwner(Protocol):
    """What :class:`LegUA` reports to: the :class:`~donkey.sip.leg.CallLeg`."""

    @property
    def clock(self) -> Clock:
        """Where deferred work is scheduled."""
        ...

    def ua_invited(self) -> None:
        """A new inbound INVITE reached the UA (sippy's CCEventTry)."""

    def ua_ringing(self, code: int, reason: str, sdp: str | None) -> None:
        """Outbound call got a provisional reply."""

    def ua_connected(self, code: Any, reason: str, sdp: str | None) -> None:
        """2xx to our INVITE/re-INVITE, or the ACK to our 2xx."""

    def ua_offer(self, sdp: str | None) -> None:
        """Peer re-INVITE: answer with :meth:`LegUA.answer_offer` or refuse."""

    def ua_failed(self, code: int, reason: str) -> None:
        """Final non-2xx to our INVITE or re-INVITE."""

    def ua_disconnected(self) -> None:
        """The dialog ended inside sippy (BYE, CANCEL, timeouts)."""

    def ua_request(self, req: Any, sip_t: Any) -> SippyAnswer | None:
        """An in-dialog request sippy does not handle (INFO, UPDATE, REFER...)."""

    def ua_bye(self, req: Any) -> None:
        """A BYE arrived (sippy then disconnects)."""

    def ua_reinvite(self, req: Any) -> None:
        """A re-INVITE arrived in a confirmed dialog (possibly a pure refresh)."""

    def ua_cancel(self, req: Any) -> None:
        """A CANCEL (None: the INVITE expired) arrived for the unanswered INVITE."""

    def ua_no_ack(self) -> None:
        """The ACK for our 2xx never came."""

    def ua_response(self, resp: Any, done: bool) -> None:
        """sippy starts (``done=False``) and finishes handling a response."""

    def ua_2xx_headers(self) -> str:
        """Extra headers for a 2xx we are about to send."""
        return ""

    def ua_dead(self) -> None:
        """All of sippy's retransmission windows for the dialog are closed."""


class LegUA(UA):
    """sippy UA with the hooks and translation the leg needs (module docstring)."""

    # sippy's own attributes that the overrides below assign
    rAddr: Any
    rCSeq: Any
    lContact: Any

    def __init__(self, owner: UaOwner, global_config: dict[str, Any], **kwargs: Any) -> None:
        self.owner: UaOwner | None = owner
        super().__init__(global_config, event_cb=self._event, dead_cbs=(self._dead,), **kwargs)

    # -- sippy -> owner ------------------------------------------------------------
    def _event(self, event: Any, ua: Any) -> None:
        owner = self.owner
        if owner is None:
            return
        data = event.getData()
        if isinstance(event, CCEventTry):
            owner.ua_invited()
        elif isinstance(event, CCEventRing):
            owner.ua_ringing(data[0], data[1], _sdp(data[2]))
        elif isinstance(event, (CCEventConnect, CCEventPreConnect)):
            # PreConnect: a late-media outbound call; we never dial without SDP
            owner.ua_connected(data[0], data[1], _sdp(data[2]))
        elif isinstance(event, CCEventUpdate):
            owner.ua_offer(_sdp(data))
        elif isinstance(event, (CCEventFail, CCEventRedirect)):
            owner.ua_failed(data[0], data[1])
        elif isinstance(event, CCEventDisconnect):
            owner.ua_disconnected()
        # CCEventInfo: INFO is intercepted before sippy sees it

    def _dead(self, ua: Any) -> None:
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.ua_dead()

    def in_connected_state(self) -> bool:
        """Confirmed and idle: no re-INVITE of either side in progress."""
        return self.state.__class__.__name__ == "UaStateConnected"

    def recvRequest(self, req: Any, sip_t: Any) -> Any:
        owner = self.owner
        method = req.getMethod()
        if owner is not None:
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
                return owner.ua_request(req, sip_t)
            if method == "BYE":
                owner.ua_bye(req)
            elif method == "INVITE" and self.in_connected_state():
                owner.ua_reinvite(req)
        initial = method == "INVITE" and self.state is None
        if initial:
            if self.lContact is None:
                self.lContact = local_contact(req.getRURI().username)
            if getattr(sip_t, "r487", None) is not None:
                # sippy's transaction layer answers a CANCEL (or an expired
                # INVITE) with a 487 it built before there was a UA; without
                # our tag it gets a random one when sent, and the early
                # dialog of a 183 would change its To-tag at the final reply
                # (RFC 3261 12.1).
                sip_t.r487.getHFBody("to").setTag(self.lTag)
        rval = super().recvRequest(req, sip_t)
        # sippy's UA.recvRequest sets ``req.sendResponse`` to a closure over
        # the request and the UA (a cycle: request -> closure -> request);
        # only the state's recvRequest, already returned, calls it.  The
        # request lives on in the transaction layer's caches for 32 s, so
        # drop the closure now and let reference counting free both.
        req.sendResponse = None
        if owner is not None and rval is not None and method == "INVITE" and rval[1] is not None:
            rval = (rval[0], self._on_cancel(owner, rval[1]), self._on_no_ack(owner, rval[2]))
        return rval

    def _on_cancel(self, owner: UaOwner, cancel_cb: Callable[..., Any]) -> Callable[..., Any]:
        def on_cancel(rtime: Any, creq: Any) -> None:
            owner.ua_cancel(creq)
            cancel_cb(rtime, creq)

        return on_cancel

    def _on_no_ack(self, owner: UaOwner, noack_cb: Callable[[], Any]) -> Callable[[], Any]:
        def on_noack() -> None:
            if self.isConnected():
                owner.ua_no_ack()
            noack_cb()

        return on_noack

    def recvResponse(self, resp: Any, tr: Any) -> Any:
        owner = self.owner
        if owner is None:
            return super().recvResponse(resp, tr)
        code = resp.getSCode()[0]
        if (
            code in (401, 407)
            and self.username is not None
            and resp.getHFBody("cseq").getCSeq()[1] == "INVITE"
        ):
            # let the transaction layer ACK the challenge before sippy
            # sends the authenticated INVITE (strict peers expect that order)
            owner.clock.callLater(0, self._recv_response_now, resp, tr)
            return None
        return self._recv_response_now(resp, tr)

    def _recv_response_now(self, resp: Any, tr: Any) -> Any:
        owner = self.owner
        if owner is None:
            return super().recvResponse(resp, tr)
        owner.ua_response(resp, False)
        try:
            return super().recvResponse(resp, tr)
        finally:
            owner.ua_response(resp, True)

    def genRequest(self, method: str, *args: Any, **kwargs: Any) -> Any:
        # sippy's transport check is case-sensitive; sipp sends transport=UDP.
        rt = self.rTarget
        if rt is not None and isinstance(rt.transport, str):
            rt.transport = rt.transport.lower()
        if self.rAddr is not None and isinstance(self.rAddr[1], str):
            self.rAddr = (self.rAddr[0], self.rAddr[1].lower())
        return super().genRequest(method, *args, **kwargs)

    def sendUasResponse(
        self,
        scode: int,
        reason: str,
        body: Any = None,
        contacts: Any = None,
        extra_headers: Any = None,
        ack_wait: bool = False,
    ) -> None:
        owner = self.owner
        if owner is not None and 200 <= scode < 300:
            extra = owner.ua_2xx_headers()
            if extra:
                extra_headers = tuple(extra_headers or ()) + tuple(make_headers(extra))
        super().sendUasResponse(scode, reason, body, contacts, extra_headers, ack_wait)

    # -- owner -> sippy ------------------------------------------------------------
    def _deliver(self, event: Any, headers: str = "") -> None:
        extra = make_headers(headers)
        if extra:
            event.extra_headers = tuple(extra)
        self.recvEvent(event)

    def ring(self, code: int, reason: str, sdp: str | None, headers: str = "") -> None:
        """Send a provisional reply to the INVITE."""
        self._deliver(CCEventRing((code, reason, sip_body(sdp))), headers)

    def pre_connect(self, code: int, reason: str, sdp: str | None, headers: str = "") -> None:
        """Send the 2xx; sippy then waits for the ACK and reports it as connected."""
        self._deliver(CCEventPreConnect((code, reason, sip_body(sdp))), headers)

    def fail(self, code: int, reason: str, headers: str = "") -> None:
        """Send a final error reply to the INVITE."""
        self._deliver(CCEventFail((code, reason)), headers)

    def disconnect(self, headers: str = "") -> None:
        """BYE when connected, CANCEL while dialling, 500 to an unanswered INVITE."""
        self._deliver(CCEventDisconnect(), headers)

    def reoffer(self, sdp: str | None, headers: str = "") -> None:
        """Send a re-INVITE with *sdp*."""
        self._deliver(CCEventUpdate(sip_body(sdp)), headers)

    def answer_offer(self, sdp: str) -> None:
        """Answer the peer's re-INVITE with 200 and *sdp*."""
        self.recvEvent(CCEventConnect((200, "OK", sip_body(sdp))))

    def refuse_offer(self) -> None:
        """Answer the peer's re-INVITE with 488."""
        self.recvEvent(CCEventFail((488, "Not Acceptable Here")))

    def adopt_update_sdp(self, offer_body: Any, answer: str) -> None:
        """An UPDATE offer/answer we handled: keep sippy's idea of the SDP current."""
        self.rSDP = offer_body.getCopy()
        self.lSDP = sip_body(answer)

    def request(
        self,
        method: str,
        body: str | None,
        content_type: str | None,
        headers: str,
        on_reply: Callable[[Any], None],
    ) -> int:
        """Send an in-dialog *method* (not INVITE); return its CSeq number."""
        req = self.genRequest(
            method, sip_body(body, content_type), extra_headers=make_headers(headers) or None
        )
        self.newTransaction(req, resp_cb=on_reply)
        return int(req.getHFBody("cseq").getCSeqNum())

    def place_call(
        self,
        from_uri: str,
        to_uri: str,
        ruri: str,
        sdp: str | None,
        callid: str | None,
        headers: list[tuple[str, str]],
    ) -> None:
        """Send the initial INVITE with the app's From/To/R-URI and headers."""
        url = SipURL(ruri)
        cid = SipCallId(callid) if callid else None
        event = _DialTry(
            (cid, url.username, url.username, sip_body(sdp), None, None), from_uri, to_uri, ruri
        )
        if headers:
            event.extra_headers = tuple(make_headers(headers))
        self.recvEvent(event)

    # -- what the leg reads ----------------------------------------------------------
    def url(self, which: str) -> Any:
        """The URL of ``lUri`` or ``rUri`` (None before there is one)."""
        hf = getattr(self, which, None)
        return hf.getUrl() if hf is not None else None

    def party(self, which: str) -> str:
        """``lUri``/``rUri`` as a name-addr without its tag ("" before there is one)."""
        hf = getattr(self, which, None)
        if hf is None:
            return ""
        addr = hf.getUri().getCopy()
        if "tag" in addr.params:
            addr.delParam("tag")
        return str(addr)


class _DialTry(CCEventTry):
    """CCEventTry that puts the app's From/To/R-URI in place before sending."""

    def __init__(self, data: tuple, from_uri: str, to_uri: str, ruri: str) -> None:
        super().__init__(data)
        self._leg_info = (from_uri, to_uri, ruri)

    def onUacSetupComplete(self, ua: Any) -> None:
        from_uri, to_uri, ruri = self._leg_info
        lfrom = SipFrom(address=sip_address(from_uri))
        lfrom.setTag(ua.lTag)
        ua.lUri = lfrom
        ua.rUri = SipTo(address=sip_address(to_uri))
        ua.rTarget = SipURL(ruri)
        ua.lContact.getUri().name = None
        curl = ua.lContact.getUrl()
        curl.username = lfrom.getUrl().username or CONTACT_USER
