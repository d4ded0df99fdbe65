"""
XML-RPC control plane: DI interfaces and core controls over HTTP, as SEMS's
C{xmlrpc2di} module offers them, so SEMS operator scripts keep working.

What is reachable:
  - built-in methods C{calls}, C{get_loglevel}/C{set_loglevel},
    C{get_shutdownmode}/C{set_shutdownmode}, C{get_callsavg},
    C{get_callsmax}, C{get_cpsavg}, C{get_cpsmax}, answered from a
    L{CoreControl} handed in by the server;
  - C{di(interface, function, args...)} when C{export_di=yes} (default);
  - the public functions of each C{direct_export} interface, under
    C{function} (unless a built-in or an earlier interface already has that
    name) and C{interface.function};
  - C{system.listMethods}.

Direct exports are resolved per call, so interfaces registered after the
service started are found.  Errors never escape as HTTP errors: they become
XML-RPC faults with SEMS's codes (C{-1} unknown method, C{300} argument
mismatch, C{400} malformed C{di} call, C{500} failure, C{504} function not
implemented).  C{None} is sent as C{0} (what SEMS sends for an undefined
value) unless C{xmlrpc_allow_none=yes}.

The configuration is a plain C{dict[str, str]} of C{xmlrpc2di.conf} keys:
C{server_ip} (default 127.0.0.1; empty for any), C{xmlrpc_port} (8090; 0
picks a free port), C{export_di}, C{direct_export}, and donkey's additions
C{xmlrpc_user}/C{xmlrpc_password} (HTTP basic auth), C{xmlrpc_allow}
(C{;}-separated client addresses or networks), C{xmlrpc_allow_none} and
C{xmlrpc_timeout} (seconds a DI call may take; default 30).
"""

from __future__ import annotations

import hmac
import ipaddress
import xmlrpc.client as xmlrpclib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.xmlrpc import XMLRPC, Fault

from donkey.di.registry import DIArgumentError, DIError, DINotImplemented, DIRegistry

__all__ = [
    "CoreControl",
    "InMemoryCoreControl",
    "XmlRpcConfig",
    "AccessPolicy",
    "DIXmlRpcResource",
    "XmlRpcService",
    "makeXmlRpcService",
    "marshalResponse",
    "FAULT_UNKNOWN_METHOD",
    "FAULT_ARGS",
    "FAULT_BAD_REQUEST",
    "FAULT_FAILURE",
    "FAULT_NOT_IMPLEMENTED",
]

# Fault codes, as SEMS's xmlrpc2di/XmlRpc++ use them.
FAULT_UNKNOWN_METHOD = -1
FAULT_ARGS = 300
FAULT_BAD_REQUEST = 400
FAULT_FAILURE = 500
FAULT_NOT_IMPLEMENTED = 504

_XMLRPC_INT_MIN, _XMLRPC_INT_MAX = -(2**31), 2**31 - 1

_log = Logger()


class CoreControl(Protocol):
    """
    The server-wide knobs and figures the built-in methods read and write.
    The server supplies the real one; L{InMemoryCoreControl} serves tests.
    """

    shutdown_mode: bool

    def calls(self) -> int:
        """Number of sessions running now."""

    def get_loglevel(self) -> int:
        """Current log level (SEMS numbering: 0 error .. 3 debug)."""

    def set_loglevel(self, level: int) -> None:
        """Change the log level."""

    @property
    def calls_avg(self) -> int:
        """Average number of active calls (recent window)."""

    @property
    def calls_max(self) -> int:
        """Peak active calls since last asked."""

    @property
    def cps_avg(self) -> int:
        """Average calls per second (recent window)."""

    @property
    def cps_max(self) -> int:
        """Peak calls per second since last asked."""


@dataclass
class InMemoryCoreControl:
    """A L{CoreControl} holding plain values, for tests and tools."""

    sessions: int = 0
    loglevel: int = 2
    shutdown_mode: bool = False
    calls_avg: int = 0
    calls_max: int = 0
    cps_avg: int = 0
    cps_max: int = 0

    def calls(self) -> int:
        return self.sessions

    def get_loglevel(self) -> int:
        return self.loglevel

    def set_loglevel(self, level: int) -> None:
        self.loglevel = level


