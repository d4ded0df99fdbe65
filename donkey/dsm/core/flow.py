"""Flow actions: moving between diagrams, stopping, and raising DSM exceptions."""

from __future__ import annotations

from typing import Any

from donkey.dsm.core.base import core
from donkey.dsm.errors import DSMException
from donkey.dsm.module import BREAK, REPOST, RETURN, FlowSignal, call, jump


@core.action("repost")
def _repost(session: Any, event: Any, args: tuple) -> FlowSignal:
    return REPOST


@core.action("jumpFSM")
def _jump(session: Any, event: Any, args: tuple) -> FlowSignal:
    return jump(session.resolve(args[0], event))


@core.action("callFSM")
def _call(session: Any, event: Any, args: tuple) -> FlowSignal:
    return call(session.resolve(args[0], event))


@core.action("returnFSM")
def _return(session: Any, event: Any, args: tuple) -> FlowSignal:
    return RETURN


@core.action("break")
def _break(session: Any, event: Any, args: tuple) -> FlowSignal:
    return BREAK


@core.action("stop")
def _stop(session: Any, event: Any, args: tuple) -> None:
    session.stop(session.resolve(args[0], event) == "true" if args[0] else True)


@core.action("throw", split=",", optional=True)
def _throw(session: Any, event: Any, args: tuple) -> None:
    params = {"type": session.resolve(args[0], event)}
    extra = session.resolve(args[1], event)
    if extra:
        for item in extra.split(";"):
            parts = item.split("=")
            if len(parts) == 2:
                params[parts[0]] = parts[1]
    raise DSMException.from_params(params)


@core.action("throwOnError")
def _throw_on_error(session: Any, event: Any, args: tuple) -> None:
    errno = session.vars.setdefault("errno", "")
    if not errno:
        return
    raise DSMException(errno, text=session.vars.setdefault("strerror", ""))
