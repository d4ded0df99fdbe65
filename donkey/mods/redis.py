"""mod_redis: Redis commands from DSM scripts, without blocking the reactor.

Actions, as SEMS's mod_redis has them:

``redis.connect([redis://tcp:host;param=value...])``
    Open the session's connection (default ``$config.redis_db_url``).  The
    URL is ``redis://tcp:HOST`` or ``redis://unix:/path/of/socket``, then
    ``;param=value`` pairs: ``port`` (default 6379), ``connect_timeout`` (in
    milliseconds, as SEMS's code reads it, default 500), ``full_logging``
    (``true``: log every command and reply at debug level),
    ``use_transactions`` (accepted and ignored, as in SEMS) and, donkey's
    own, ``reply_timeout`` (milliseconds, default 5000: a server that does
    not answer in time counts as a lost connection).  A bad URL sets
    ``$errno=arg``; a server that cannot be reached ``$errno=connection``.
``redis.disconnect()``
    Close the session's connection.
``redis.execCommand(var=command)``
    Send ``command`` and put the reply into ``$var``.
``redis.appendCommand(command)``
    Queue ``command``; it is sent with the next ``getReply`` or ``execCommand``.
``redis.getReply(var)``
    Send what is queued and put the next reply into ``$var``.

Commands are written as SEMS's hiredis reads them: ``$var``, ``#param`` and
``@select`` are replaced first (so a whole command may come from a
variable), then the text is split at blanks into the command's words;
quotes are no grouping, they are part of the word, and ``%%`` is one ``%``.
Replies come in the order the commands went, one per ``getReply`` or
``execCommand``, as with hiredis: after two ``appendCommand``, an
``execCommand`` gets the first queued command's reply.

Replies: a string or status is the value, an integer its decimal digits, a
nil ``nil``, an array ``$var[0]``, ``$var[1]`` ... (nested: ``$var[0][1]``).
As in SEMS nothing else is set (no ``$var.type``) and elements of an
earlier, longer array stay.

``$errno`` (and ``$strerror``): ``""`` after a successful action,
``connection`` (no connection, it could not be made, or it was lost: the
next command connects again), ``write`` (the server answered with an error,
logged with the server's text), ``result`` (``getReply`` with nothing sent),
``arg`` (a bad URL or an empty command).  Nothing throws.

Connections.  Each session has its own connection (so one session's queued
commands and ``MULTI`` never mix with another's), kept in
``session.objects`` and closed when the session ends; the runtime's module
state ``"mod_redis.connections"`` knows them all, so ``Runtime.shutdown``
closes what is left.  The protocol is txredisapi's, driven directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import txredisapi
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure

from donkey.dsm.module import Module

CONNECTION = "db_redis.con"  # session.objects key of the session's connection
STATE_KEY = "mod_redis.connections"

E_CONNECTION, E_WRITE, E_RESULT, E_UNKNOWN, E_ARG = (
    "connection",
    "write",
    "result",
    "unknown",
    "arg",
)

DEFAULT_PORT = 6379
DEFAULT_CONNECT_TIMEOUT_MS = 500
DEFAULT_REPLY_TIMEOUT_MS = 5000

_URL_ERROR = "missing correct db_url config or connect parameter"


# ---------------------------------------------------------------------------
# URLs and commands


@dataclass(frozen=True)
class Target:
    """Where a ``redis://`` URL points, and how to talk to it."""

    host: str
    port: int = DEFAULT_PORT
    unix: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_MS / 1000
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT_MS / 1000
    full_logging: bool = False


def _millis(value: str) -> float:
    digits = value.strip()
    if not digits.isdigit():
        raise ValueError(f"{_URL_ERROR} - '{value}' is not a number of milliseconds")
    return int(digits) / 1000


