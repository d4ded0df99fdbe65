"""Reading ``xmlrpc2di.conf``: where to listen, what to export, and who may call.

The configuration is a plain ``dict[str, str]`` of ``xmlrpc2di.conf`` keys:
``server_ip`` (default 127.0.0.1; empty for any), ``xmlrpc_port`` (8090; 0
picks a free port), ``export_di``, ``direct_export``, and donkey's additions
``xmlrpc_user``/``xmlrpc_password`` (HTTP basic auth), ``xmlrpc_allow``
(client addresses or networks, separated by ``,`` or ``;``),
``xmlrpc_allow_none`` and ``xmlrpc_timeout`` (seconds a DI call may take;
default 30).

The control plane can load scripts and Python modules, so it is an
administrator's door: :meth:`XmlRpcConfig.exposure_problem` says why a
configuration must not listen (a non-loopback address without
``xmlrpc_user``), and the service refuses to start with it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from donkey.common.truthy import truthy
from donkey.di.guard import AccessPolicy, names


@dataclass(frozen=True)
class XmlRpcConfig:
    """The ``xmlrpc2di.conf`` settings, parsed and checked."""

    server_ip: str = "127.0.0.1"
    port: int = 8090
    export_di: bool = True
    direct_export: tuple[str, ...] = ()
    allow_none: bool = False
    timeout: float = 30.0
    policy: AccessPolicy = field(default_factory=AccessPolicy)

    def listens_on_loopback(self) -> bool:
        """Whether ``server_ip`` is a loopback address (empty, meaning every address, is not)."""
        ip = self.server_ip.strip().strip("[]")
        if ip == "localhost":
            return True
        try:
            return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
        except ValueError:
            return False  # a host name (or empty): may well be reachable from outside

    def exposure_problem(self) -> str | None:
        """Why this configuration must not listen, or ``None`` if it may.

        Anyone who reaches the control plane can load scripts and modules
        into the server, so listening beyond loopback needs ``xmlrpc_user``
        (and a password) set.
        """
        if self.listens_on_loopback() or (self.policy.user and self.policy.password):
            return None
        where = self.server_ip or "every address"
        return (
            f"server_ip={where} is not a loopback address and no xmlrpc_user/"
            "xmlrpc_password is set: refusing to open the control plane to the network"
        )

    @classmethod
    def from_dict(cls, config: Mapping[str, str]) -> XmlRpcConfig:
        """Parse ``config``; raises ``ValueError`` naming a bad key."""
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
            export_di=truthy(config.get("export_di"), True),
            direct_export=names(config.get("direct_export")),
            allow_none=truthy(config.get("xmlrpc_allow_none"), False),
            timeout=timeout,
            policy=AccessPolicy(
                user=user,
                password=password,
                allow=AccessPolicy.parse_allow(config.get("xmlrpc_allow", "")),
            ),
        )
