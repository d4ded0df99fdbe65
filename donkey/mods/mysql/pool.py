"""The pools: one :class:`twisted.enterprise.adbapi.ConnectionPool` per URL and runtime.

Every statement runs in a pool thread, never on the reactor.  A lost
connection becomes one ``connection`` error (and makes the other pooled
connections check themselves), a refused statement a ``query`` error.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pymysql
from pymysql.converters import escape_string
from twisted.enterprise import adbapi
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads

from donkey.mods.mysql.urls import Target

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

# PyMySQL is pure Python: its threads share the GIL with the reactor, so more
# threads add reactor latency, not throughput (see bench/mysql_bench.py).
DEFAULT_POOL_SIZE = 4


class DBError(Exception):
    """What a DB thread reports: ``kind`` is the DSM errno."""

    def __init__(self, kind: str, message: str, code: int | str = "") -> None:
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
    ) -> None:
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
        """What ``mysql.getClientVersion`` reports: the driver's or SQLite's version."""
        if self.dialect == "mysql":
            return pymysql.get_client_info()
        return sqlite3.sqlite_version

    def escape(self, value: str) -> str:
        """``value`` made safe inside a quoted literal of this dialect."""
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
        """Whether ``e`` means the connection is gone (not that the SQL was bad)."""
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
    """The driver's numeric error code, or ``""``."""
    args = getattr(e, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return ""


def _message(e: Exception) -> str:
    """The driver's error text without its code."""
    args: tuple[Any, ...] = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return str(e) or e.__class__.__name__


class Databases:
    """The pools of one runtime, by URL."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.by_key: dict[tuple, Database] = {}

    def get(self, target: Target, pool_size: int, ssl_ca: str) -> Database:
        """The pool for ``target``, made on first use."""
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

    def __init__(self, db: Database) -> None:
        self.db = db
        self.alive = True

    def close(self) -> None:
        """``mysql.disconnect`` (and ``freeObject``): the pool stays, this handle is dead."""
        self.alive = False