def parse_url(url: str) -> Target:
    """``redis://tcp:host;port=N;...`` or ``redis://unix:/path;...``; ValueError otherwise."""
    if len(url) < 11 or not url.startswith("redis://"):
        raise ValueError(f"{_URL_ERROR} - must start with redis://")
    rest = url[len("redis://") :]
    proto, _, rest = rest.partition(":")
    if proto not in ("tcp", "unix"):
        raise ValueError(f"{_URL_ERROR} - must start with unix or tcp protocol")
    host, params = rest, ""
    for i, ch in enumerate(rest):
        if ch in ":;":
            host, params = rest[:i], rest[i + 1 :]
            break
    if not host:
        raise ValueError(f"{_URL_ERROR} - host must be non-empty")
    fields: dict[str, Any] = {"host": host, "unix": proto == "unix"}
    for param in [p for p in params.split(";") if p] if params else []:
        key, eq, value = param.partition("=")
        if not eq or "=" in value:
            raise ValueError(f"{_URL_ERROR} - parameter '{param}' must be param=value")
        if key == "port":
            if not value.strip().isdigit():
                raise ValueError(f"{_URL_ERROR} - port '{value}' is not a number")
            fields["port"] = int(value)
        elif key == "connect_timeout":
            fields["connect_timeout"] = _millis(value)
        elif key == "reply_timeout":
            fields["reply_timeout"] = _millis(value)
        elif key == "full_logging":
            fields["full_logging"] = value == "true"
        elif key == "use_transactions":
            pass  # SEMS reads it and never uses it
        else:
            raise ValueError(f"{_URL_ERROR} - unknown parameter '{key}'")
    return Target(**fields)


def split_command(text: str) -> list[str]:
    """The words of a command as hiredis's format reads them: split at blanks, ``%%`` is ``%``."""
    return [word.replace("%%", "%") for word in text.split(" ") if word]


# ---------------------------------------------------------------------------
# Connections


