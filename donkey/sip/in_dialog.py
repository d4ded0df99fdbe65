"""In-dialog requests other than INVITE/BYE: what sippy does not do for us.

sippy's UA answers nothing but re-INVITE and BYE inside a dialog.  SEMS
lets the application see and answer every other request (``sipRequest``
events and ``dlg.replyRequest``) and send its own (``dlg.sendRequest``,
``dlg.refer``), with a reply event for each.  :class:`InDialogRequests`
does both for one leg:

* a request the app takes over stays *pending* until the app answers it;
  a guard answers 500 after :data:`GUARD_SECONDS` so the peer is never left
  without a final reply, and keeps sippy's server transaction alive
  meanwhile;
* a request the app does not take gets SEMS' default reply (200 for INFO,
  NOTIFY, MESSAGE, OPTIONS; 202 for a REFER with Refer-To; 501 otherwise);
* INFO carrying DTMF (``application/dtmf-relay``, ``application/dtmf``) is
  answered here and reported as a key press.

UPDATE is the leg's business (it is an offer/answer and a session refresh);
this module only parses its bodies the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sippy.Time.Timeout import Timeout
from twisted.logger import Logger

from donkey.common.dtmf import key_from_char
from donkey.sip.headers import SipHeaders, make_headers
from donkey.sip.ua import SippyAnswer, sip_body

if TYPE_CHECKING:
    from donkey.sip.ua import LegUA

log = Logger(namespace="donkey.sip.in_dialog")

#: seconds an app-owned request may stay unanswered before we answer 500
GUARD_SECONDS = 30.0

#: what an untaken request gets (REFER is special-cased, the rest get 501)
DEFAULT_REPLY = {"INFO": 200, "NOTIFY": 200, "MESSAGE": 200, "OPTIONS": 200, "UPDATE": 200}

DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
_INFO_DTMF_DURATION = 250


class ResponseSender(Protocol):
    """What answering a request needs from the stack."""

    @property
    def user_agent(self) -> str:
        """The ``Server`` header value."""
        ...

    def send_response(self, resp: Any, sip_t: Any) -> None:
        """Send *resp* on sippy server transaction *sip_t*."""
        ...


class RequestOwner(Protocol):
    """What :class:`InDialogRequests` needs from its leg."""

    @property
    def callid(self) -> str:
        """The dialog's Call-ID (for request info and log lines)."""
        ...

    @property
    def listening(self) -> bool:
        """True while a listener is attached to hear about requests."""
        ...

    def notify(self, name: str, *args: Any) -> Any:
        """Call the listener's *name* method; None if it has none or it failed."""
        ...

    def update_reply_headers(self) -> str:
        """Session-timer headers our final reply to an UPDATE must carry."""
        ...

    def remote_gone(self, code: int, reason: str) -> None:
        """Our request got 408/481: the dialog is gone on the other side."""
        ...

    def capability_headers(self, extra: str = "") -> str:
        """``Allow`` and ``Supported`` for an OPTIONS reply (plus *extra*)."""
        ...


def parse_dtmf_info(content_type: str, body: str) -> tuple[int | None, int]:
    """``(key, duration_ms)`` from an INFO body; ``(None, 250)`` when unparsable."""
    if content_type == "application/dtmf":
        return _key(body.strip()), _INFO_DTMF_DURATION
    key, duration = None, _INFO_DTMF_DURATION
    for line in body.replace("\r", "").split("\n"):
        name, _, value = line.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "signal":
            key = _key(value)
        elif name == "duration":
            try:
                duration = int(value)
            except ValueError:
                pass
    return key, duration


def _key(text: str) -> int | None:
    """A key character or its number (``"#"``, ``"11"``); None for anything else."""
    if text.isdigit():
        number = int(text)
        return number if number <= 15 else None
    try:
        return key_from_char(text)
    except ValueError:
        return None


def request_info(req: Any, callid: str) -> dict[str, Any]:
    """What the app sees of a request (SEMS ``sipRequest`` event parameters)."""
    h = SipHeaders.from_msg(req)
    body = req.getBody()
    return {
        "method": req.getMethod(),
        "r_uri": str(req.getRURI()),
        "from": str(req.getHFBody("from")),
        "to": str(req.getHFBody("to")),
        "callid": callid,
        "hdrs": h.raw,
        "headers": h,
        "content_type": body.getType() if body is not None else "",
        "body": str(body) if body is not None else "",
        "cseq": req.getHFBody("cseq").getCSeqNum(),
    }


def reply_info(code: int, reason: str, resp: Any = None) -> dict[str, Any]:
    """What the app sees of a reply (SEMS ``sipReply`` event parameters)."""
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


def respond(
    req: Any, user_agent: str, code: int, reason: str, headers: str = "", body: Any = None
) -> SippyAnswer:
    """A reply to *req* in the form sippy's request callbacks return."""
    resp = req.genResponse(code, reason, body, server=user_agent)
    extra = make_headers(headers)
    if extra:
        resp.appendHeaders(extra)
    return (resp, None, None)


