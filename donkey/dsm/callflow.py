"""How a call's life looks to its DSM session: which events it sees, and when.

SEMS's DSM host runs a fixed sequence for every call, whatever carries it:
``start`` on creation, ``invite`` (when ``run_invite_event`` is on), an
automatic 200 unless the script answered or set ``$connect_session=0``, and
``sessionStart`` from the initial state once answered.  The live SIP call
(:mod:`donkey.app.call`) and the harness's recording call both start their
sessions here, so a script behaves the same in a test as on the wire.

Only the :class:`~donkey.dsm.protocols.CallHandle` of the session is used;
nothing here knows about SIP messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from donkey.dsm import events as ev
from donkey.dsm.events import Event

if TYPE_CHECKING:  # pragma: no cover
    from donkey.dsm.session import Session


def start_inbound(session: Session, diagram: str, run_invite_event: bool) -> None:
    """A new inbound call: ``start``, then ``invite`` and ``sessionStart``.

    With ``run_invite_event`` the script sees ``invite`` and may answer
    itself (``$connect_session=0``); if it has not replied afterwards the
    call is answered with 200.  Once answered (or given early media) the
    ``sessionStart`` event runs from the initial state again, as the
    quizconnect tutorial's monitoring output shows.
    """
    session.start(diagram, ev.START)
    if run_invite_event:
        session.post(Event(ev.INVITE, None))
        session.when_idle(lambda: _after_invite(session))
    else:
        session.when_idle(lambda: _answer_default(session))


def _after_invite(session: Session) -> None:
    call = session.call
    if session.stopped or call is None:
        return
    if not call.replied and session.vars.get("connect_session") != "0":
        call.accept_invite(200, "OK")
    if call.accepted:
        session.restart(ev.SESSION_START)


def _answer_default(session: Session) -> None:
    call = session.call
    if session.stopped or call is None:
        return
    call.accept_invite(200, "OK")
    session.post(Event(ev.SESSION_START, None))


def start_outbound(session: Session, diagram: str) -> None:
    """A call we placed: ``start`` and (with ``run_invite_event``) ``invite`` now."""
    session.start(diagram, ev.START)
    if session.app.run_invite_event:
        session.post(Event(ev.INVITE, None))


def outbound_connected(session: Session) -> None:
    """The callee answered: ``sessionStart`` (from the initial state with the invite run)."""
    if session.app.run_invite_event:
        session.restart(ev.SESSION_START)
    else:
        session.post(Event(ev.SESSION_START, None))
