"""The connection, statement and result actions of ``mod_mysql``, and its conditions."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred

from donkey.dsm.values import to_uint_prefix
from donkey.mods.mysql import work
from donkey.mods.mysql.base import (
    CONNECTION,
    RESULT,
    failed,
    int_arg,
    module,
    run,
    session_handle,
    set_row,
)
from donkey.mods.mysql.binding import inline, prepare_query, prepare_raw_query, render
from donkey.mods.mysql.pool import DEFAULT_POOL_SIZE, E_QUERY, E_RESULT, Handle, databases
from donkey.mods.mysql.results import DBResult, as_text
from donkey.mods.mysql.urls import parse_url


@module.action("mysql.connect")
def _connect(session: Any, event: Any, args: tuple) -> Deferred | None:
    url = session.resolve(args[0], event) if args[0] else ""
    url = url or session.vars.get("config.db_url", "")
    try:
        target = parse_url(url)
    except ValueError as e:
        session.log.error("mysql.connect: {err}", err=str(e))
        session.set_errno("arg", str(e))
        return None
    ca = session.vars.get("config.mysql_ca_cert", "")
    if ca and not os.access(ca, os.R_OK):
        session.set_errno("config", f"cannot access mysql_ca_cert file {ca}")
        return None
    size = to_uint_prefix(session.vars.get("config.mysql_pool_size", "")) or DEFAULT_POOL_SIZE
    db = databases(session.runtime).get(target, size, ca)
    handle = Handle(db)

    def connected(_: Any) -> None:
        session.objects[CONNECTION] = handle
        session.clear_errno()

    d = db.run(work.ping)
    d.addCallbacks(connected, lambda f: failed(session, handle, f))
    return d


@module.action("mysql.disconnect")
def _disconnect(session: Any, event: Any, args: tuple) -> None:
    handle = session_handle(session)
    if handle is None:
        return
    handle.close()
    del session.objects[CONNECTION]
    session.clear_errno()


@module.action("mysql.execute", split="raw", prepare=prepare_raw_query)
def _execute(session: Any, event: Any, args: tuple) -> Deferred | None:
    handle = session_handle(session)
    if handle is None:
        return None
    sql, params = render(args[0], session, event, handle.db.dialect)

    def done(res: tuple[int, int]) -> None:
        session.clear_errno()
        session.vars["db.rows"] = str(res[0])
        session.vars["db.info"] = ""
        session.vars["db.insert_id"] = str(res[1])

    return run(session, handle, work.execute, sql, params, done=done)


@module.action("mysql.query", split="raw", prepare=prepare_raw_query)
def _query(session: Any, event: Any, args: tuple) -> Deferred | None:
    handle = session_handle(session)
    if handle is None:
        return None
    sql, params = render(args[0], session, event, handle.db.dialect)

    def done(result: DBResult | None) -> None:
        if result is None:
            session.set_errno(E_QUERY, "query did not have a result")
            return
        session.objects[RESULT] = result
        session.clear_errno()
        session.vars["db.rows"] = str(len(result.rows))

    return run(session, handle, work.query, sql, params, done=done)


@module.action("mysql.queryGetResult", split=",", optional=True, prepare=prepare_query)
def _query_get_result(session: Any, event: Any, args: tuple) -> Deferred | None:
    handle = session_handle(session)
    if handle is None:
        return None
    template, row_arg = args
    index = int_arg(session, session.resolve(row_arg, event), "row index")
    if index is None:
        return None
    sql, params = render(template, session, event, handle.db.dialect)

    def done(result: DBResult | None) -> None:
        if result is None:
            session.set_errno(E_QUERY, "query did not have a result")
            return
        if index >= len(result.rows):
            session.set_errno(E_RESULT, "row index out of result rows bounds")
            return
        set_row(session, result, index)
        session.clear_errno()
        session.vars["db.rows"] = str(len(result.rows))

    return run(session, handle, work.query, sql, params, done=done)


@module.action("mysql.getResult", split=",", optional=True)
def _get_result(session: Any, event: Any, args: tuple) -> None:
    result = session.objects.get(RESULT)
    if not isinstance(result, DBResult):
        session.set_errno(E_RESULT, "No result available")
        return
    index = int_arg(session, session.resolve(args[0], event), "row index")
    if index is None:
        return
    column = session.resolve(args[1], event)
    if index >= len(result.rows):
        session.set_errno(E_RESULT, "row index out of result rows bounds")
        return
    if column:
        try:
            pos = result.columns.index(column)
        except ValueError:
            session.set_errno(E_RESULT, f"bad field name '{column}'")
            return
        session.vars[column] = as_text(result.rows[index][pos])
    else:
        set_row(session, result, index)
    session.clear_errno()


@module.action("mysql.resolveQueryParams", split="raw", prepare=prepare_raw_query)
def _resolve_query_params(session: Any, event: Any, args: tuple) -> None:
    sql, params = render(args[0], session, event, "mysql")
    session.vars["db.qstr"] = inline(sql, params)


@module.action("mysql.getClientVersion")
def _client_version(session: Any, event: Any, args: tuple) -> None:
    handle = session_handle(session)
    if handle is None:
        return
    name = args[0][1:] if args[0].startswith("$") else args[0]
    session.vars[name or "db.client_version"] = handle.db.client_version
    session.clear_errno()


@module.action("mysql.saveResult")
def _save_result(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event)
    result = session.objects.get(RESULT)
    if result is None:
        session.objects.pop(name, None)
    else:
        session.objects[name] = result


@module.action("mysql.useResult")
def _use_result(session: Any, event: Any, args: tuple) -> None:
    result = session.objects.get(session.resolve(args[0], event))
    if result is None:
        session.objects.pop(RESULT, None)
    else:
        session.objects[RESULT] = result


@module.action("mysql.escape", split="=")
def _escape(session: Any, event: Any, args: tuple) -> None:
    handle = session_handle(session)
    if handle is None:
        return
    target = args[0][1:] if args[0].startswith("$") else args[0]
    session.vars[target] = handle.db.escape(session.resolve(args[1], event))


@module.condition("mysql.hasResult")
def _has_result(session: Any, event: Any, args: tuple) -> bool:
    result = session.objects.get(RESULT)
    return isinstance(result, DBResult) and bool(result.rows)


@module.condition("mysql.connected")
def _connected(session: Any, event: Any, args: tuple) -> bool:
    handle = session.objects.get(CONNECTION)
    return isinstance(handle, Handle) and handle.alive
