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
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote as url_unquote

import pymysql
from pymysql.converters import escape_string
from twisted.enterprise import adbapi
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import Logger
from twisted.python.failure import Failure

from donkey.dsm.module import Module
from donkey.dsm.values import to_uint_prefix

log = Logger()

CONNECTION = "db.con"  # session.objects key of the session's connection handle
RESULT = "db.res"  # session.objects key of the current result
TMPFILES = "mysql.tmpfiles"  # audio files written for playDBAudio, removed at session end

E_CONNECTION, E_QUERY, E_RESULT = "connection", "query", "result"

# PyMySQL / MariaDB error codes that mean "the connection is gone", not "bad SQL".
_LOST_CODES = frozenset(
    {
        1053,  # server shutdown in progress
        1927,  # connection was killed
        2002,
        2003,  # can't connect
        2006,  # server has gone away
        2013,  # lost connection during query
        2014,  # commands out of sync
        2055,  # lost connection (system error)
    }
)

_SELECTS = frozenset(
    {
        "local_tag",
        "user",
        "domain",
        "remote_tag",
        "callid",
        "local_uri",
        "local_party",
        "remote_uri",
        "remote_party",
    }
)

# PyMySQL is pure Python: its threads share the GIL with the reactor, so more
# threads add reactor latency, not throughput (see bench/mysql_bench.py).
DEFAULT_POOL_SIZE = 4


# ---------------------------------------------------------------------------
# URLs


@dataclass(frozen=True)
class Target:
    """Where a ``db_url`` points."""

    kind: str  # "mysql" or "sqlite"
    host: str = ""
    port: int = 3306
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""  # sqlite file

    @property
    def key(self) -> tuple:
        return (self.kind, self.host, self.port, self.user, self.password, self.database, self.path)


def parse_url(url: str) -> Target:
    """``mysql://user:pwd@host[:port]/db`` or ``sqlite:///path``; ValueError otherwise."""
    url = url.strip()
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path in (":memory:", "/:memory:"):
            path = ":memory:"
        if not path:
            raise ValueError(f"db_url '{url}' has no file")
        return Target("sqlite", path=path)
    if not url.startswith("mysql://") or len(url) < 11:
        raise ValueError("missing correct db_url config or connect parameter")
    rest = url[len("mysql://") :]
    creds, at, hostpart = rest.rpartition("@")
    if not at:
        creds, hostpart = "", rest
    user, _, password = creds.partition(":")
    hostport, _, database = hostpart.partition("/")
    host, colon, port_text = hostport.rpartition(":")
    if not colon or not port_text.isdigit():
        host, port_text = hostport, "3306"
    if not host:
        raise ValueError(f"db_url '{url}' has no host")
    return Target(
        "mysql",
        host=host,
        port=int(port_text),
        user=url_unquote(user),
        password=url_unquote(password),
        database=url_unquote(database),
    )


# ---------------------------------------------------------------------------
# Statement templates: parsed once at load time, bound per call.


@dataclass(frozen=True, slots=True)
class Ref:
    """``$name`` / ``#name`` / ``@name`` (kind is the sigil), or ``__FILE__`` (kind ``F``)."""

    kind: str
    name: str = ""


@dataclass(slots=True)
class Raw:
    text: str


@dataclass(slots=True)
class Word:
    """A bare word holding references: sent as one bound value.

    ``count`` marks a LIMIT/OFFSET operand, where SQL wants an integer
    literal; elsewhere values go as strings, which MySQL converts for
    numeric columns without losing the index (a number compared with a
    VARCHAR column would).
    """

    raw: str
    parts: list = field(default_factory=list)
    count: bool = False


@dataclass(slots=True)
class Lit:
    """A quoted literal as the script wrote it; ``parts`` is its decoded value."""

    quote: str
    raw: str
    parts: list = field(default_factory=list)

    @property
    def has_vars(self) -> bool:
        return any(isinstance(p, Ref) and p.kind != "F" for p in self.parts)


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    segments: tuple
    has_file: bool


