"""mod_curl: HTTP requests from DSM scripts, asynchronous (treq on the reactor).

Actions:

``curl.get(url)``
    GET; the body goes into ``$curl.out``.
``curl.getDiscardResult(url)``
    GET; the body is only logged (debug).
``curl.getFile(url, path)``
    GET; the body is written to ``path`` (created/truncated first).
``curl.getForm(url, $a;$b;...)``
    GET ``url?a=<$a>&b=<$b>`` (values percent-encoded); body into ``$curl.out``.
``curl.post(url, $a;$b;...)`` (also ``curl.postGetResult``)
    POST the variables as ``multipart/form-data`` fields; body into ``$curl.out``.
``curl.postDiscardResult(url, $a;$b;...)``
    The same, body only logged.

Control and result variables (as SEMS): ``$curl.timeout`` (whole request,
in seconds; unset or 0: none), ``$curl.out`` (cleared before ``get``,
``getForm`` and ``post``), ``$curl.err`` (why a request failed).
``$errno``: ``""`` when a response came (whatever its HTTP status, as
libcurl without FAILONERROR), ``general`` when none did (connection refused,
timeout, bad URL), ``file`` when ``getFile`` cannot write its file.
Redirects are not followed (libcurl's default).  No condition.

The session waits for the response; the reactor and other sessions do not.
Connections are kept alive in one pool per runtime (``runtime.module_state("mod_curl.client", ...)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote

import treq
from treq.client import HTTPClient
from twisted.internet import defer, error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed
from twisted.web.iweb import IAgent, IResponse

from donkey.dsm.events import Event
from donkey.dsm.module import Module
from donkey.dsm.values import to_uint_prefix

module = Module("mod_curl")

E_GENERAL, E_FILE, E_ARG = "general", "file", "arg"


class _Client:
    """The runtime's HTTP client and its keep-alive pool."""

    def __init__(self, reactor: Any):
        self.reactor = reactor
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = 8
        self.pool.cachedConnectionTimeout = 60
        # Agent provides IAgent through zope's @implementer, which the type
        # checker cannot see: the cast states what Twisted declares.
        self.http = HTTPClient(cast(IAgent, Agent(reactor, pool=self.pool)))

    def close(self) -> Deferred[None]:
        """Close the kept-alive connections; fires when they are closed."""
        return self.pool.closeCachedConnections()


def client(runtime: Any) -> _Client:
    """The runtime's client, created on first use."""

    def make() -> _Client:
        reactor = runtime.reactor
        if not IReactorTCP.providedBy(reactor):  # a test clock: the network needs the real one
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        return _Client(reactor)

    return runtime.module_state("mod_curl.client", make)


def shutdown(runtime: Any) -> Deferred:
    """Close the runtime's kept-alive connections (tests; a runtime torn down)."""
    c = runtime.drop_module_state("mod_curl.client")
    return c.close() if c is not None else defer.succeed(None)


def _timeout(session: Any) -> float:
    text = session.vars.get("curl.timeout", "")
    if not text:
        return 0.0
    n = to_uint_prefix(text)
    if n is None:
        session.log.warn("curl.timeout '{t}' not understood", t=text)
        return 0.0
    return float(n)


def _describe(failure: Failure, url: str, timeout: float, timed_out: bool) -> str:
    """A libcurl-like message for ``$curl.err``."""
    if timed_out or failure.check(defer.CancelledError):
        return f"Operation timed out after {int(timeout * 1000)} milliseconds"
    if failure.check(error.ConnectionRefusedError):
        return f"Failed to connect to {url}: Connection refused"
    if failure.check(error.DNSLookupError):
        return f"Could not resolve host: {url}"
    if failure.check(ResponseFailed):
        reasons = getattr(failure.value, "reasons", None) or []
        inner = "; ".join(r.getErrorMessage() for r in reasons)
        return f"Failure when receiving data from the peer: {inner}"
    kind = failure.type
    return failure.getErrorMessage() or (kind.__name__ if kind is not None else "error")