class RedisFailure(Exception):
    """Why a command got no usable reply: ``kind`` is the DSM errno."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail


_Reply = Any  # str | bytes | int | None | list | txredisapi.ResponseError


class RedisConnection:
    """One session's connection: hiredis's blocking context, made asynchronous.

    ``queued`` holds appended commands not sent yet; ``pending`` the replies
    still to be taken, oldest first.  A lost connection forgets both; the
    next command connects again.
    """

    def __init__(self, target: Target, reactor: Any, registry: Connections):
        self.target = target
        self.reactor = reactor
        self.registry = registry
        self.protocol: Any = None
        self.queued: list[list[str]] = []
        self.pending: deque[Deferred] = deque()
        self.closed = False

    @property
    def connected(self) -> bool:
        return self.protocol is not None and bool(self.protocol.connected)

    def connect(self) -> Deferred:
        """Connect unless connected; fails with :class:`RedisFailure` (``connection``)."""
        if self.connected:
            return defer.succeed(None)
        self._forget()
        target = self.target
        if target.unix:
            endpoint: Any = UNIXClientEndpoint(
                self.reactor, target.host, timeout=target.connect_timeout
            )
        else:
            endpoint = HostnameEndpoint(
                self.reactor, target.host, target.port, timeout=target.connect_timeout
            )
        protocol = txredisapi.RedisProtocol(
            charset=None, replyTimeout=target.reply_timeout or None, convertNumbers=False
        )
        protocol.callLater = self.reactor.callLater  # its reply timer: our reactor, not the global

        def made(proto: Any) -> Deferred:
            return proto.whenConnected()

        def connected(proto: Any) -> None:
            if self.closed:
                proto.transport.loseConnection()
                raise RedisFailure(E_CONNECTION, "connection closed")
            self.protocol = proto

        def failed(failure: Failure) -> Failure:
            if failure.check(RedisFailure):
                return failure
            raise RedisFailure(
                E_CONNECTION, "Could not connect to redis DB", failure.getErrorMessage()
            )

        d = connectProtocol(endpoint, protocol)
        d.addCallback(made)
        d.addCallbacks(connected, failed)
        return d

    def _forget(self) -> None:
        """Drop queued commands and untaken replies of a connection that is gone."""
        self.queued.clear()
        while self.pending:
            self.pending.popleft().addErrback(lambda _: None)
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.loseConnection()
        self.protocol = None

    def append(self, argv: list[str]) -> None:
        self.queued.append(argv)

    def _flush(self) -> None:
        for argv in self.queued:
            self.pending.append(self.protocol.execute_command(*argv))
        self.queued.clear()

    def next_reply(self) -> Deferred:
        """Send what is queued and take the oldest reply not taken yet."""
        if not self.connected:
            return defer.fail(RedisFailure(E_CONNECTION, "Not connected to REDIS"))
        try:
            self._flush()
        except txredisapi.ConnectionError:
            self._forget()
            return defer.fail(RedisFailure(E_CONNECTION, "REDIS connection error"))
        if not self.pending:
            return defer.fail(RedisFailure(E_RESULT, "No result available"))
        d = self.pending.popleft()
        d.addErrback(self._failed)
        return d

    def _failed(self, failure: Failure) -> None:
        if failure.check(txredisapi.ResponseError):
            raise RedisFailure(E_WRITE, "REDIS write error", str(failure.value))
        if failure.check(txredisapi.InvalidResponse):
            self._forget()
            raise RedisFailure(E_CONNECTION, "REDIS connection error", str(failure.value))
        if failure.check(txredisapi.ConnectionError, ConnectionError):
            self._forget()
            raise RedisFailure(E_CONNECTION, "REDIS connection error", str(failure.value))
        raise RedisFailure(E_UNKNOWN, "REDIS unknown error", failure.getErrorMessage())

    def close(self) -> None:
        """Close for good (``redis.disconnect``, session end, runtime shutdown)."""
        self.closed = True
        self._forget()
        self.registry.discard(self)


class Connections:
    """Every open connection of one runtime, so that shutdown closes them."""

    def __init__(self, reactor: Any):
        self.reactor = reactor
        self.open: set[RedisConnection] = set()

    def new(self, target: Target) -> RedisConnection:
        conn = RedisConnection(target, self.reactor, self)
        self.open.add(conn)
        return conn

    def discard(self, conn: RedisConnection) -> None:
        self.open.discard(conn)

    def close(self) -> None:
        """Runtime.shutdown closes module state through ``close()``."""
        for conn in list(self.open):
            conn.close()


def connections(runtime: Any) -> Connections:
    """The runtime's connection registry, created on first use."""

    def make() -> Connections:
        reactor = runtime.reactor
        if not IReactorTCP.providedBy(reactor):  # a test clock: the network needs the real one
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        return Connections(reactor)

    return runtime.module_state(STATE_KEY, make)


def shutdown(runtime: Any) -> None:
    """Close every connection of ``runtime`` (tests, and a runtime that is torn down)."""
    state = runtime.drop_module_state(STATE_KEY)
    if state is not None:
        state.close()


# ---------------------------------------------------------------------------
# Replies into variables


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def store_reply(variables: dict[str, str], name: str, reply: _Reply, log: Any) -> None:
    """Write ``reply`` into ``$name`` as SEMS's decodeRedisResult does."""
    if reply is None:
        variables[name] = "nil"
    elif isinstance(reply, list):
        for i, item in enumerate(reply):
            store_reply(variables, f"{name}[{i}]", item, log)
    elif isinstance(reply, Exception):
        log.warn("redis: error element in reply for ${name}: {err}", name=name, err=str(reply))
    else:
        variables[name] = _text(reply)


# ---------------------------------------------------------------------------
# The module


class RedisModule(Module):
    def on_session_end(self, session: Any) -> None:
        """Close the session's connection."""
        conn = session.objects.pop(CONNECTION, None)
        if isinstance(conn, RedisConnection):
            conn.close()


module = RedisModule("mod_redis")


def _var_name(text: str) -> str:
    return text[1:] if text.startswith("$") else text


def _connection(session: Any) -> RedisConnection | None:
    conn = session.objects.get(CONNECTION)
    if not isinstance(conn, RedisConnection):
        session.set_errno(E_CONNECTION, "No connection to redis database")
        return None
    return conn


