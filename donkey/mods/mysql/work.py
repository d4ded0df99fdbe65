"""The work done in pool threads: each job takes a DB-API cursor and returns plain values.

Jobs raise :class:`~donkey.mods.mysql.pool.DBError` for what a script should
see as ``$errno``; the pool turns driver errors into one too.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from donkey.mods.mysql.binding import FileValue
from donkey.mods.mysql.pool import E_QUERY, E_RESULT, DBError
from donkey.mods.mysql.results import DBResult, as_bytes


def ping(cur: Any) -> None:
    """Prove the connection works (``mysql.connect``)."""
    cur.execute("SELECT 1")
    cur.fetchall()


def query(cur: Any, sql: str, params: list) -> DBResult | None:
    """The whole result of a query, or ``None`` for a statement that has none."""
    cur.execute(sql, params)
    if cur.description is None:
        return None
    return DBResult([d[0] for d in cur.description], list(cur.fetchall()))


def execute(cur: Any, sql: str, params: list) -> tuple[int, int]:
    """``(affected rows, insert id)`` of a statement."""
    cur.execute(sql, params)
    if cur.description is not None:  # a SELECT: SEMS reports 0 rows
        cur.fetchall()
        return 0, 0
    return max(cur.rowcount, 0), cur.lastrowid or 0


def _first_value(cur: Any, sql: str, params: list) -> Any:
    """The first column of the first row, or the ``query``/``result`` error SEMS gives."""
    cur.execute(sql, params)
    if cur.description is None:
        raise DBError(E_QUERY, "query does not have result")
    row = cur.fetchone()
    if row is None:
        raise DBError(E_RESULT, "result does not have row")
    cur.fetchall()
    if not row:
        raise DBError(E_RESULT, "result does not have data")
    return row[0]


def to_file(cur: Any, sql: str, params: list, path: str) -> None:
    """Write the first value of the result to ``path``."""
    data = as_bytes(_first_value(cur, sql, params))
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise DBError("file", f"fopen() failed for file '{path}': {e.strerror}") from None


def to_tempfile(cur: Any, sql: str, params: list, suffix: str) -> str:
    """Write the first value of the result to a new temporary file; its path."""
    data = as_bytes(_first_value(cur, sql, params))
    fd, path = tempfile.mkstemp(prefix="donkey_dbaudio_", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def put_file(cur: Any, sql: str, params: list, path: str) -> tuple[int, int]:
    """Run ``sql`` with the contents of ``path`` for ``__FILE__``: ``(rows, insert id)``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise DBError("file", f"could not read file '{path}'") from None
    if not data:
        raise DBError("file", f"could not read file '{path}'")
    bound = [p.build(data) if isinstance(p, FileValue) else p for p in params]
    cur.execute(sql, bound)
    if cur.description is not None:
        cur.fetchall()
        raise DBError(E_QUERY, "mysql.putFileToDB query was a SELECT")
    return max(cur.rowcount, 0), cur.lastrowid or 0
