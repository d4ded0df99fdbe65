"""Timers, events between sessions, event queues and system DSMs."""

from __future__ import annotations

from typing import Any

from donkey.dsm import events as ev
from donkey.dsm.core.base import core
from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.values import to_uint_prefix


@core.action("setTimer", split=",")
def _set_timer(session: Any, event: Any, args: tuple) -> None:
    timer_id = to_uint_prefix(session.resolve(args[0], event))
    timeout = to_uint_prefix(session.resolve(args[1], event))
    if timer_id is None:
        session.set_errno("arg", f"timer id '{session.resolve(args[0], event)}' not decipherable\n")
        return
    if timeout is None:
        session.set_errno(
            "arg", f"timeout value '{session.resolve(args[1], event)}' not decipherable\n"
        )
        return
    session.set_timer(timer_id, timeout)
    session.clear_errno()


@core.action("removeTimer")
def _remove_timer(session: Any, event: Any, args: tuple) -> None:
    timer_id = to_uint_prefix(session.resolve(args[0], event))
    if timer_id is None:
        session.set_errno("arg", f"timer id '{session.resolve(args[0], event)}' not decipherable\n")
        return
    session.remove_timer(timer_id)
    session.clear_errno()


@core.action("removeTimers")
def _remove_timers(session: Any, event: Any, args: tuple) -> None:
    session.remove_timers()
    session.clear_errno()


def event_params_from_vars(variables: dict[str, str], spec: str) -> dict[str, str]:
    """``postEvent``'s variable list: ``a;b;st.`` (struct prefix) or ``var`` (all)."""
    if not spec:
        return {}
    if spec == "var":
        return dict(variables)
    params: dict[str, str] = {}
    for name in spec.split(";"):
        if name.endswith("."):
            for key, value in variables.items():
                if key.startswith(name):
                    params[key] = value
        elif name in variables:
            params[name] = variables[name]
    return params


@core.action("postEvent", split=",", optional=True)
def _post_event(session: Any, event: Any, args: tuple) -> None:
    target = session.resolve(args[0], event)
    params = event_params_from_vars(session.vars, session.resolve(args[1], event))
    if session.runtime.sessions.post_event(target, Event(ev.EVENT, params)):
        session.clear_errno()
    else:
        session.set_errno("arg", "event could not be posted\n")


@core.action("registerEventQueue")
def _register_queue(session: Any, event: Any, args: tuple) -> None:
    session.runtime.sessions.register_queue(session.resolve(args[0], event), session)


@core.action("unregisterEventQueue")
def _unregister_queue(session: Any, event: Any, args: tuple) -> None:
    session.runtime.sessions.unregister_queue(session.resolve(args[0], event), session)


@core.action("createSystemDSM", split=",")
def _create_system_dsm(session: Any, event: Any, args: tuple) -> None:
    conf = session.resolve(args[0], event)
    script = session.resolve(args[1], event)
    if not conf or not script:
        raise DSMException(
            "core",
            cause="parameters missing - need both conf_name and script_name for createSystemDSM",
        )
    ok, status = session.runtime.create_system_dsm(conf, script)
    if not ok:
        raise DSMException("core", cause=status)
