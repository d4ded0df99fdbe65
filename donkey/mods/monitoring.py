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


@module.action("monitoring.set", split=",", optional=True)
@module.action("monitoring.log", split=",", optional=True)
def _set(session, event, args):
    store = _store(session)
    if store is not None:
        store.set(session.ltag, *_name_value(session, event, args))


@module.action("monitoring.add", split=",", optional=True)
@module.action("monitoring.logAdd", split=",", optional=True)
def _add(session, event, args):
    store = _store(session)
    if store is not None:
        store.add(session.ltag, *_name_value(session, event, args))


@module.action("monitoring.logVars", split="raw")
def _log_vars(session, event, args):
    store = _store(session)
    if store is not None:
        store.update(session.ltag, dict(session.vars))


def _global_args(session: Any, event: Any, args: tuple) -> tuple[str, str, str]:
    """``id, name[, value]``: SEMS splits the rest at its first comma."""
    ident = session.resolve(args[0], event)
    name, value, found = split_two(args[1], ",")
    return (ident, session.resolve(name, event),
            session.resolve(value, event) if found else "")


@module.action("monitoring.setGlobal", split=",", optional=True)
def _set_global(session, event, args):
    store = _store(session)
    if store is not None:
        store.set(*_global_args(session, event, args))


@module.action("monitoring.addGlobal", split=",", optional=True)
def _add_global(session, event, args):
    store = _store(session)
    if store is not None:
        store.add(*_global_args(session, event, args))


@module.action("monitoring.inc", split=",", optional=True)
def _inc(session, event, args):
    store = _store(session)
    if store is not None:
        store.inc(*_name_value(session, event, args))


@module.action("monitoring.dec", split=",", optional=True)
def _dec(session, event, args):
    store = _store(session)
    if store is not None:
        store.dec(*_name_value(session, event, args))
