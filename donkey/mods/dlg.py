"""mod_dlg: dialog control from DSM scripts.

Actions: ``dlg.reply(code, reason)``, ``dlg.replyRequest(code, reason)``,
``dlg.acceptInvite([code, reason])``, ``dlg.bye([headers])``,
``dlg.dialout(arrayname)``, ``dlg.getOtherId(varname)``,
``dlg.refer(refer_to[, expires])``, ``dlg.info(content_type, body)``,
``dlg.relayReply(code, reason)`` / ``dlg.relayError``,
``dlg.getRequestBody(content_type, dstvar)``, ``dlg.getReplyBody(content_type, dstvar)``,
``dlg.addReplyBodyPart(content_type, payload)``, ``dlg.deleteReplyBodyPart(content_type)``,
``dlg.connectCalleeRelayed(remote_party, remote_uri)`` (B2B with relayed INVITE
and donkey relaying the RTP), ``dlg.getRtpRelayMode(varname)``.
Conditions: ``dlg.requestHasContentType(ct)``, ``dlg.replyHasContentType(ct)``.

``$dlg.reply.hdrs`` adds headers to replies (``\\r\\n`` written as text is
turned into line ends).  Failures set ``$errno`` (``arg``, ``general``) as in
SEMS; in a system DSM every action throws a ``core`` exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from donkey.dsm.core.b2b import connect_callee
from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import Module
from donkey.dsm.session import Session
from donkey.dsm.values import to_uint_prefix

Args = tuple[str, ...]

module = Module("mod_dlg")


@dataclass
class DialoutRequest:
    """What ``dlg.dialout(name)`` asks the SIP layer for (from ``$name_*`` variables)."""

    app: str
    caller: str
    callee: str
    domain: str
    r_uri: str
    from_hdr: str
    to_hdr: str
    from_uri: str = ""
    auth_user: str = ""
    auth_pwd: str = ""
    ltag: str = ""
    headers: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    parent: str = ""  # local tag of the session that dialled


def line_ends(text: str) -> str:
    """Scripts write CRLF as the four characters ``\\r\\n``."""
    return text.replace("\\r\\n", "\r\n")


def _code_reason(
    session: Session, event: Event, args: Args, default_code: int, default_reason: str
) -> tuple[int, str] | None:
    code_text = session.resolve(args[0], event) if args and args[0] else ""
    reason = session.resolve(args[1], event) if len(args) > 1 and args[1] else ""
    if not code_text:
        return default_code, reason or default_reason
    code = to_uint_prefix(code_text)
    if code is None or not 100 <= code <= 699:
        session.set_errno("arg", f"invalid reply code '{code_text}'\n")
        return None
    return code, reason


def _attempt(
    session: Session, what: str, errno: str, func: Callable[..., object], *args: object
) -> bool:
    """Run a dialog operation; its failure sets ``$errno`` (SEMS does not throw here)."""
    try:
        func(*args)
    except Exception as e:  # the dialog refused (already answered, gone, bad state)
        session.set_errno(errno, f"{what}: {e}\n")
        return False
    session.clear_errno()
    return True


def _reply_headers(session: Session) -> str:
    return line_ends(session.vars.get("dlg.reply.hdrs", ""))


@module.action("dlg.reply", split=",")
def reply(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.reply")
    answer = _code_reason(session, event, args, 200, "OK")
    if answer is None:
        return
    code, reason = answer
    _attempt(session, "dlg.reply", "general", call.reply, code, reason, _reply_headers(session))


@module.action("dlg.replyRequest", split=",")
def reply_request(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.replyRequest")
    request = session.objects.get("dlg.request")
    if request is None:
        raise DSMException("dlg", text="dlg.replyRequest used outside a sipRequest event")
    answer = _code_reason(session, event, args, 200, "OK")
    if answer is None:
        return
    code, reason = answer
    call.reply_request(request, code, reason, _reply_headers(session))
    session.clear_errno()


@module.action("dlg.acceptInvite", split=",", optional=True)
def accept_invite(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.acceptInvite")
    answer = _code_reason(session, event, args, 200, "OK")
    if answer is None:
        return
    code, reason = answer
    try:
        accepted = call.accept_invite(code, reason, _reply_headers(session))
    except Exception as e:
        session.set_errno("dlg", f"dlg.acceptInvite: {e}\n")
        return
    if accepted is False:  # the offer could not be answered: the call got 488
        session.set_errno("dlg", "Error accepting call: 488 Not Acceptable Here\n")
        return
    session.clear_errno()


@module.action("dlg.bye")
def bye(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.bye")
    _attempt(session, "dlg.bye", "general", call.bye, line_ends(session.resolve(args[0], event)))


@module.action("dlg.dialout")
def dialout(session: Session, event: Event, args: Args) -> None:
    name = session.resolve(args[0], event)
    v = session.vars

    def get(suffix: str) -> str:
        return v.get(name + suffix, "")

    missing = [s for s in ("_caller", "_callee", "_domain", "_app") if (name + s) not in v]
    if missing:
        session.set_errno(
            "arg", f"need {', '.join(name + m for m in missing)} set for dlg.dialout({name})\n"
        )
        session.vars[name + "_ltag"] = ""
        return
    caller, callee, domain = get("_caller"), get("_callee"), get("_domain")
    prefix = name + "_var."
    request = DialoutRequest(
        app=get("_app"),
        caller=caller,
        callee=callee,
        domain=domain,
        r_uri=get("_r_uri") or f"sip:{callee}@{domain}",
        from_hdr=get("_from") or f"<sip:{caller}@{domain}>",
        to_hdr=get("_to") or f"<sip:{callee}@{domain}>",
        from_uri=get("_from_uri") or f"sip:{caller}@{domain}",
        auth_user=get("_auth_user"),
        auth_pwd=get("_auth_pwd"),
        ltag=get("_ltag"),
        headers=line_ends(get("_hdrs")),
        variables={k[len(prefix) :]: val for k, val in v.items() if k.startswith(prefix)},
        parent=session.ltag,
    )
    try:
        ltag = session.runtime.dialout(request)
    except Exception as e:
        session.log.error("dlg.dialout({name}) failed: {e}", name=name, e=str(e))
        session.vars[name + "_ltag"] = ""
        session.set_errno("general", f"dialout failed: {e}\n")
        return
    session.vars[name + "_ltag"] = ltag
    session.clear_errno()


@module.action("dlg.getOtherId")
def get_other_id(session: Session, event: Event, args: Args) -> None:
    name = args[0].lstrip("$")
    session.vars[name] = session.call.other_id if session.call else ""


@module.action("dlg.refer", split=",", optional=True)
def refer(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.refer")
    target = session.resolve(args[0], event)
    expires = to_uint_prefix(session.resolve(args[1], event) or "0") or 0
    _attempt(session, "dlg.refer", "general", call.refer, target, expires)


@module.action("dlg.info", split=",")
def info(session: Session, event: Event, args: Args) -> None:
    call = session.require_call("dlg.info")
    content_type = session.resolve(args[0], event)
    body = line_ends(session.resolve(args[1], event))
    _attempt(
        session,
        "dlg.info",
        "general",
        lambda: call.send_request("INFO", body=body, content_type=content_type),
    )


@module.action("dlg.relayReply", split=",")
def relay_reply(session: Session, event: Event, args: Args) -> None:
    reply_request(session, event, args)


module.actions["dlg.relayError"] = module.actions["dlg.relayReply"]


def _body_of(message: Mapping[str, Any] | None, content_type: str) -> str | None:
    if message is None:
        return None
    wanted = content_type.lower()
    for part_type, payload in message.get("parts", ()):
        if part_type.split(";")[0].strip().lower() == wanted:
            return str(payload)
    if message.get("content_type", "").split(";")[0].strip().lower() == wanted:
        return message.get("body", "")
    return None


def _reply_in_hand(session: Session) -> dict[str, Any]:
    reply = session.objects.get("dlg.reply")
    if not isinstance(reply, dict):
        raise DSMException("dlg", cause="no reply")
    return reply


@module.action("dlg.addReplyBodyPart", split=",")
def add_reply_body_part(session: Session, event: Event, args: Args) -> None:
    """Another body part in the reply of a ``sipReply`` event (SEMS: a multipart body then)."""
    reply = _reply_in_hand(session)
    parts = reply.setdefault("parts", [])
    if not parts and reply.get("content_type"):
        parts.append((reply["content_type"], reply.get("body", "")))
    parts.append((session.resolve(args[0], event), session.resolve(args[1], event)))
    reply["content_type"] = parts[0][0] if len(parts) == 1 else "multipart/mixed"


@module.action("dlg.deleteReplyBodyPart")
def delete_reply_body_part(session: Session, event: Event, args: Args) -> None:
    """Drop the part of one content type from the reply of a ``sipReply`` event."""
    reply = _reply_in_hand(session)
    wanted = session.resolve(args[0], event).lower()
    parts = reply.setdefault("parts", [])
    if not parts and reply.get("content_type"):
        parts.append((reply["content_type"], reply.get("body", "")))
    parts[:] = [p for p in parts if p[0].split(";")[0].strip().lower() != wanted]
    if len(parts) == 1:
        reply["content_type"], reply["body"] = parts[0]
    elif not parts:
        reply["content_type"], reply["body"] = "", ""


@module.action("dlg.connectCalleeRelayed", split=",")
def connect_callee_relayed(session: Session, event: Event, args: Args) -> None:
    """``B2B.connectCallee`` in relayed INVITE mode, with donkey relaying the RTP."""
    party, uri = session.resolve(args[0], event), session.resolve(args[1], event)
    connect_callee(session, party, uri, True, True)


@module.action("dlg.getRtpRelayMode")
def get_rtp_relay_mode(session: Session, event: Event, args: Args) -> None:
    name = args[0].lstrip("$")
    if session.call is None:
        return  # SEMS: a script error without a B2B session, nothing set
    session.vars[name] = session.call.b2b.rtp_relay_mode


@module.action("dlg.getRequestBody", split=",")
def get_request_body(session: Session, event: Event, args: Args) -> None:
    dst = args[1].lstrip("$")
    body = _body_of(session.objects.get("dlg.request"), session.resolve(args[0], event))
    if body is None:
        session.vars.pop(dst, None)
    else:
        session.vars[dst] = body


@module.action("dlg.getReplyBody", split=",")
def get_reply_body(session: Session, event: Event, args: Args) -> None:
    dst = args[1].lstrip("$")
    body = _body_of(session.objects.get("dlg.reply"), session.resolve(args[0], event))
    if body is None:
        session.vars.pop(dst, None)
    else:
        session.vars[dst] = body


@module.condition("dlg.requestHasContentType")
def request_has_content_type(session: Session, event: Event, args: Args) -> bool:
    return _body_of(session.objects.get("dlg.request"), session.resolve(args[0], event)) is not None


@module.condition("dlg.replyHasContentType")
def reply_has_content_type(session: Session, event: Event, args: Args) -> bool:
    return _body_of(session.objects.get("dlg.reply"), session.resolve(args[0], event)) is not None