# Characters that end a reference name: SEMS's set plus operators and line ends
# (so ``$n-1`` in SQL is ``$n`` minus one, not a variable named ``n-1``).
_NAME_END = frozenset(" \t\r\n,()$#@;'\"`=<>!+-*/%|&^~\\")
# Characters that end a bare word (a reference glued to text binds the whole word).
_WORD_END = frozenset(" \t\r\n,();=<>!+-*/%|&^~'\"`")
# Raw SQL ending like this puts the next bare value in a LIMIT/OFFSET position.
_COUNT_CONTEXT = re.compile(r"(?is)(?:\blimit\s+(?:\S+\s*,\s*)?|\boffset\s+)\Z")
_MYSQL_ESCAPES = {
    "0": "\0",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "%": "\\%",
    "_": "\\_",
}
_FILE = "__FILE__"


def parse_query(text: str) -> Template:
    """Split a statement into raw SQL, bare words with references, and literals.

    Literals follow MySQL's rules (backslash escapes, doubled quotes).
    Raises ValueError for an unterminated literal or a reference inside a
    back-quoted identifier.
    """
    segs: list = []
    raw: list[str] = []  # pending raw SQL
    i, n = 0, len(text)
    has_file = False

    def flush_raw() -> None:
        if raw:
            segs.append(Raw("".join(raw)))
            raw.clear()

    def read_ref(pos: int) -> tuple[Ref | str, int]:
        """A reference at ``pos`` (a sigil), or the literal text it stands for."""
        sigil = text[pos]
        if pos + 1 < n and text[pos + 1] == sigil:
            if sigil == "@":  # @@system_variable: keep as written
                end = pos + 2
                while end < n and text[end] not in _NAME_END:
                    end += 1
                return text[pos:end], end
            return sigil, pos + 2
        end = pos + 1
        while end < n and text[end] not in _NAME_END:
            end += 1
        name = text[pos + 1 : end]
        if not name:
            return sigil, end
        if sigil == "@" and name not in _SELECTS:
            return text[pos:end], end  # a MySQL user variable
        return Ref(sigil, name), end

    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "$#@":
            raw.append(text[i + 1])
            i += 2
        elif ch in "'\"":
            lit, i = _read_literal(text, i, read_ref)
            if any(isinstance(p, Ref) and p.kind == "F" for p in lit.parts):
                has_file = True
            flush_raw()
            segs.append(lit)
        elif ch == "`":
            end = text.find("`", i + 1)
            while end >= 0 and text[end + 1 : end + 2] == "`":
                end = text.find("`", end + 2)
            if end < 0:
                raise ValueError(f"unterminated ` in query '{text}'")
            ident = text[i : end + 1]
            if any(s in ident for s in "$#"):
                raise ValueError(f"a reference inside the identifier {ident} cannot be bound")
            raw.append(ident)
            i = end + 1
        elif ch in "$#@" or text.startswith(_FILE, i):
            # Take back the word characters just before the reference.
            pending = "".join(raw)
            k = len(pending)
            while k > 0 and pending[k - 1] not in _WORD_END:
                k -= 1
            prefix = pending[k:]
            raw.clear()
            if pending[:k]:
                raw.append(pending[:k])
            parts: list = [prefix] if prefix else []
            word_start = i - len(prefix)
            j = i
            found = False
            while j < n and text[j] not in _WORD_END:
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "$#@":
                    parts.append(text[j + 1])
                    j += 2
                elif text[j] in "$#@":
                    item, j = read_ref(j)
                    parts.append(item)
                    found = found or isinstance(item, Ref)
                elif text.startswith(_FILE, j):
                    parts.append(Ref("F"))
                    has_file = True
                    found = True
                    j += len(_FILE)
                else:
                    parts.append(text[j])
                    j += 1
            if found:
                before = "".join(getattr(s, "text", None) or s.raw for s in segs[-3:]) + "".join(
                    raw
                )
                flush_raw()
                segs.append(
                    Word(text[word_start:j], _merge(parts), bool(_COUNT_CONTEXT.search(before)))
                )
            else:
                raw.append("".join(p for p in parts))
            i = j
        else:
            raw.append(ch)
            i += 1
    flush_raw()
    return Template(text, tuple(segs), has_file)


