"""The XML-RPC resource: SEMS's ``xmlrpc2di`` methods dispatched onto the DI registry.

What is reachable:

- built-in methods ``calls``, ``get_sessioncount``, ``get_cpslimit``/``set_cpslimit``,
  ``get_loglevel``/``set_loglevel``,
  ``get_shutdownmode``/``set_shutdownmode``, ``get_callsavg``,
  ``get_callsmax``, ``get_cpsavg``, ``get_cpsmax``, answered from a
  :class:`~donkey.di.xmlrpc.control.CoreControl` handed in by the server;
- ``di(interface, function, args...)`` when ``export_di=yes`` (default);
- the public functions of each ``direct_export`` interface, under
  ``function`` (unless a built-in or an earlier interface already has that
  name) and ``interface.function``;
- ``system.listMethods``.

Direct exports are resolved per call, so interfaces registered after the
service started are found.  Errors never escape as HTTP errors: they become
XML-RPC faults (:mod:`donkey.di.xmlrpc.faults`).
"""

from __future__ import annotations

import xmlrpc.client as xmlrpclib
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.xmlrpc import XMLRPC, Fault

from donkey.di.registry import DIArgumentError, DIRegistry
from donkey.di.xmlrpc.control import CoreControl
from donkey.di.xmlrpc.faults import FAULT_BAD_REQUEST, FAULT_FAILURE, FAULT_UNKNOWN_METHOD, to_fault
from donkey.di.xmlrpc.marshalling import marshal_response

_Procedure = Callable[[list], Any]


class _Timer(Protocol):
    """The part of a delayed call the resource uses."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What times out a DI call: the reactor, or a test's :class:`~twisted.internet.task.Clock`."""

    def callLater(self, delay: float, f: Callable[..., Any], /, *args: Any, **kw: Any) -> _Timer:
        """Run ``f`` after ``delay`` seconds."""
        ...


def _global_reactor() -> Any:
    """The installed reactor, imported only when no clock was handed in."""
    from twisted.internet import reactor

    return reactor