def _report(session: Any, failure: Failure) -> None:
    """A failed command as ``$errno`` / ``$strerror``; logged, never raised."""
    failure.trap(RedisFailure)
    err = failure.value
    assert isinstance(err, RedisFailure)
    session.set_errno(err.kind, err.message)
    session.log.warn(
        "redis: {kind} error: {msg}{detail}",
        kind=err.kind,
        msg=err.message,
        detail=f" ({err.detail})" if err.detail else "",
    )


def _when_connected(
    session: Any, conn: RedisConnection, then: Callable[[], Deferred | None]
) -> Deferred:
    """Run ``then`` once ``conn`` is connected (reconnecting if it was lost)."""

    def lost(failure: Failure) -> None:
        failure.trap(RedisFailure)
        detail = failure.value.detail if isinstance(failure.value, RedisFailure) else ""
        raise RedisFailure(E_CONNECTION, "Not connected to REDIS", detail)

    d = conn.connect()
    d.addErrback(lost)
    d.addCallback(lambda _: then())
    d.addErrback(lambda f: _report(session, f))
    return d


def _take_reply(session: Any, conn: RedisConnection, name: str) -> Deferred:
    def got(reply: _Reply) -> None:
        if isinstance(reply, list) and any(isinstance(r, Exception) for r in reply):
            detail = "; ".join(str(r) for r in reply if isinstance(r, Exception))
            raise RedisFailure(E_WRITE, "REDIS write error", detail)
        if conn.target.full_logging:
            session.log.debug("redis: reply for ${name}: {reply!r}", name=name, reply=reply)
        store_reply(session.vars, name, reply, session.log)
        session.clear_errno()

    d = conn.next_reply()
    d.addCallback(got)
    return d


def _command(session: Any, event: Any, text: str) -> list[str] | None:
    argv = split_command(session.interpolate(text, event))
    if not argv:
        session.set_errno(E_ARG, "empty redis command")
    return argv or None


@module.action("redis.connect")
def _connect(session: Any, event: Any, args: tuple) -> Deferred | None:
    url = session.resolve(args[0], event) if args[0] else ""
    url = url or session.vars.get("config.redis_db_url", "")
    try:
        target = parse_url(url)
    except ValueError as e:
        session.log.error("redis.connect: {err}", err=str(e))
        session.set_errno(E_ARG, str(e))
        return None
    conn = connections(session.runtime).new(target)

    def connected(_: Any) -> None:
        old = session.objects.get(CONNECTION)
        if isinstance(old, RedisConnection):  # replaced only once the new one works, as SEMS
            old.close()
        session.objects[CONNECTION] = conn
        session.clear_errno()

    def failed(failure: Failure) -> None:
        conn.close()
        _report(session, failure)

    d = conn.connect()
    d.addCallbacks(connected, failed)
    return d


@module.action("redis.disconnect")
def _disconnect(session: Any, event: Any, args: tuple) -> None:
    conn = _connection(session)
    if conn is None:
        return
    conn.close()
    del session.objects[CONNECTION]
    session.clear_errno()


@module.action("redis.execCommand", split="=")
def _exec_command(session: Any, event: Any, args: tuple) -> Deferred | None:
    name = _var_name(args[0])
    argv = _command(session, event, args[1])
    conn = _connection(session)
    if argv is None or conn is None:
        return None
    if conn.target.full_logging:
        session.log.debug("redis: ${name} = {argv!r}", name=name, argv=argv)

    def send() -> Deferred:
        conn.append(argv)
        return _take_reply(session, conn, name)

    return _when_connected(session, conn, send)


@module.action("redis.appendCommand")
def _append_command(session: Any, event: Any, args: tuple) -> Deferred | None:
    argv = _command(session, event, args[0])
    conn = _connection(session)
    if argv is None or conn is None:
        return None

    def queue() -> None:
        conn.append(argv)
        session.clear_errno()

    return _when_connected(session, conn, queue)


@module.action("redis.getReply")
def _get_reply(session: Any, event: Any, args: tuple) -> Deferred | None:
    name = _var_name(args[0])
    conn = _connection(session)
    if conn is None:
        return None
    return _when_connected(session, conn, lambda: _take_reply(session, conn, name))