def _read_literal(text: str, pos: int, read_ref) -> tuple[Lit, int]:
    quote = text[pos]
    parts: list = []
    i, n = pos + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            parts.append(_MYSQL_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == quote:
            if text[i + 1 : i + 2] == quote:  # doubled quote
                parts.append(quote)
                i += 2
                continue
            return Lit(quote, text[pos : i + 1], _merge(parts)), i + 1
        elif ch in "$#@":
            item, i = read_ref(i)
            parts.append(item)
        elif text.startswith(_FILE, i):
            parts.append(Ref("F"))
            i += len(_FILE)
        else:
            parts.append(ch)
            i += 1
    raise ValueError(f"unterminated {quote} in query '{text}'")


def _merge(parts: list) -> list:
    """Join adjacent plain strings."""
    out: list = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")


class FileValue:
    """A bound value holding ``__FILE__``: completed in the DB thread."""

    __slots__ = ("parts",)

    def __init__(self, parts: list):
        self.parts = parts

    def build(self, data: bytes) -> bytes:
        return b"".join(data if isinstance(p, Ref) else p.encode("utf-8") for p in self.parts)


def render(
    template: Template, session: Any, event: Any, dialect: str, with_file: bool = False
) -> tuple[str, list]:
    """``(sql, params)`` for ``dialect`` (``mysql``: ``%s``, ``sqlite``: ``?``)."""
    mark = "%s" if dialect == "mysql" else "?"
    out: list[str] = []
    params: list = []

    def esc(s: str) -> str:
        return s.replace("%", "%%") if dialect == "mysql" else s

    def value(parts: list) -> Any:
        vals: list = []
        file_seen = False
        for p in parts:
            if isinstance(p, Ref):
                if p.kind == "F":
                    if with_file:
                        file_seen = True
                        vals.append(p)
                    else:
                        vals.append(_FILE)
                else:
                    vals.append(session.resolve(p.kind + p.name, event))
            else:
                vals.append(p)
        if file_seen:
            return FileValue(_merge(vals))
        return "".join(vals)

    for seg in template.segments:
        cls = seg.__class__
        if cls is Raw:
            out.append(esc(seg.text))
        elif cls is Word:
            if not with_file and all(not isinstance(p, Ref) or p.kind == "F" for p in seg.parts):
                out.append(esc(seg.raw))
                continue
            v = value(seg.parts)
            if seg.count and isinstance(v, str) and _INT.match(v):
                v = int(v)
            out.append(mark)
            params.append(v)
        else:
            files = with_file and any(isinstance(p, Ref) and p.kind == "F" for p in seg.parts)
            bind = (
                seg.has_vars
                or files
                or (dialect == "sqlite" and (seg.quote == '"' or "\\" in seg.raw))
            )
            if bind:
                out.append(mark)
                params.append(value(seg.parts))
            else:
                out.append(esc(seg.raw))
    return "".join(out), params


def inline(sql: str, params: list) -> str:
    """A ``mysql``-dialect statement with its values written in (debugging only)."""

    def lit(v: Any) -> str:
        if isinstance(v, int):
            return str(v)
        if isinstance(v, FileValue):
            v = "".join("__FILE__" if isinstance(p, Ref) else p for p in v.parts)
        return "'" + escape_string(str(v)) + "'"

    return sql % tuple(lit(v) for v in params)


def _prepare_query(args: tuple) -> tuple:
    """Compile the statement (first argument) once, at load time."""
    text = args[0]
    return (parse_query(text),) + tuple(args[1:])


def _prepare_raw_query(args: tuple) -> tuple:
    return _prepare_query((_strip_outer_quotes(args[0].strip(" \t\r\n")),))


def _strip_outer_quotes(text: str) -> str:
    """Remove quotes around the whole argument (not a quote that only starts it)."""
    if len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0]:
        inner = text[1:-1]
        q = text[0]
        # Only if the quotes really enclose everything (no unescaped quote inside).
        i = 0
        while i < len(inner):
            if inner[i] == "\\":
                i += 2
                continue
            if inner[i] == q:
                return text
            i += 1
        return inner.replace("\\" + q, q)
    return text