class DIXmlRpcResource(XMLRPC):
    """The XML-RPC resource.

    Policy (which interfaces are exported) is given to it; it does no I/O of
    its own besides answering.  Who may call is checked before a request
    reaches it, by the :class:`~donkey.di.guard.GuardResource` the service
    puts in front of it.

    :param registry: where ``di`` and direct exports find interfaces.
    :param core: answers the built-in methods.
    :param clock: used to time out DI calls whose Deferred never fires.
    """

    def __init__(
        self,
        registry: DIRegistry,
        core: CoreControl,
        *,
        export_di: bool = True,
        direct_export: tuple[str, ...] | list[str] = (),
        allow_none: bool = False,
        timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(allowNone=allow_none)  # Twisted's spelling
        self.registry = registry
        self.core = core
        self.export_di = export_di
        self.direct_export = tuple(direct_export)
        self.timeout = timeout
        self.clock: Clock = clock if clock is not None else _global_reactor()
        #: told each method called (by name; unknown names as ``(unknown)``): the metrics
        self.on_method: Callable[[str], None] | None = None
        self._builtins: dict[str, _Procedure] = {
            "calls": self._calls,
            "get_loglevel": self._get_loglevel,
            "set_loglevel": self._set_loglevel,
            "get_shutdownmode": self._get_shutdownmode,
            "set_shutdownmode": self._set_shutdownmode,
            "get_callsavg": self._figure("calls_avg"),
            "get_callsmax": self._figure("calls_max"),
            "get_cpsavg": self._figure("cps_avg"),
            "get_cpsmax": self._figure("cps_max"),
            "get_sessioncount": self._get_sessioncount,
            "get_cpslimit": self._get_cpslimit,
            "set_cpslimit": self._set_cpslimit,
            "system.listMethods": lambda params: self.listProcedures(),
        }

    # -- built-ins -----------------------------------------------------

    @staticmethod
    def _expect(name: str, params: list, count: int) -> None:
        """A built-in's argument count check, as SEMS words it."""
        if len(params) != count:
            raise DIArgumentError(
                f"{name} takes {count} argument{'s' if count != 1 else ''}, {len(params)} given"
            )

    def _calls(self, params: list) -> int:
        self._expect("calls", params, 0)
        return self.core.calls()

    def _get_loglevel(self, params: list) -> int:
        self._expect("get_loglevel", params, 0)
        return self.core.get_loglevel()

    def _set_loglevel(self, params: list) -> str:
        self._expect("set_loglevel", params, 1)
        level = params[0]
        if not isinstance(level, int) or isinstance(level, bool):
            raise DIArgumentError(f"set_loglevel: level must be an integer, got {level!r}")
        self.core.set_loglevel(level)
        return "200 OK"

    def _get_shutdownmode(self, params: list) -> bool:
        self._expect("get_shutdownmode", params, 0)
        return bool(self.core.shutdown_mode)

    def _set_shutdownmode(self, params: list) -> str:
        self._expect("set_shutdownmode", params, 1)
        mode = params[0]
        if not isinstance(mode, (bool, int)):
            raise DIArgumentError(f"set_shutdownmode: mode must be a boolean, got {mode!r}")
        self.core.shutdown_mode = bool(mode)
        return "200 OK"

    def _get_sessioncount(self, params: list) -> int:
        self._expect("get_sessioncount", params, 0)
        return self.core.session_count()

    def _get_cpslimit(self, params: list) -> str:
        """SEMS's answer: the hard and the current limit, ``"hard soft"`` (the same here)."""
        self._expect("get_cpslimit", params, 0)
        limit = self.core.get_cpslimit()
        return f"{limit} {limit}"

    def _set_cpslimit(self, params: list) -> str:
        self._expect("set_cpslimit", params, 1)
        limit = params[0]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise DIArgumentError(
                f"set_cpslimit: limit must be a non-negative integer, got {limit!r}"
            )
        self.core.set_cpslimit(limit)
        return "200 OK"

    def _figure(self, attribute: str) -> _Procedure:
        """A ``get_*`` built-in reading one figure of the core control."""
        name = "get_" + attribute.replace("_", "")

        def figure(params: list) -> int:
            self._expect(name, params, 0)
            return int(getattr(self.core, attribute))

        return figure

    def _di(self, params: list) -> defer.Deferred:
        """``di(interface, function, args...)``."""
        if len(params) < 2:
            raise Fault(
                FAULT_BAD_REQUEST,
                "di: need at least interface name and function name to call",
            )
        iface, func = params[0], params[1]
        if not isinstance(iface, str) or not isinstance(func, str):
            raise Fault(FAULT_BAD_REQUEST, "di: interface and function names must be strings")
        return self.registry.invoke(iface, func, list(params[2:]))

    # -- lookup --------------------------------------------------------

    def _direct(self, iface: str, func: str) -> _Procedure:
        """A direct export: ``iface.func`` called with the parameter list."""

        def call(params: list) -> defer.Deferred:
            return self.registry.invoke(iface, func, params)

        return call

    def lookupProcedure(self, procedurePath: str) -> _Procedure:
        """Resolve a method name (flat: dots are part of the name, not sub-handlers).

        Unlike the base class's, the procedure returned takes the parameter
        list as one argument.  Raises a :class:`Fault` for unknown names.
        """
        proc = self._builtins.get(procedurePath)
        if proc is not None:
            return proc
        if procedurePath == "di" and self.export_di:
            return self._di
        if not procedurePath.startswith("_"):
            iface, dot, func = procedurePath.partition(".")
            if dot:
                if iface in self.direct_export and not func.startswith("_"):
                    interface = self.registry.get(iface)
                    if interface is not None and func in interface.functions:
                        return self._direct(iface, func)
            else:
                for iface in self.direct_export:
                    interface = self.registry.get(iface)
                    if interface is not None and procedurePath in interface.functions:
                        return self._direct(iface, procedurePath)
        raise Fault(FAULT_UNKNOWN_METHOD, f"{procedurePath}: unknown method name")

    def listProcedures(self) -> list[str]:
        """Every method name currently callable."""
        names = list(self._builtins)
        if self.export_di:
            names.append("di")
        qualified = []
        for iface in self.direct_export:
            if iface not in self.registry:
                continue
            for func in self.registry.function_names(iface):
                if func not in names:
                    names.append(func)
                qualified.append(f"{iface}.{func}")
        return names + qualified

    # -- HTTP ------------------------------------------------------------

    def render_POST(self, request: server.Request) -> bytes | int:
        """Parse the call, run it, and answer now or (for a pending Deferred) later."""
        headers = request.responseHeaders
        headers.removeHeader(b"server")  # nothing to advertise; less to parse
        headers.setRawHeaders(b"content-type", [b"text/xml; charset=utf-8"])
        content = request.content
        if content is not None:
            content.seek(0, 0)
        try:
            params, method = xmlrpclib.loads(content.read() if content is not None else b"")
        except Exception as e:
            return self._marshal(Fault(FAULT_BAD_REQUEST, f"can't parse XML-RPC request: {e}"))
        if method is None:
            return self._marshal(Fault(FAULT_BAD_REQUEST, "not an XML-RPC method call"))
        try:
            procedure = self.lookupProcedure(method)
        except BaseException as e:
            self._count("(unknown)")
            return self._marshal(to_fault(e))
        self._count(method)
        try:
            result = procedure(list(params))
        except BaseException as e:
            return self._marshal(to_fault(e))
        if not isinstance(result, defer.Deferred):
            return self._marshal(result)
        return self._deliver(result, request)

    def _count(self, method: str) -> None:
        """Tell :attr:`on_method` (metrics) which method was called; unknown names are one."""
        if self.on_method is not None:
            self.on_method(method)

    def _deliver(self, d: defer.Deferred, request: server.Request) -> bytes | int:
        """Answer with ``d``'s outcome.

        At once if it already fired (most DI functions are synchronous), else
        when it does, cancelling it after ``timeout`` seconds or if the client
        goes away.
        """
        box: list[bytes] = []
        pending = [False]
        gone = [False]
        timer: list[_Timer] = []

        def deliver(body: bytes) -> None:
            if timer and timer[0].active():
                timer[0].cancel()
            if not pending[0]:
                box.append(body)
            elif not gone[0]:
                request.write(body)
                request.finish()

        d.addErrback(to_fault)
        d.addCallback(self._marshal)
        d.addCallback(deliver)
        if box:
            return box[0]
        pending[0] = True
        if self.timeout > 0:
            timer.append(self.clock.callLater(self.timeout, d.cancel))

        def lost(reason: Failure) -> None:
            gone[0] = True
            d.cancel()

        request.notifyFinish().addErrback(lost)
        return server.NOT_DONE_YET

    def _marshal(self, result: Any) -> bytes:
        """The response body for ``result``; a result that cannot be sent is a fault."""
        try:
            return marshal_response(result, self.allowNone)
        except Exception as e:  # e.g. a cycle: RecursionError
            return marshal_response(Fault(FAULT_FAILURE, f"can't marshal result: {e!r}"))
