"""Logging actions: ``log``/``logs`` and the level shorthands, and the variable dumps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import LogLevel

from donkey.dsm.core.base import core
from donkey.dsm.module import ActionFunc
from donkey.dsm.session import SELECTS
from donkey.dsm.values import to_uint_prefix

DSM_LOG_LEVELS = {0: LogLevel.error, 1: LogLevel.warn, 2: LogLevel.info, 3: LogLevel.debug}


def log_level(text: str) -> LogLevel | None:
    """A DSM log level (0 error .. 3 debug; higher is debug), or ``None`` if not a number."""
    n = to_uint_prefix(text)
    if n is None:
        return None
    return DSM_LOG_LEVELS.get(n, LogLevel.debug)


@core.action("log", split=",")
def _log(session: Any, event: Any, args: tuple) -> None:
    level = log_level(session.resolve(args[0], event))
    if level is None:
        session.log.error("unknown log level '{lvl}'", lvl=args[0])
        return
    text = session.resolve(args[1], event)
    session.log.emit(
        level,
        "FSM: {expr} '{text}'",
        dsm_log=True,
        expr=args[1] if args[1] != text else "",
        text=text,
    )


@core.action("logs", split=",")
def _logs(session: Any, event: Any, args: tuple) -> None:
    level = log_level(session.resolve(args[0], event))
    if level is None:
        session.log.error("unknown log level '{lvl}'", lvl=args[0])
        return
    session.log.emit(level, "FSM: '{text}'", dsm_log=True, text=session.interpolate(args[1], event))


def _fixed_level_log(level: LogLevel) -> ActionFunc:
    """``dbg``/``info``/``warn``/``error``: ``logs`` at a fixed level."""

    def action(session: Any, event: Any, args: tuple) -> None:
        session.log.emit(
            level, "FSM: '{text}'", dsm_log=True, text=session.interpolate(args[0], event)
        )

    return action


for _n, _lvl in (
    ("dbg", LogLevel.debug),
    ("info", LogLevel.info),
    ("warn", LogLevel.warn),
    ("error", LogLevel.error),
):
    core.action(_n)(_fixed_level_log(_lvl))


def _log_vars(session: Any, event: Any, level: LogLevel) -> None:
    snapshot = dict(sorted(session.vars.items()))
    lines = "\n".join(f"FSM:  ${k}='{v}'" for k, v in snapshot.items())
    session.log.emit(
        level,
        "FSM: variables set ---\n{lines}\nFSM: variables end ---",
        dsm_log=True,
        lines=lines,
        dsm_vars=snapshot,
    )


def _log_params(session: Any, event: Any, level: LogLevel) -> None:
    if event.params is None:
        session.log.emit(level, "FSM: no event params ---", dsm_log=True)
        return
    lines = "\n".join(f"FSM:  #{k}='{v}'" for k, v in sorted(event.params.items()))
    session.log.emit(
        level,
        "FSM: params set ---\n{lines}\nFSM: params end ---",
        dsm_log=True,
        lines=lines,
        dsm_params=dict(event.params),
    )


def _log_selects(session: Any, event: Any, level: LogLevel) -> None:
    lines = "\n".join(f"FSM:  @{s}='{session.select(s)}'" for s in SELECTS)
    session.log.emit(
        level, "FSM: selects set ---\n{lines}\nFSM: selects end ---", dsm_log=True, lines=lines
    )


def _level_action(*writers: Callable[[Any, Any, LogLevel], None]) -> ActionFunc:
    """``logVars`` and friends: the level argument, then each dump at that level."""

    def action(session: Any, event: Any, args: tuple) -> None:
        level = log_level(session.resolve(args[0], event))
        if level is None:
            session.log.error("unknown log level '{lvl}'", lvl=args[0])
            return
        for write in writers:
            write(session, event, level)

    return action


core.action("logVars")(_level_action(_log_vars))
core.action("logParams")(_level_action(_log_params))
core.action("logSelects")(_level_action(_log_selects))
core.action("logAll")(_level_action(_log_vars, _log_params, _log_selects))