# ---------------------------------------------------------------------------
# Results


class DBResult:
    """A fetched result: column labels and rows of Python values."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[tuple]):
        self.columns = columns
        self.rows = rows

    def close(self) -> None:
        """For ``freeObject``: nothing to release."""


def as_text(value: Any) -> str:
    """A column value as a DSM string (NULL is empty, as SEMS's getString)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


# ---------------------------------------------------------------------------
# Pools (one per URL and runtime)


class DBError(Exception):
    """What a DB thread reports: ``kind`` is the DSM errno."""

    def __init__(self, kind: str, message: str, code: int | str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code


class Database:
    """A connection pool for one URL, shared by the sessions of a runtime.

    Work runs in the pool's threads (:meth:`run`); connections are the
    pool's per-thread ones.  We do the commit/rollback ourselves rather than
    through ``runWithConnection`` so that a lost connection becomes one
    ``connection`` error instead of adbapi's rollback attempts and logged
    tracebacks, and so other threads re-check their connection afterwards.
    """

    def __init__(
        self, target: Target, reactor: Any, pool_size: int = DEFAULT_POOL_SIZE, ssl_ca: str = ""
    ):
        self.target = target
        self.dialect = target.kind
        self.reactor = reactor
        self.generation = 0
        self._checked: dict[int, int] = {}
        self._lock = threading.Lock()
        if target.kind == "mysql":
            kwargs: dict[str, Any] = dict(
                host=target.host,
                port=target.port,
                user=target.user,
                password=target.password,
                database=target.database or None,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=5,
            )
            if ssl_ca:
                kwargs["ssl"] = {"ca": ssl_ca}
            self.pool = adbapi.ConnectionPool(
                "pymysql",
                cp_min=max(1, pool_size),
                cp_max=max(1, pool_size),
                cp_reconnect=True,
                cp_noisy=False,
                cp_reactor=reactor,
                **kwargs,
            )
        else:
            # One thread: SQLite serialises writers anyway, and ':memory:' stays one database.
            self.pool = adbapi.ConnectionPool(
                "sqlite3",
                target.path,
                check_same_thread=False,
                isolation_level=None,
                cp_min=1,
                cp_max=1,
                cp_reconnect=True,
                cp_noisy=False,
                cp_reactor=reactor,
            )

    @property
    def client_version(self) -> str:
        if self.dialect == "mysql":
            return pymysql.get_client_info()
        return sqlite3.sqlite_version

    def escape(self, value: str) -> str:
        if self.dialect == "mysql":
            return escape_string(value)
        return value.replace("'", "''")

    def run(self, work: Callable[..., Any], *args: Any) -> Deferred:
        """Run ``work(cursor, *args)`` in a pool thread; failures are :class:`DBError`."""
        return threads.deferToThreadPool(
            self.reactor, self.pool.threadpool, self._in_thread, work, args
        )

    # -- in a pool thread ----------------------------------------------------
    def _in_thread(self, work: Callable[..., Any], args: tuple) -> Any:
        pool = self.pool
        tid = pool.threadID()
        try:
            conn = pool.connect()
            if self.dialect == "mysql" and self._checked.get(tid) != self.generation:
                conn.ping(reconnect=True)  # another thread lost its connection: check ours
            self._checked[tid] = self.generation
        except DBError:
            raise
        except Exception as e:  # noqa: BLE001 - any driver error while connecting
            self._drop(tid)
            raise DBError(E_CONNECTION, _message(e), _code(e)) from None
        cursor = conn.cursor()
        try:
            return work(cursor, *args)
        except DBError:
            raise
        except OSError as e:
            raise DBError("file", str(e)) from None
        except (pymysql.err.Error, sqlite3.Error) as e:
            if self._lost(e):
                self._drop(tid)
                raise DBError(E_CONNECTION, _message(e), _code(e)) from None
            raise DBError(E_QUERY, _message(e), _code(e)) from None
        finally:
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - a dead connection's cursor
                pass

    def _lost(self, e: Exception) -> bool:
        if self.dialect != "mysql":
            return False
        if isinstance(e, pymysql.err.InterfaceError):
            return True
        return isinstance(e, pymysql.err.OperationalError) and _code(e) in _LOST_CODES

    def _drop(self, tid: int) -> None:
        """Forget this thread's connection (next use reconnects); make others check theirs."""
        with self._lock:
            self.generation += 1
        conn = self.pool.connections.get(tid)
        if conn is not None:
            self.pool.disconnect(conn)
        self._checked.pop(tid, None)

    def close(self) -> None:
        """Stop the pool's threads and close its connections (once; the reactor's
        shutdown may have done it already)."""
        pool = self.pool
        if pool.running:
            pool.close()
        elif pool.startID:  # never started: only drop the startup trigger
            self.reactor.removeSystemEventTrigger(pool.startID)
            pool.startID = None


def _code(e: Exception) -> int | str:
    args = getattr(e, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return ""


def _message(e: Exception) -> str:
    args = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return str(e) or e.__class__.__name__


class Databases:
    """The pools of one runtime, by URL."""

    def __init__(self, reactor: Any):
        self.reactor = reactor
        self.by_key: dict[tuple, Database] = {}

    def get(self, target: Target, pool_size: int, ssl_ca: str) -> Database:
        db = self.by_key.get(target.key)
        if db is None:
            db = Database(target, self.reactor, pool_size, ssl_ca)
            self.by_key[target.key] = db
        return db

    def close(self) -> None:
        """Runtime.shutdown closes module state through ``close()``."""
        self.close_all()

    def close_all(self) -> None:
        """Close every pool (joins their threads)."""
        for db in self.by_key.values():
            db.close()
        self.by_key.clear()


def databases(runtime: Any) -> Databases:
    """The runtime's pool registry, created on first use."""

    def make() -> Databases:
        reactor = runtime.reactor
        if not IReactorThreads.providedBy(reactor):  # a test clock: threads need the real one
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        return Databases(reactor)

    return runtime.module_state("mod_mysql.pools", make)


def shutdown(runtime: Any) -> None:
    """Close every pool of ``runtime`` (tests, and a runtime that is torn down)."""
    dbs = runtime.drop_module_state("mod_mysql.pools")
    if dbs is not None:
        dbs.close_all()


class Handle:
    """A session's connection: a shared pool plus whether the last use lost it."""

    __slots__ = ("db", "alive")

    def __init__(self, db: Database):
        self.db = db
        self.alive = True

    def close(self) -> None:
        self.alive = False


# ---------------------------------------------------------------------------
# Work done in pool threads


def _w_ping(cur) -> None:
    cur.execute("SELECT 1")
    cur.fetchall()


def _w_query(cur, sql: str, params: list) -> DBResult | None:
    cur.execute(sql, params)
    if cur.description is None:
        return None
    return DBResult([d[0] for d in cur.description], list(cur.fetchall()))


def _w_execute(cur, sql: str, params: list) -> tuple[int, int]:
    cur.execute(sql, params)
    if cur.description is not None:  # a SELECT: SEMS reports 0 rows
        cur.fetchall()
        return 0, 0
    return max(cur.rowcount, 0), cur.lastrowid or 0


def _first_value(cur, sql: str, params: list) -> Any:
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


def _w_to_file(cur, sql: str, params: list, path: str) -> None:
    data = as_bytes(_first_value(cur, sql, params))
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise DBError("file", f"fopen() failed for file '{path}': {e.strerror}") from None


def _w_to_tempfile(cur, sql: str, params: list, suffix: str) -> str:
    data = as_bytes(_first_value(cur, sql, params))
    fd, path = tempfile.mkstemp(prefix="donkey_dbaudio_", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _w_put_file(cur, sql: str, params: list, path: str) -> tuple[int, int]:
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


# ---------------------------------------------------------------------------
# The module


class MysqlModule(Module):
    def on_session_end(self, session) -> None:
        """Remove audio files written for ``playDBAudio``."""
        for path in session.objects.pop(TMPFILES, ()):
            try:
                os.unlink(path)
            except OSError:
                pass


module = MysqlModule("mod_mysql")


def _handle(session) -> Handle | None:
    """The session's connection, or ``$errno=connection`` (as SEMS)."""
    handle = session.objects.get(CONNECTION)
    if not isinstance(handle, Handle):
        session.set_errno(E_CONNECTION, "No connection to database")
        return None
    return handle


def _failed(session, handle: Handle | None, failure: Failure) -> None:
    """A DB thread's error as ``$errno``, ``$strerror``, ``$db.ereason``, ``$db.errno``."""
    failure.trap(DBError)
    err: DBError = failure.value
    session.set_errno(err.kind, err.message)
    session.vars["db.ereason"] = err.message
    if err.code != "":
        session.vars["db.errno"] = str(err.code)
    if err.kind == E_CONNECTION and handle is not None:
        handle.alive = False
    if err.kind in (E_CONNECTION, E_QUERY):
        session.log.warn("mysql: {kind} error: {msg}", kind=err.kind, msg=err.message)


def _run(
    session, handle: Handle, work: Callable[..., Any], *args: Any, done: Callable[[Any], None]
) -> Deferred:
    def ok(result: Any) -> None:
        handle.alive = True
        done(result)

    d = handle.db.run(work, *args)
    d.addCallbacks(ok, lambda f: _failed(session, handle, f))
    return d


def _int_arg(session, text: str, what: str) -> int | None:
    """A row index (SEMS's str2i: unsigned); ``$errno=arg`` if it is not one."""
    if not text:
        return 0
    n = to_uint_prefix(text)
    if n is None:
        session.set_errno("arg", f"{what} '{text}' not understood")
    return n


def _set_row(session, result: DBResult, index: int) -> None:
    row = result.rows[index]
    for name, value in zip(result.columns, row):
        session.vars[name] = as_text(value)


@module.action("mysql.connect")
def _connect(session, event, args) -> Deferred | None:
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

    d = db.run(_w_ping)
    d.addCallbacks(connected, lambda f: _failed(session, handle, f))
    return d


@module.action("mysql.disconnect")
def _disconnect(session, event, args) -> None:
    handle = _handle(session)
    if handle is None:
        return
    handle.close()
    del session.objects[CONNECTION]
    session.clear_errno()


@module.action("mysql.execute", split="raw", prepare=_prepare_raw_query)
def _execute(session, event, args) -> Deferred | None:
    handle = _handle(session)
    if handle is None:
        return None
    sql, params = render(args[0], session, event, handle.db.dialect)

    def done(res: tuple[int, int]) -> None:
        session.clear_errno()
        session.vars["db.rows"] = str(res[0])
        session.vars["db.info"] = ""
        session.vars["db.insert_id"] = str(res[1])

    return _run(session, handle, _w_execute, sql, params, done=done)


@module.action("mysql.query", split="raw", prepare=_prepare_raw_query)
def _query(session, event, args) -> Deferred | None:
    handle = _handle(session)
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

    return _run(session, handle, _w_query, sql, params, done=done)


@module.action("mysql.queryGetResult", split=",", optional=True, prepare=_prepare_query)
def _query_get_result(session, event, args) -> Deferred | None:
    handle = _handle(session)
    if handle is None:
        return None
    template, row_arg = args
    index = _int_arg(session, session.resolve(row_arg, event), "row index")
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
        _set_row(session, result, index)
        session.clear_errno()
        session.vars["db.rows"] = str(len(result.rows))

    return _run(session, handle, _w_query, sql, params, done=done)


@module.action("mysql.getResult", split=",", optional=True)
def _get_result(session, event, args) -> None:
    result = session.objects.get(RESULT)
    if not isinstance(result, DBResult):
        session.set_errno(E_RESULT, "No result available")
        return
    index = _int_arg(session, session.resolve(args[0], event), "row index")
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
        _set_row(session, result, index)
    session.clear_errno()


@module.action("mysql.resolveQueryParams", split="raw", prepare=_prepare_raw_query)
def _resolve_query_params(session, event, args) -> None:
    sql, params = render(args[0], session, event, "mysql")
    session.vars["db.qstr"] = inline(sql, params)


@module.action("mysql.getClientVersion")
def _client_version(session, event, args) -> None:
    handle = _handle(session)
    if handle is None:
        return
    name = args[0][1:] if args[0].startswith("$") else args[0]
    session.vars[name or "db.client_version"] = handle.db.client_version
    session.clear_errno()


@module.action("mysql.saveResult")
def _save_result(session, event, args) -> None:
    name = session.resolve(args[0], event)
    result = session.objects.get(RESULT)
    if result is None:
        session.objects.pop(name, None)
    else:
        session.objects[name] = result


@module.action("mysql.useResult")
def _use_result(session, event, args) -> None:
    result = session.objects.get(session.resolve(args[0], event))
    if result is None:
        session.objects.pop(RESULT, None)
    else:
        session.objects[RESULT] = result


@module.action("mysql.escape", split="=")
def _escape(session, event, args) -> None:
    handle = _handle(session)
    if handle is None:
        return
    target = args[0][1:] if args[0].startswith("$") else args[0]
    session.vars[target] = handle.db.escape(session.resolve(args[1], event))


def _play_db_audio(loop: bool, front: bool, what: str):
    def action(session, event, args) -> Deferred | None:
        media = session.require_media(what)
        handle = _handle(session)
        if handle is None:
            return None
        template, name = args
        filename = session.resolve(name, event)
        suffix = os.path.splitext(filename)[1] or ".wav"
        sql, params = render(template, session, event, handle.db.dialect)

        def done(path: str) -> None:
            session.objects.setdefault(TMPFILES, []).append(path)
            try:
                media.play_file(path, loop=loop, front=front)
            except (OSError, ValueError) as e:
                session.set_errno("file", f"cannot play audio from DB: {e}")
                return
            session.clear_errno()

        return _run(session, handle, _w_to_tempfile, sql, params, suffix, done=done)

    return action


module.action("mysql.playDBAudio", split=",", optional=True, prepare=_prepare_query)(
    _play_db_audio(False, False, "mysql.playDBAudio")
)
module.action("mysql.playDBAudioFront", split=",", optional=True, prepare=_prepare_query)(
    _play_db_audio(False, True, "mysql.playDBAudioFront")
)
module.action("mysql.playDBAudioLooped", split=",", optional=True, prepare=_prepare_query)(
    _play_db_audio(True, False, "mysql.playDBAudioLooped")
)


@module.action("mysql.getFileFromDB", split=",", optional=True, prepare=_prepare_query)
def _get_file_from_db(session, event, args) -> Deferred | None:
    handle = _handle(session)
    if handle is None:
        return None
    template, name = args
    path = session.resolve(name, event)
    sql, params = render(template, session, event, handle.db.dialect)
    return _run(
        session, handle, _w_to_file, sql, params, path, done=lambda _: session.clear_errno()
    )


@module.action("mysql.putFileToDB", split=",", optional=True, prepare=_prepare_query)
def _put_file_to_db(session, event, args) -> Deferred | None:
    handle = _handle(session)
    if handle is None:
        return None
    template, name = args
    if not template.has_file:
        session.set_errno("arg", f"missing __FILE__ in query string '{template.text}'")
        return None
    path = session.resolve(name, event)
    sql, params = render(template, session, event, handle.db.dialect, with_file=True)

    def done(res: tuple[int, int]) -> None:
        session.clear_errno()
        session.vars["db.rows"] = str(res[0])
        session.vars["db.info"] = ""
        session.vars["db.insert_id"] = str(res[1])

    return _run(session, handle, _w_put_file, sql, params, path, done=done)


@module.condition("mysql.hasResult")
def _has_result(session, event, args) -> bool:
    result = session.objects.get(RESULT)
    return isinstance(result, DBResult) and bool(result.rows)


@module.condition("mysql.connected")
def _connected(session, event, args) -> bool:
    handle = session.objects.get(CONNECTION)
    return isinstance(handle, Handle) and handle.alive