class _DetachedOwner:
    """The owner of a closed :class:`InDialogRequests`: hears nothing, answers nothing.

    A closed helper lets go of its leg (leg -> helper -> leg would leave the
    pair to the cycle collector); a reply sippy still delivers to one of our
    requests after the dialog died lands here.
    """

    callid = ""
    listening = False

    def notify(self, name: str, *args: Any) -> Any:
        return None

    def update_reply_headers(self) -> str:
        return ""

    def remote_gone(self, code: int, reason: str) -> None:
        return None

    def capability_headers(self, extra: str = "") -> str:
        return extra


_DETACHED: RequestOwner = _DetachedOwner()


class InDialogRequests:
    """The pending and sent in-dialog requests of one leg (see module docstring)."""

    def __init__(self, owner: RequestOwner, host: ResponseSender) -> None:
        self._owner = owner
        self._host = host
        #: CSeq -> (request, sippy server transaction, guard timer or None)
        self._pending: dict[int, tuple[Any, Any, Any]] = {}
        #: CSeq -> method of the requests the app sent and awaits replies to
        self._sent: dict[int, str] = {}

    @property
    def pending(self) -> list[int]:
        """CSeq numbers of the requests still waiting for the app's answer."""
        return sorted(self._pending)

    def receive(self, req: Any, sip_t: Any) -> SippyAnswer | None:
        """A request sippy left to us; None when the app answers it (now or later)."""
        method = req.getMethod()
        body = req.getBody()
        ctype = body.getType() if body is not None else ""
        if method == "INFO" and ctype in DTMF_TYPES:
            key, duration = parse_dtmf_info(ctype, str(body))
            if key is not None:
                self._owner.notify("on_info_dtmf", key, duration)
            return respond(req, self._host.user_agent, 200, "OK")
        info = request_info(req, self._owner.callid)
        cseq = info["cseq"]
        # Pending before the listener hears of it: a DSM session runs the
        # sipRequest event (and its dlg.replyRequest) inside on_request.
        self._pending[cseq] = (req, sip_t, None)
        taken = bool(self._owner.notify("on_request", method, info))
        if cseq not in self._pending:
            return None  # answered already, from inside on_request
        if taken and self._owner.listening:
            # keep sippy's server transaction alive until the app answers
            guard = Timeout(self._guard_expired, GUARD_SECONDS, 1, cseq)
            sip_t.teF = guard
            self._pending[cseq] = (req, sip_t, guard)
            return None
        del self._pending[cseq]
        user_agent = self._host.user_agent
        if method == "REFER":
            if req.countHFs("refer-to"):
                return respond(req, user_agent, 202, "Accepted")
            return respond(req, user_agent, 400, "Bad Request")
        code = DEFAULT_REPLY.get(method)
        if code is None:
            return respond(req, user_agent, 501, "Not Implemented")
        extra = self._owner.capability_headers() if method == "OPTIONS" else ""
        return respond(req, user_agent, code, "OK", extra)

    def answer(
        self,
        cseq: int,
        code: int,
        reason: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> bool:
        """Answer the pending request *cseq*; False if there is none."""
        pend = self._pending.get(cseq)
        if pend is None:
            return False
        req, sip_t, _guard = pend
        if code >= 200:
            del self._pending[cseq]
        resp = req.genResponse(
            code, reason, sip_body(body, content_type), server=self._host.user_agent
        )
        extra = make_headers(headers)
        if extra:
            resp.appendHeaders(extra)
        if code >= 200 and req.getMethod() == "UPDATE":
            timer_headers = self._owner.update_reply_headers()
            if timer_headers:
                resp.appendHeaders(make_headers(timer_headers))
        self._host.send_response(resp, sip_t)
        return True

    def send(
        self,
        ua: LegUA,
        method: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> int:
        """Send *method* in the dialog; its final reply goes to ``on_reply``."""
        cseq = ua.request(
            method, body, content_type or "application/sdp", headers, self._reply_received
        )
        self._sent[cseq] = method
        return cseq

    def close(self) -> None:
        """The dialog is gone: drop what is pending (sippy's transactions end with it)."""
        for _req, _sip_t, guard in self._pending.values():
            if guard is not None:
                guard.cancel()
        self._pending.clear()
        self._owner = _DETACHED  # why: see _DetachedOwner

    def _guard_expired(self, cseq: int) -> None:
        pend = self._pending.get(cseq)
        if pend is not None:
            log.info(
                "{call_id}: request {cseq} unanswered, replying 500",
                call_id=self._owner.callid,
                cseq=cseq,
            )
            pend[1].teF = None
            self.answer(cseq, 500, "Server Internal Error")

    def _reply_received(self, resp: Any) -> None:
        code, reason = resp.getSCode()
        if code < 200:
            return
        cseq, _method = resp.getHFBody("cseq").getCSeq()
        self._sent.pop(cseq, None)
        self._owner.notify("on_reply", code, reason, reply_info(code, reason, resp))
        if code in (408, 481):
            self._owner.remote_gone(code, reason)
