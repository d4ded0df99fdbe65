"""The listening service: a quiet RPC :class:`~twisted.web.server.Site` on one TCP address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet import defer
from twisted.web import http, server
from twisted.web.resource import Resource

from donkey.di.guard import GuardResource
from donkey.di.registry import DIRegistry
from donkey.di.web import ControlRoot
from donkey.di.xmlrpc.config import AccessPolicy, XmlRpcConfig
from donkey.di.xmlrpc.control import CoreControl
from donkey.di.xmlrpc.resource import DIXmlRpcResource


class _Port(Protocol):
    """The part of a listening port the service uses."""

    def getHost(self) -> Any: ...

    def stopListening(self) -> Any: ...


class TCPReactor(Protocol):
    """What the service listens with: the reactor (or a test's fake)."""

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> _Port:
        """Listen on ``interface:port`` with ``factory``."""
        ...


class _ControlSite(server.Site):
    """A Site tuned for RPC, its whole tree behind the access policy.

    No per-request access log line (SEMS logs none either, and it costs a
    tenth of a request), and no form parsing of POST bodies (XML-RPC bodies
    are not forms).  The root is wrapped in a
    :class:`~donkey.di.guard.GuardResource`, so a request the policy refuses
    is answered 401/403 before any resource (and any DI code) sees it.
    """

    noisy = False

    def __init__(self, root: Resource, policy: AccessPolicy) -> None:
        guarded = GuardResource(root, policy)
        try:
            super().__init__(guarded, parsePOSTFormSubmission=False)
        except TypeError:  # Twisted before the option existed
            super().__init__(guarded)

    def log(self, request: http.Request) -> None:
        """No access log."""


class XmlRpcService(Service):
    """Listens with a :class:`DIXmlRpcResource` on one TCP address.

    The site's root is a :class:`~donkey.di.web.ControlRoot` (:attr:`web`):
    XML-RPC at ``/`` and ``/RPC2``, and whatever pages the app adds to it.

    After ``startService``, :attr:`port` is the listening port (so port 0
    can be used and the real number read with :meth:`get_port`).
    """

    def __init__(
        self,
        resource: DIXmlRpcResource,
        port_number: int,
        interface: str,
        reactor: TCPReactor,
        policy: AccessPolicy | None = None,
    ) -> None:
        self.resource = resource
        self.policy = policy or AccessPolicy()
        self.port_number = port_number
        self.interface = interface
        self.reactor = reactor
        #: the web root: XML-RPC at / and /RPC2, and the pages the app adds (/metrics, /console/)
        self.web = ControlRoot(resource)
        # one guard in front of the whole root: every page has XML-RPC's access policy
        self.site = _ControlSite(self.web, self.policy)
        self.port: _Port | None = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.listenTCP(self.port_number, self.site, interface=self.interface)

    def stopService(self) -> defer.Deferred | None:
        super().stopService()
        port, self.port = self.port, None
        if port is not None:
            return defer.maybeDeferred(port.stopListening)
        return None

    def get_port(self) -> int:
        """The bound TCP port number; only valid while running."""
        if self.port is None:
            raise RuntimeError("XML-RPC service is not listening")
        return self.port.getHost().port


def make_xmlrpc_service(
    config: Mapping[str, str],
    registry: DIRegistry,
    core: CoreControl,
    reactor: Any = None,
) -> XmlRpcService:
    """Build (not start) the XML-RPC service from ``xmlrpc2di.conf`` keys.

    :raises ValueError: a configuration value is malformed, or the
        configuration would open the control plane to the network without
        authentication (:meth:`XmlRpcConfig.exposure_problem`).
    """
    if reactor is None:
        from twisted.internet import reactor
    cfg = XmlRpcConfig.from_dict(config)
    problem = cfg.exposure_problem()
    if problem is not None:
        raise ValueError(problem)
    resource = DIXmlRpcResource(
        registry,
        core,
        export_di=cfg.export_di,
        direct_export=cfg.direct_export,
        allow_none=cfg.allow_none,
        timeout=cfg.timeout,
        clock=reactor,
    )
    return XmlRpcService(resource, cfg.port, cfg.server_ip, reactor, cfg.policy)
