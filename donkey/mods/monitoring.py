"""mod_monitoring: write a call's (or any table's) attributes to the monitoring store.

Actions, on this call's entry (keyed by its local tag)
    ``monitoring.set(name, value)``      set attribute ``name``
    ``monitoring.log(name, value)``      the same
    ``monitoring.add(name, value)``      append ``value`` to attribute ``name`` (a list)
    ``monitoring.logAdd(name, value)``   the same
    ``monitoring.logVars()``             set every DSM variable as an attribute

Actions on any entry ("global" tables, named by their first argument)
    ``monitoring.setGlobal(id, name, value)``
    ``monitoring.addGlobal(id, name, value)``
    ``monitoring.inc(id, name)`` / ``monitoring.dec(id, name)``   counters (SEMS has them
                                         in the code, not in its README)

No conditions.

The store is ``session.runtime.monitoring`` (a
:class:`donkey.monitoring.store.MonitoringStore`).  When donkey runs without
monitoring these actions do nothing and leave ``$errno`` alone: SEMS's
monitoring macros are no-ops when the monitoring module is not loaded, and a
script written for SEMS must not start failing its ``throwOnError()`` here.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm.module import Module, split_two

module = Module("mod_monitoring")


def _store(session: Any) -> Any:
    store = session.runtime.monitoring
    if store is None:
        session.log.debug("monitoring is not loaded: {ltag} not logged", ltag=session.ltag)
    return store


def _name_value(session: Any, event: Any, args: tuple) -> tuple[str, str]:
    return session.resolve(args[0], event), session.resolve(args[1], event)


@module.action("monitoring.logVars", split="raw")
def _log_vars(session, event, args):
    store = _store(session)
    if store is not None:
        store.update(session.ltag, dict(session.vars))


def _global_args(session: Any, event: Any, args: tuple) -> tuple[str, str, str]:
    """``id, name[, value]``: SEMS splits the rest at its first comma."""
    ident = session.resolve(args[0], event)
    name, value, found = split_two(args[1], ",")
    return (ident, session.resolve(name, event), session.resolve(value, event) if found else "")


def _this_call(session: Any, event: Any, args: tuple) -> tuple[str, str, str]:
    """``name, value`` on this call's entry."""
    return (session.ltag, *_name_value(session, event, args))


def _store_action(method: str, arguments):
    """An action that calls ``store.<method>(*arguments(...))`` when monitoring is loaded."""

    def action(session, event, args):
        store = _store(session)
        if store is not None:
            getattr(store, method)(*arguments(session, event, args))

    return action


for _names, _method, _arguments in (
    (("monitoring.set", "monitoring.log"), "set", _this_call),
    (("monitoring.add", "monitoring.logAdd"), "add", _this_call),
    (("monitoring.setGlobal",), "set", _global_args),
    (("monitoring.addGlobal",), "add", _global_args),
    (("monitoring.inc",), "inc", _name_value),
    (("monitoring.dec",), "dec", _name_value),
):
    for _name in _names:
        module.action(_name, split=",", optional=True)(_store_action(_method, _arguments))
