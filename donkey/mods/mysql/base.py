"""The ``mod_mysql`` module object and what its actions share: a session's handle and errors.

The actions live in :mod:`donkey.mods.mysql.actions` and
:mod:`donkey.mods.mysql.files`; both register on :data:`module`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from donkey.dsm.module import Module
from donkey.dsm.values import to_uint_prefix
from donkey.mods.mysql.pool import E_CONNECTION, E_QUERY, DBError, Handle
from donkey.mods.mysql.results import DBResult, as_text

CONNECTION = "db.con"  # session.objects key of the session's connection handle
RESULT = "db.res"  # session.objects key of the current result
TMPFILES = "mysql.tmpfiles"  # audio files written for playDBAudio, removed at session end


class MysqlModule(Module):
    """``mod_mysql``: its one hook cleans up after ``playDBAudio``."""

    def on_session_end(self, session: Any) -> None:
        """Remove audio files written for ``playDBAudio``."""
        for path in session.objects.pop(TMPFILES, ()):
            try:
                os.unlink(path)
            except OSError:
                pass


module = MysqlModule("mod_mysql")


def session_handle(session: Any) -> Handle | None:
    """The session's connection, or ``$errno=connection`` (as SEMS)."""
    handle = session.objects.get(CONNECTION)
    if not isinstance(handle, Handle):
        session.set_errno(E_CONNECTION, "No connection to database")
        return None
    return handle


def failed(session: Any, handle: Handle | None, failure: Failure) -> None:
    """A DB thread's error as ``$errno``, ``$strerror``, ``$db.ereason``, ``$db.errno``."""
    failure.trap(DBError)
    err = failure.value
    assert isinstance(err, DBError)  # trap() let nothing else through
    session.set_errno(err.kind, err.message)
    session.vars["db.ereason"] = err.message
    if err.code != "":
        session.vars["db.errno"] = str(err.code)
    if err.kind == E_CONNECTION and handle is not None:
        handle.alive = False
    if err.kind in (E_CONNECTION, E_QUERY):
        session.log.warn("mysql: {kind} error: {msg}", kind=err.kind, msg=err.message)


def run(
    session: Any, handle: Handle, job: Callable[..., Any], *args: Any, done: Callable[[Any], None]
) -> Deferred:
    """Run ``job`` in a pool thread; ``done(result)`` on success, else the error as ``$errno``."""

    def ok(result: Any) -> None:
        handle.alive = True
        done(result)

    d = handle.db.run(job, *args)
    d.addCallbacks(ok, lambda f: failed(session, handle, f))
    return d


def int_arg(session: Any, text: str, what: str) -> int | None:
    """A row index (SEMS's str2i: unsigned); ``$errno=arg`` if it is not one."""
    if not text:
        return 0
    n = to_uint_prefix(text)
    if n is None:
        session.set_errno("arg", f"{what} '{text}' not understood")
    return n


def set_row(session: Any, result: DBResult, index: int) -> None:
    """Copy row ``index`` into ``$column`` variables."""
    row = result.rows[index]
    for name, value in zip(result.columns, row):
        session.vars[name] = as_text(value)