def _yes(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("yes", "true", "1", "on")


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (value or "").split(";") if n.strip())


@dataclass(frozen=True)
class AccessPolicy:
    """
    Who may call: optional HTTP basic credentials and an optional list of
    client networks.  Empty means no restriction.
    """

    user: str | None = None
    password: str | None = None
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parseAllow(cls, spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """C{"127.0.0.1;::1;10.0.0.0/8"} to networks; raises ValueError."""
        nets = []
        for item in _names(spec):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"xmlrpc_allow: {item!r} is not an address or network") from None
        return tuple(nets)

    def addressAllowed(self, host: str | None) -> bool:
        if not self.allow:
            return True
        if not host:
            return False
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow)

    def credentialsValid(self, user: bytes, password: bytes) -> bool:
        if self.user is None:
            return True
        ok_user = hmac.compare_digest(user, self.user.encode("utf-8"))
        ok_pass = hmac.compare_digest(password, (self.password or "").encode("utf-8"))
        return ok_user and ok_pass


@dataclass(frozen=True)
class XmlRpcConfig:
    """The C{xmlrpc2di.conf} settings, parsed and checked."""

    server_ip: str = "127.0.0.1"
    port: int = 8090
    export_di: bool = True
    direct_export: tuple[str, ...] = ()
    allow_none: bool = False
    timeout: float = 30.0
    policy: AccessPolicy = field(default_factory=AccessPolicy)

    @classmethod
    def fromDict(cls, config: Mapping[str, str]) -> XmlRpcConfig:
        """Parse C{config}; raises ValueError naming a bad key."""
        raw_port = (config.get("xmlrpc_port") or "8090").strip()
        try:
            port = int(raw_port)
        except ValueError:
            raise ValueError(f"xmlrpc_port: {raw_port!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"xmlrpc_port: {port} out of range")
        raw_timeout = (config.get("xmlrpc_timeout") or "30").strip()
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ValueError(f"xmlrpc_timeout: {raw_timeout!r} is not a number") from None
        user = config.get("xmlrpc_user") or None
        password = config.get("xmlrpc_password")
        if password and not user:
            raise ValueError("xmlrpc_password given without xmlrpc_user")
        ip = config.get("server_ip")
        return cls(
            server_ip="127.0.0.1" if ip is None else ip.strip(),
            port=port,
            export_di=_yes(config.get("export_di"), True),
            direct_export=_names(config.get("direct_export")),
            allow_none=_yes(config.get("xmlrpc_allow_none"), False),
            timeout=timeout,
            policy=AccessPolicy(
                user=user,
                password=password,
                allow=AccessPolicy.parseAllow(config.get("xmlrpc_allow", "")),
            ),
        )


class _Sink(list):
    """Lets xmlrpclib's Binary/DateTime encoders write into our buffer."""

    write = list.append


def _encode(value: Any, out: _Sink, allowNone: bool) -> None:
    """
    Append the XML-RPC C{<value>} for C{value} to C{out}.

    Compact, typed output like SEMS's XmlRpc++ (no whitespace between
    elements, which also halves the parse work of clients for big lists).
    C{None} becomes C{<nil/>} if allowed, else C{0} as SEMS sends for an
    undefined value; integers beyond 32 bits become doubles; tuples and
    sets become arrays; mapping keys are made strings; bytes are base64;
    anything else is sent as its C{str()}.
    """
    t = type(value)
    if t is str:
        out.append("<value><string>%s</string></value>" % _escape(value))
    elif t is list or t is tuple:
        out.append("<value><array><data>")
        for v in value:
            _encode(v, out, allowNone)
        out.append("</data></array></value>")
    elif t is dict:
        out.append("<value><struct>")
        for k, v in value.items():
            out.append("<member><name>%s</name>" % _escape(str(k)))
            _encode(v, out, allowNone)
            out.append("</member>")
        out.append("</struct></value>")
    elif t is bool:
        out.append("<value><boolean>%d</boolean></value>" % value)
    elif t is int:
        if _XMLRPC_INT_MIN <= value <= _XMLRPC_INT_MAX:
            out.append("<value><int>%d</int></value>" % value)
        else:
            out.append("<value><double>%r</double></value>" % float(value))
    elif t is float:
        out.append("<value><double>%r</double></value>" % value)
    elif value is None:
        out.append("<value><nil/></value>" if allowNone else "<value><int>0</int></value>")
    elif isinstance(value, (xmlrpclib.Binary, xmlrpclib.DateTime)):
        value.encode(out)
    elif isinstance(value, (bytes, bytearray)):
        xmlrpclib.Binary(bytes(value)).encode(out)
    elif isinstance(value, bool):
        _encode(bool(value), out, allowNone)
    elif isinstance(value, int):
        _encode(int(value), out, allowNone)
    elif isinstance(value, float):
        _encode(float(value), out, allowNone)
    elif isinstance(value, str):
        _encode(str(value), out, allowNone)
    elif isinstance(value, Mapping):
        _encode(dict(value), out, allowNone)
    elif isinstance(value, (list, tuple, set, frozenset)):
        _encode(list(value), out, allowNone)
    else:
        _encode(str(value), out, allowNone)


def _escape(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def marshalResponse(result: Any, allowNone: bool = False) -> bytes:
    """A complete C{methodResponse} document for C{result} (or a Fault)."""
    if isinstance(result, Fault):
        return xmlrpclib.dumps(result, methodresponse=True).encode("utf-8")
    out = _Sink()
    out.append("<?xml version='1.0'?>\n<methodResponse><params><param>")
    _encode(result, out, allowNone)
    out.append("</param></params></methodResponse>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def _toFault(reason: Failure | BaseException) -> Fault:
    """Turn whatever went wrong into a fault with a useful message."""
    exc = reason.value if isinstance(reason, Failure) else reason
    if isinstance(exc, Fault):
        return exc
    if isinstance(exc, DINotImplemented):
        return Fault(FAULT_NOT_IMPLEMENTED, f"not implemented: {exc.message}")
    if isinstance(exc, DIArgumentError):
        return Fault(FAULT_ARGS, f"bad arguments: {exc.message}")
    if isinstance(exc, DIError):
        return Fault(FAULT_FAILURE, f"{exc.kind} error: {exc.message}")
    if isinstance(exc, (defer.TimeoutError, defer.CancelledError)):
        return Fault(FAULT_FAILURE, "timed out waiting for the function's result")
    if isinstance(reason, Failure):
        _log.failure("XML-RPC method raised", reason)
    else:
        _log.failure("XML-RPC method raised", Failure(exc))
    return Fault(FAULT_FAILURE, f"Exception: {type(exc).__name__}: {exc}")


_Procedure = Callable[[list], Any]


class DIXmlRpcResource(XMLRPC):
    """
    The XML-RPC resource.  Policy (which interfaces are exported, who may
    call) is given to it; it does no I/O of its own besides answering.

    @param registry: where C{di} and direct exports find interfaces.
    @param core: answers the built-in methods.
    @param clock: used to time out DI calls whose Deferred never fires.
    """

    def __init__(
        self,
        registry: DIRegistry,
        core: CoreControl,
        *,
        exportDI: bool = True,
        directExport: tuple[str, ...] | list[str] = (),
        allowNone: bool = False,
        policy: AccessPolicy | None = None,
        timeout: float = 30.0,
        clock: IReactorTime | None = None,
    ) -> None:
        super().__init__(allowNone=allowNone)
        self.registry = registry
        self.core = core
        self.exportDI = exportDI
        self.directExport = tuple(directExport)
        self.policy = policy or AccessPolicy()
        self.timeout = timeout
        if clock is None:
            from twisted.internet import reactor as clock  # noqa: F811
        self.clock = clock
        self._builtins: dict[str, _Procedure] = {
            "calls": self._calls,
            "get_loglevel": self._getLoglevel,
            "set_loglevel": self._setLoglevel,
            "get_shutdownmode": self._getShutdownmode,
            "set_shutdownmode": self._setShutdownmode,
            "get_callsavg": self._figure("calls_avg"),
            "get_callsmax": self._figure("calls_max"),
            "get_cpsavg": self._figure("cps_avg"),
            "get_cpsmax": self._figure("cps_max"),
            "system.listMethods": lambda params: self.listProcedures(),
        }

    # -- built-ins -----------------------------------------------------

    @staticmethod
    def _expect(name: str, params: list, count: int) -> None:
        if len(params) != count:
            raise DIArgumentError(
                f"{name} takes {count} argument{'s' if count != 1 else ''}, {len(params)} given"
            )

    def _calls(self, params: list) -> int:
        self._expect("calls", params, 0)
        return self.core.calls()

    def _getLoglevel(self, params: list) -> int:
        self._expect("get_loglevel", params, 0)
        return self.core.get_loglevel()

    def _setLoglevel(self, params: list) -> str:
        self._expect("set_loglevel", params, 1)
        level = params[0]
        if not isinstance(level, int) or isinstance(level, bool):
            raise DIArgumentError(f"set_loglevel: level must be an integer, got {level!r}")
        self.core.set_loglevel(level)
        return "200 OK"

    def _getShutdownmode(self, params: list) -> bool:
        self._expect("get_shutdownmode", params, 0)
        return bool(self.core.shutdown_mode)

    def _setShutdownmode(self, params: list) -> str:
        self._expect("set_shutdownmode", params, 1)
        mode = params[0]
        if not isinstance(mode, (bool, int)):
            raise DIArgumentError(f"set_shutdownmode: mode must be a boolean, got {mode!r}")
        self.core.shutdown_mode = bool(mode)
        return "200 OK"

    def _figure(self, attribute: str) -> _Procedure:
        name = "get_" + attribute.replace("_", "")

        def figure(params: list) -> int:
            self._expect(name, params, 0)
            return int(getattr(self.core, attribute))

        return figure

    def _di(self, params: list) -> defer.Deferred:
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
        def call(params: list) -> defer.Deferred:
            return self.registry.invoke(iface, func, params)

        return call

    def lookupProcedure(self, procedurePath: str) -> _Procedure:
        """
        Resolve a method name (flat: dots are part of the name, not
        sub-handlers).  Unlike the base class's, the procedure returned takes
        the parameter list as one argument.  Raises a Fault for unknown names.
        """
        proc = self._builtins.get(procedurePath)
        if proc is not None:
            return proc
        if procedurePath == "di" and self.exportDI:
            return self._di
        if not procedurePath.startswith("_"):
            iface, dot, func = procedurePath.partition(".")
            if dot:
                if iface in self.directExport and not func.startswith("_"):
                    interface = self.registry.get(iface)
                    if interface is not None and func in interface.functions:
                        return self._direct(iface, func)
            else:
                for iface in self.directExport:
                    interface = self.registry.get(iface)
                    if interface is not None and procedurePath in interface.functions:
                        return self._direct(iface, procedurePath)
        raise Fault(FAULT_UNKNOWN_METHOD, f"{procedurePath}: unknown method name")

    def listProcedures(self) -> list[str]:
        """Every method name currently callable."""
        names = list(self._builtins)
        if self.exportDI:
            names.append("di")
        qualified = []
        for iface in self.directExport:
            if iface not in self.registry:
                continue
            for func in self.registry.functionNames(iface):
                if func not in names:
                    names.append(func)
                qualified.append(f"{iface}.{func}")
        return names + qualified

    # -- HTTP ------------------------------------------------------------

    def render(self, request: server.Request) -> bytes | int:
        """Check the caller against the access policy, then dispatch."""
        policy = self.policy
        if policy.allow:
            client = request.getClientAddress()
            if not policy.addressAllowed(getattr(client, "host", None)):
                request.setResponseCode(403)
                request.setHeader(b"content-type", b"text/plain")
                return b"client address not allowed\n"
        if policy.user is not None and not policy.credentialsValid(
            request.getUser(), request.getPassword()
        ):
            request.setResponseCode(401)
            request.setHeader(b"www-authenticate", b'Basic realm="donkey xmlrpc"')
            request.setHeader(b"content-type", b"text/plain")
            return b"authorization required\n"
        return super().render(request)

    def render_POST(self, request: server.Request) -> bytes | int:
        headers = request.responseHeaders
        headers.removeHeader(b"server")  # nothing to advertise; less to parse
        headers.setRawHeaders(b"content-type", [b"text/xml; charset=utf-8"])
        request.content.seek(0, 0)
        try:
            params, method = xmlrpclib.loads(request.content.read())
        except Exception as e:
            return self._marshal(Fault(FAULT_BAD_REQUEST, f"can't parse XML-RPC request: {e}"))
        if method is None:
            return self._marshal(Fault(FAULT_BAD_REQUEST, "not an XML-RPC method call"))
        try:
            result = self.lookupProcedure(method)(list(params))
        except BaseException as e:
            return self._marshal(_toFault(e))
        if not isinstance(result, defer.Deferred):
            return self._marshal(result)
        return self._deliver(result, request)

    def _deliver(self, d: defer.Deferred, request: server.Request) -> bytes | int:
        """
        Answer with C{d}'s outcome: at once if it already fired (most DI
        functions are synchronous), else when it does, cancelling it after
        C{timeout} seconds or if the client goes away.
        """
        box: list[bytes] = []
        pending = [False]
        gone = [False]
        timer = []

        def deliver(body: bytes) -> None:
            if timer and timer[0].active():
                timer[0].cancel()
            if not pending[0]:
                box.append(body)
            elif not gone[0]:
                request.write(body)
                request.finish()

        d.addErrback(_toFault)
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
        try:
            return marshalResponse(result, self.allowNone)
        except Exception as e:  # e.g. a cycle: RecursionError
            return marshalResponse(Fault(FAULT_FAILURE, f"can't marshal result: {e!r}"))


class _ControlSite(server.Site):
    """
    A Site tuned for RPC: no per-request access log line (SEMS logs none
    either, and it costs a tenth of a request), and no form parsing of
    POST bodies (XML-RPC bodies are not forms).
    """

    noisy = False

    def __init__(self, resource: DIXmlRpcResource) -> None:
        try:
            super().__init__(resource, parsePOSTFormSubmission=False)
        except TypeError:  # Twisted before the option existed
            super().__init__(resource)

    def log(self, request: server.Request) -> None:
        pass


class XmlRpcService(Service):
    """
    Listens with a L{DIXmlRpcResource} on one TCP address.  After
    C{startService}, L{port} is the listening port (so port 0 can be used
    and the real number read with C{port.getHost().port}).
    """

    def __init__(
        self,
        resource: DIXmlRpcResource,
        portNumber: int,
        interface: str,
        reactor: IReactorTCP,
    ) -> None:
        self.resource = resource
        self.portNumber = portNumber
        self.interface = interface
        self.reactor = reactor
        self.site = _ControlSite(resource)
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.listenTCP(self.portNumber, self.site, interface=self.interface)

    def stopService(self) -> defer.Deferred | None:
        super().stopService()
        port, self.port = self.port, None
        if port is not None:
            return defer.maybeDeferred(port.stopListening)
        return None

    def getPort(self) -> int:
        """The bound TCP port number; only valid while running."""
        if self.port is None:
            raise RuntimeError("XML-RPC service is not listening")
        return self.port.getHost().port


def makeXmlRpcService(
    config: Mapping[str, str],
    registry: DIRegistry,
    core: CoreControl,
    reactor: Any = None,
) -> XmlRpcService:
    """
    Build (not start) the XML-RPC service from C{xmlrpc2di.conf} keys.

    @raise ValueError: a configuration value is malformed.
    """
    if reactor is None:
        from twisted.internet import reactor
    cfg = XmlRpcConfig.fromDict(config)
    resource = DIXmlRpcResource(
        registry,
        core,
        exportDI=cfg.export_di,
        directExport=cfg.direct_export,
        allowNone=cfg.allow_none,
        policy=cfg.policy,
        timeout=cfg.timeout,
        clock=reactor,
    )
    return XmlRpcService(resource, cfg.port, cfg.server_ip, reactor)
