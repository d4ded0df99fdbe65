"""B2B call control: the ``B2B.*`` actions and the events the other leg raises.

A script bridges its caller (the A leg) to a callee it dials with
``B2B.connectCallee``; what the callee leg does arrives as ``B2B.otherReply``
(every reply to B's INVITE, ``#code``, ``#reason``, ``#hdrs``),
``B2B.otherBye`` (``#hdrs``; ``set(#processed=true)`` keeps the caller) and
``B2B.otherRequest``.  ``B2B.relayEvent`` raises ``B2Bevent`` in the other
leg.  Everything goes through :class:`~donkey.dsm.protocols.B2BHandle`
(``session.call.b2b``); the SIP and media side of it lives in
:mod:`donkey.app.b2b`.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm.core.base import core
from donkey.dsm.core.conditions import compile_test
from donkey.dsm.core.events import event_params_from_vars
from donkey.dsm.errors import DSMException
from donkey.dsm.protocols import B2BHandle

#: event types the B leg posts to the caller's session (the condition names)
OTHER_REPLY = "B2B.otherReply"
OTHER_BYE = "B2B.otherBye"
OTHER_REQUEST = "B2B.otherRequest"

#: session variables ``B2B.connectCallee`` reads (dsm_syntax.txt)
B2B_VARIABLES = (
    "b2b_local_party",
    "b2b_local_uri",
    "b2b_auth_user",
    "b2b_auth_pwd",
    "b2b_callid",
    "b2b_relayed_invite",
)


def require_b2b(session: Any, what: str) -> B2BHandle:
    """The call's B2B control; SEMS's ``script`` exception outside a call."""
    if session.call is None:
        raise DSMException("script", cause=f"{what} used without B2B call")
    handle: B2BHandle = session.call.b2b
    return handle


def connect_callee(session: Any, party: str, uri: str, relayed: bool, rtp_relay: bool) -> None:
    """Dial the B leg with the ``$b2b_*`` settings of ``session``."""
    v = session.vars
    handle = require_b2b(session, "B2B.connectCallee")
    try:
        handle.connect_callee(
            party,
            uri,
            local_party=v.get("b2b_local_party", ""),
            local_uri=v.get("b2b_local_uri", ""),
            auth_user=v.get("b2b_auth_user", ""),
            auth_pwd=v.get("b2b_auth_pwd", ""),
            callid=v.get("b2b_callid", ""),
            relayed_invite=relayed,
            rtp_relay=rtp_relay,
        )
    except Exception as e:  # no SIP stack, an unusable URI: the script sees $errno
        session.log.error("B2B.connectCallee({uri}) failed: {e}", uri=uri, e=str(e))
        session.set_errno("general", f"connecting callee failed: {e}\n")
        return
    session.clear_errno()


@core.action("B2B.connectCallee", split=",")
def _connect_callee(session: Any, event: Any, args: tuple) -> None:
    relayed = session.vars.get("b2b_relayed_invite", "") == "true"
    connect_callee(
        session, session.resolve(args[0], event), session.resolve(args[1], event), relayed, False
    )


@core.action("B2B.terminateOtherLeg")
def _terminate_other_leg(session: Any, event: Any, args: tuple) -> None:
    require_b2b(session, "B2B.terminateOtherLeg").terminate_other_leg()


@core.action("B2B.sendReinvite", split=",", optional=True)
def _send_reinvite(session: Any, event: Any, args: tuple) -> None:
    generate = session.resolve(args[0], event) == "true"
    headers = session.resolve(args[1], event).replace("\\r\\n", "\r\n")
    if headers and not headers.endswith("\r\n"):
        headers += "\r\n"
    require_b2b(session, "B2B.sendReinvite").send_reinvite(generate, headers)


@core.action("B2B.enableEarlyMediaRelay")
def _early_media_relay(session: Any, event: Any, args: tuple) -> None:
    enabled = session.resolve(args[0], event) == "true"
    require_b2b(session, "B2B.enableEarlyMediaRelay").set_early_media_relay(enabled)


@core.action("B2B.setRelayOnly")
def _set_relay_only(session: Any, event: Any, args: tuple) -> None:
    enabled = session.resolve(args[0], event) == "true"
    require_b2b(session, "B2B.setRelayOnly").set_relay_only(enabled)


@core.action("B2B.addHeader")
def _add_header(session: Any, event: Any, args: tuple) -> None:
    require_b2b(session, "B2B.addHeader").add_header(session.resolve(args[0], event))


@core.action("B2B.removeHeader")
def _remove_header(session: Any, event: Any, args: tuple) -> None:
    require_b2b(session, "B2B.removeHeader").remove_header(session.resolve(args[0], event))


@core.action("B2B.clearHeaders")
def _clear_headers(session: Any, event: Any, args: tuple) -> None:
    require_b2b(session, "B2B.clearHeaders").clear_headers()


@core.action("B2B.setHeaders", split=",", optional=True)
def _set_headers(session: Any, event: Any, args: tuple) -> None:
    replace_crlf = session.resolve(args[1], event) == "true"
    require_b2b(session, "B2B.setHeaders").set_headers(
        session.resolve(args[0], event), replace_crlf
    )


@core.action("B2B.relayEvent")
def _relay_event(session: Any, event: Any, args: tuple) -> None:
    spec = session.resolve(args[0], event)
    params = event_params_from_vars(session.vars, spec)
    if require_b2b(session, "B2B.relayEvent").relay_event(params):
        session.clear_errno()
    else:
        session.set_errno("general", "no other leg to relay the event to\n")


def _other_leg_condition(event_type: str) -> Any:
    def condition(session: Any, event: Any, args: tuple) -> bool:
        return bool(event.type == event_type and args[0].evaluate(session, event))

    return condition


for _name in (OTHER_REPLY, OTHER_BYE, OTHER_REQUEST):
    core.condition(_name, split="raw", prepare=compile_test)(_other_leg_condition(_name))


class InviteHeaders:
    """The extra headers of B's INVITE as ``B2B.addHeader`` and friends edit them.

    SEMS keeps one header string and makes sure it ends in CRLF after every
    change; the live B2B call and the harness's fake both keep theirs here.
    """

    def __init__(self) -> None:
        self.text = ""

    def _terminate(self) -> None:
        if len(self.text) > 2 and not self.text.endswith("\r\n"):
            self.text += "\r\n"

    def add(self, header: str) -> None:
        self.text += header
        self._terminate()

    def remove(self, name: str) -> None:
        wanted = name.strip().lower()
        lines = [line for line in self.text.split("\r\n") if line]
        kept = [line for line in lines if line.split(":", 1)[0].strip().lower() != wanted]
        self.text = "".join(line + "\r\n" for line in kept)

    def clear(self) -> None:
        self.text = ""

    def set(self, headers: str, replace_crlf: bool = False) -> None:
        """Without ``replace_crlf`` the headers replace the old ones; with it they are added."""
        if replace_crlf:
            self.text += headers.replace("\\r\\n", "\r\n")
        else:
            self.text = headers
        self._terminate()
