"""Reading ``xmlrpc2di.conf``: where to listen, what to export, and who may call.

The configuration is a plain ``dict[str, str]`` of ``xmlrpc2di.conf`` keys:
``server_ip`` (default 127.0.0.1; empty for any), ``xmlrpc_port`` (8090; 0
picks a free port), ``export_di``, ``direct_export``, and donkey's additions
``xmlrpc_user``/``xmlrpc_password`` (HTTP basic auth), ``xmlrpc_allow``
(``;``-separated client addresses or networks), ``xmlrpc_allow_none`` and
``xmlrpc_timeout`` (seconds a DI call may take; default 30).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from donkey.common.truthy import truthy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _names(value: str | None) -> tuple[str, ...]:
    """The non-empty items of a ``;``-separated list."""
    return tuple(n.strip() for n in (value or "").split(";") if n.strip())


@dataclass(frozen=True)
class AccessPolicy:
    """Who may call: optional HTTP basic credentials and an optional list of client networks.

    Empty means no restriction.
    """

    user: str | None = None
    password: str | None = None
    allow: tuple[Network, ...] = ()

    @classmethod
    def parse_allow(cls, spec: str) -> tuple[Network, ...]:
        """``"127.0.0.1;::1;10.0.0.0/8"`` to networks; raises ``ValueError``."""
        nets = []
        for item in _names(spec):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"xmlrpc_allow: {item!r} is not an address or network") from None
        return tuple(nets)

    def address_allowed(self, host: str | None) -> bool:
        """Whether a client at ``host`` may call (an IPv4-mapped IPv6 address counts as IPv4)."""
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

    def credentials_valid(self, user: bytes, password: bytes) -> bool:
        """Whether basic-auth ``user``/``password`` match (compared in constant time)."""
        if self.user is None:
            return True
        ok_user = hmac.compare_digest(user, self.user.encode("utf-8"))
        ok_pass = hmac.compare_digest(password, (self.password or "").encode("utf-8"))
        return ok_user and ok_pass


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
            direct_export=_names(config.get("direct_export")),
            allow_none=truthy(config.get("xmlrpc_allow_none"), False),
            timeout=timeout,
            policy=AccessPolicy(
                user=user,
                password=password,
                allow=AccessPolicy.parse_allow(config.get("xmlrpc_allow", "")),
            ),
        )
