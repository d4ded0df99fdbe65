"""The core conditions: ``test()`` expressions and one condition per event type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from donkey.dsm import events as ev
from donkey.dsm.core.base import core
from donkey.dsm.module import ConditionFunc
from donkey.dsm.values import to_int


@dataclass(frozen=True, slots=True)
class TestExpr:
    """A compiled ``test()`` expression: ``lhs op rhs`` (or always true when empty)."""

    op: str
    lhs: str
    rhs: str
    lhs_len: bool
    rhs_len: bool

    def evaluate(self, session: Any, event: Any) -> bool:
        """Whether the expression holds for ``session`` now."""
        op = self.op
        if op == "":
            return True
        left = session.resolve(self.lhs, event)
        if self.lhs_len:
            left = str(len(left))
        right = session.resolve(self.rhs, event)
        if self.rhs_len:
            right = str(len(right))
        if op == "==":
            star = right.find("*")
            if star < 0:
                return left == right
            return len(left) >= star and left[:star] == right[:star]
        if op == "!=":
            return left != right
        li, ri = to_int(left), to_int(right)
        if li is not None and ri is not None and left.strip() == left and right.strip() == right:
            return li < ri if op == "<" else li > ri
        return left < right if op == "<" else left > right


def compile_test(args: tuple) -> tuple:
    """Compile a ``test()`` argument once, at load time; ``ValueError`` if it has no operator."""
    expr = args[0]
    if not expr.strip():
        return (TestExpr("", "", "", False, False),)
    for op in ("==", "!=", "<", ">"):
        p = expr.find(op)
        if p >= 0:
            lhs = expr[:p].strip(" ")
            rhs = expr[p + len(op) :].strip(" ")
            lhs_len = lhs.startswith("len(") and lhs.endswith(")") and len(lhs) > 5
            rhs_len = rhs.startswith("len(") and rhs.endswith(")") and len(rhs) > 5
            return (
                TestExpr(
                    op,
                    lhs[4:-1] if lhs_len else lhs,
                    rhs[4:-1] if rhs_len else rhs,
                    lhs_len,
                    rhs_len,
                ),
            )
    raise ValueError(f"expression '{expr}' not understood: expected ==, !=, < or >")


@core.condition("test", split="raw", prepare=compile_test)
def _test(session: Any, event: Any, args: tuple) -> bool:
    return args[0].evaluate(session, event)


def _event_condition(event_type: str) -> ConditionFunc:
    """A condition true for events of ``event_type`` whose test expression holds."""

    def condition(session: Any, event: Any, args: tuple) -> bool:
        return event.type == event_type and args[0].evaluate(session, event)

    return condition


EVENT_CONDITIONS = {
    ev.KEY: ("key", "keyTest"),
    ev.TIMER: ("timer", "timerTest"),
    ev.NO_AUDIO: ("noAudio", "noAudioTest"),
    ev.SEPARATOR: ("separator", "separatorTest"),
    ev.HANGUP: ("hangup",),
    ev.EVENT: ("event", "eventTest"),
    ev.B2B_EVENT: ("B2Bevent",),
    ev.INVITE: ("invite",),
    ev.EARLY: ("early", "earlySession"),
    ev.SESSION_START: ("sessionStart",),
    ev.RINGING: ("ringing",),
    ev.FAILED: ("failed",),
    ev.SIP_REQUEST: ("sipRequest",),
    ev.SIP_REPLY: ("sipReply",),
    ev.REMOTE_DISAPPEARED: ("remoteDisappeared",),
    ev.SESSION_TIMEOUT: ("sessionTimeout",),
    ev.RTP_TIMEOUT: ("rtpTimeout",),
    ev.STARTUP: ("startup",),
    ev.START: ("start",),
    ev.BEFORE_DESTROY: ("beforeDestroy",),
    ev.RELOAD: ("reload",),
    ev.SYSTEM: ("system",),
}

for _type, _names in EVENT_CONDITIONS.items():
    _cond = _event_condition(_type)
    for _cname in _names:
        core.condition(_cname, split="raw", prepare=compile_test)(_cond)


@core.condition("keyPress")
def _key_press(session: Any, event: Any, args: tuple) -> bool:
    return event.type == ev.KEY and event.params is not None and event.params.get("key") == args[0]
