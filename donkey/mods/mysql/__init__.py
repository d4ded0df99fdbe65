"""mod_mysql: SQL databases for DSM scripts, without blocking the reactor.

Actions:

``mysql.connect([db_url])``
    Open the session's connection (default ``$config.db_url``).  URLs:
    ``mysql://user:pwd@host[:port]/db`` (MariaDB/MySQL through PyMySQL) or
    ``sqlite:///path/file.db`` (the embedded default; ``sqlite://:memory:``
    for a throw-away database).  Failure sets ``$errno=connection``,
    ``$db.ereason`` and ``$db.errno``; it does not throw.
``mysql.disconnect()``
    Forget the session's connection (the shared pool stays).
``mysql.execute(sql)``
    Run a statement: ``$db.rows`` (affected rows), ``$db.info``,
    ``$db.insert_id``.
``mysql.query(sql)``
    Run a query and keep its result: ``$db.rows``.
``mysql.queryGetResult(sql[, row])``
    Run a query and copy row ``row`` (default 0) into ``$column`` variables.
``mysql.getResult([row[, column]])``
    Copy a row (or one column of it) of the kept result into ``$column``.
``mysql.resolveQueryParams(sql)``
    ``$db.qstr``: the statement as it would be sent, values inlined (debugging).
``mysql.getClientVersion([var])``
    Client library version into ``$var`` (default ``$db.client_version``).
``mysql.saveResult(name)`` / ``mysql.useResult(name)``
    Keep the current result under ``name`` / make a kept result current.
``mysql.escape($dst=value)``
    ``$dst``: ``value`` escaped for a quoted SQL literal.
``mysql.playDBAudio(sql, file.wav)``, ``mysql.playDBAudioFront(...)``,
``mysql.playDBAudioLooped(...)``
    Play the first column of the first row; the file name gives the type.
``mysql.getFileFromDB(sql, path)``
    Write the first column of the first row to ``path``.
``mysql.putFileToDB(sql, path)``
    Run ``sql`` with ``__FILE__`` standing for the contents of ``path``.

Conditions: ``mysql.hasResult()`` (a kept result with rows),
``mysql.connected()`` (connected, and the last operation did not lose it).

``$errno``: ``connection`` (no connection, or it was lost: the next
operation reconnects), ``query`` (the database refused the statement),
``result`` (no result, row or column), ``file``, ``arg``, ``config``.

Values in statements.  ``$var``, ``#param`` and ``@select`` inside a
statement never become SQL: they are sent as bound parameters.  A bare
reference (``where caller=$key``) becomes one string literal (an integer
after LIMIT/OFFSET); a literal the script quoted
itself (``where id='$id'``, ``like "%$name%"``) becomes one string with the
references replaced.  So dynamic table or column names are not possible.
``\\$``, ``\\#`` and ``\\@`` write the character itself; ``@@x`` and ``@x``
(x not a select) stay MySQL variables.

Connections.  One :class:`twisted.enterprise.adbapi.ConnectionPool` per URL,
kept in the runtime's module state (``"mod_mysql.pools"``) and
shared by all sessions; each statement runs in the pool's threads.  A
statement that finds its connection lost reports ``connection``, drops that
connection, and makes every other pooled connection check itself before its
next use.  Configuration: ``$config.mysql_pool_size`` (threads and
connections per MySQL URL, default 4; SQLite always uses one),
``$config.mysql_ca_cert`` (connect over TLS checking this CA).

Layout: :mod:`~donkey.mods.mysql.urls` reads ``db_url``;
:mod:`~donkey.mods.mysql.statements` parses a statement once and
:mod:`~donkey.mods.mysql.binding` binds it per call;
:mod:`~donkey.mods.mysql.pool` runs the jobs of :mod:`~donkey.mods.mysql.work`
in threads; :mod:`~donkey.mods.mysql.actions` and
:mod:`~donkey.mods.mysql.files` are the DSM actions, registered on
:data:`module` (:mod:`~donkey.mods.mysql.base`).
"""

from __future__ import annotations

# Importing the action modules registers their actions on ``module``.
from donkey.mods.mysql import actions, files  # noqa: F401
from donkey.mods.mysql.base import CONNECTION, RESULT, module
from donkey.mods.mysql.binding import render
from donkey.mods.mysql.pool import Database, Databases, DBError, Handle, databases, shutdown
from donkey.mods.mysql.results import DBResult
from donkey.mods.mysql.statements import Template, parse_query
from donkey.mods.mysql.urls import Target, parse_url

__all__ = [
    "CONNECTION",
    "RESULT",
    "DBError",
    "DBResult",
    "Database",
    "Databases",
    "Handle",
    "Target",
    "Template",
    "databases",
    "module",
    "parse_query",
    "parse_url",
    "render",
    "shutdown",
]