def _perform(
    session: Any,
    url: str,
    method: str,
    consume: Callable[[IResponse], Deferred[Any]],
    body: bytes | None = None,
    content_type: str | None = None,
) -> Deferred:
    """Send the request, let ``consume(response)`` read the body; set errno/curl.err."""
    c = client(session.runtime)
    timeout = _timeout(session)
    headers: dict[bytes | str, list[bytes | str]] | None = (
        {"Content-Type": [content_type]} if content_type else None
    )

    timed_out: list[bool] = []

    def failed(failure: Failure) -> None:
        message = _describe(failure, url, timeout, bool(timed_out))
        session.log.debug("curl: {method} {url} failed: {msg}", method=method, url=url, msg=message)
        session.vars["curl.err"] = message
        session.set_errno(E_GENERAL, message)

    if not url:
        session.vars["curl.err"] = "No URL set"
        session.set_errno(E_ARG, "No URL set")
        return defer.succeed(None)
    try:
        d = c.http.request(method, url, data=body, headers=headers, allow_redirects=False)
    except Exception as e:  # noqa: BLE001 - an unusable URL (bad scheme, bad text)
        failed(Failure(e))
        return defer.succeed(None)
    d.addCallback(consume)
    if timeout > 0:

        def expire() -> None:
            timed_out.append(True)
            d.cancel()

        timer = c.reactor.callLater(timeout, expire)

        def stop_timer(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            return result

        d.addBoth(stop_timer)
    d.addCallbacks(lambda _: session.clear_errno(), failed)
    return d


def _into_var(session: Any) -> Callable[[IResponse], Deferred[None]]:
    """Append the body to ``$curl.out`` as it arrives (as SEMS's write callback)."""

    def consume(response: IResponse) -> Deferred[None]:
        session.vars.setdefault("curl.out", "")
        chunks: list[bytes] = []

        def done(_: Any) -> None:
            session.vars["curl.out"] += b"".join(chunks).decode("utf-8", "replace")

        return treq.collect(response, chunks.append).addCallback(done)

    return consume


def _into_log(session: Any, url: str) -> Callable[[IResponse], Deferred[None]]:
    def consume(response: IResponse) -> Deferred[None]:
        def show(data: bytes) -> None:
            session.log.debug(
                "curl: {url} answered {code}: {body}",
                url=url,
                code=response.code,
                body=data[:1024].decode("utf-8", "replace"),
            )

        return treq.content(response).addCallback(show)

    return consume


def _form_vars(session: Any, spec: str) -> list[tuple[str, str]]:
    """``$a;$b`` -> ``[("a", value of $a), ...]``."""
    out = []
    for item in spec.split(";"):
        item = item.strip()
        if not item:
            continue
        name = item[1:] if item.startswith("$") else item
        out.append((name, session.vars.get(name, "")))
    return out


def _multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "------------------------" + os.urandom(8).hex()
    parts = []
    for name, value in fields:
        safe_name = name.replace('"', "%22").replace("\r", "").replace("\n", "")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{safe_name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@module.action("curl.get")
def _get(session: Any, event: Event, args: tuple[str, ...]) -> Deferred:
    session.vars.pop("curl.out", None)
    url = session.resolve(args[0], event)
    return _perform(session, url, "GET", _into_var(session))


@module.action("curl.getDiscardResult")
def _get_discard(session: Any, event: Event, args: tuple[str, ...]) -> Deferred:
    url = session.resolve(args[0], event)
    return _perform(session, url, "GET", _into_log(session, url))


@module.action("curl.getFile", split=",", optional=True)
def _get_file(session: Any, event: Event, args: tuple[str, ...]) -> Deferred | None:
    url = session.resolve(args[0], event)
    path = session.resolve(args[1], event)
    try:
        f = open(path, "wb")
    except OSError as e:
        session.set_errno(E_FILE, f"cannot open '{path}' for writing: {e.strerror}")
        return None

    def write(data: bytes) -> None:
        f.write(data)

    def consume(response: IResponse) -> Deferred[None]:
        return treq.collect(response, write)

    def close_file(result: object) -> object:
        f.close()
        return result

    d = _perform(session, url, "GET", consume)
    d.addBoth(close_file)
    return d


@module.action("curl.getForm", split=",", optional=True)
def _get_form(session: Any, event: Event, args: tuple[str, ...]) -> Deferred:
    session.vars.pop("curl.out", None)
    url = session.resolve(args[0], event)
    sep = "&" if "?" in url else "?"
    for name, value in _form_vars(session, args[1]):
        url += f"{sep}{quote(name, safe='')}={quote(value, safe='')}"
        sep = "&"
    return _perform(session, url, "GET", _into_var(session))


def _post(get_result: bool) -> Callable[[Any, Event, tuple[str, ...]], Deferred[Any]]:
    def action(session: Any, event: Event, args: tuple[str, ...]) -> Deferred[Any]:
        url = session.resolve(args[0], event)
        if get_result:
            session.vars.pop("curl.out", None)
            consume = _into_var(session)
        else:
            consume = _into_log(session, url)
        body, content_type = _multipart(_form_vars(session, args[1]))
        return _perform(session, url, "POST", consume, body, content_type)

    return action


module.action("curl.post", split=",", optional=True)(_post(True))
module.action("curl.postGetResult", split=",", optional=True)(_post(True))
module.action("curl.postDiscardResult", split=",", optional=True)(_post(False))
