"""The administrator's door: who may reach the control plane's web resources at all.

:class:`GuardResource` wraps any ``twisted.web`` resource tree (the XML-RPC
resource, a web root with ``/metrics`` or ``/console``) and checks every
request against an :class:`AccessPolicy` *before*
the wrapped resource sees it: a client address outside ``xmlrpc_allow``
gets ``403``, a request without the right HTTP basic credentials gets
``401`` with a challenge.  No DI code runs for a refused request.

It sits at the root of the site, in ``getChildWithDefault``, the one step
:class:`~twisted.web.server.Site` takes for every request whatever its
path, the way :class:`twisted.web.guard.HTTPAuthSessionWrapper` guards a
tree; so children added to the wrapped root later are guarded too.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.web import resource, server
from twisted.web.iweb import IRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def names(value: str | None) -> tuple[str, ...]:
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
        """``"127.0.0.1,::1;10.0.0.0/8"`` to networks; raises ``ValueError``."""
        nets = []
        for item in names((spec or "").replace(",", ";")):
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


REALM = b"donkey"


class _Refusal(resource.Resource):
    """A plain-text ``401``/``403`` answer for every method and path."""

    isLeaf = True

    def __init__(self, code: int, text: bytes, challenge: bool) -> None:
        super().__init__()
        self.code = code
        self.text = text
        self.challenge = challenge

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", b"text/plain")
        if self.challenge:
            request.setHeader(b"www-authenticate", b'Basic realm="' + REALM + b'"')
        return self.text


FORBIDDEN = _Refusal(403, b"client address not allowed\n", False)
UNAUTHORIZED = _Refusal(401, b"authorization required\n", True)


class Caller(Protocol):
    """What the policy reads of a request: where it comes from and its basic credentials."""

    def getClientAddress(self) -> Any: ...

    def getUser(self) -> bytes: ...

    def getPassword(self) -> bytes: ...


def refusal(policy: AccessPolicy, request: Caller) -> resource.Resource | None:
    """The refusal ``request`` gets under ``policy``, or ``None`` if it may pass."""
    if policy.allow:
        client = request.getClientAddress()
        if not policy.address_allowed(getattr(client, "host", None)):
            return FORBIDDEN
    if policy.user is not None and not policy.credentials_valid(
        request.getUser(), request.getPassword()
    ):
        return UNAUTHORIZED
    return None


class GuardResource(resource.Resource):
    """``wrapped``, reachable only by requests ``policy`` lets through.

    :param wrapped: the resource tree to guard (a leaf such as the XML-RPC
        resource, or a root with children).
    :param policy: who may call; an empty policy lets everyone through.
    """

    def __init__(self, wrapped: resource.Resource, policy: AccessPolicy) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.policy = policy

    def getChildWithDefault(self, path: bytes, request: IRequest) -> resource.Resource:
        """Refuse, or hand the path segment back and let ``wrapped`` resolve it."""
        refused = refusal(self.policy, request)
        if refused is not None:
            return refused
        # Site already moved ``path`` from postpath to prepath for us: undo it so
        # the wrapped tree sees the request exactly as if it were the root.
        request.postpath.insert(0, request.prepath.pop())
        return self.wrapped

    def render(self, request: server.Request) -> bytes | int:
        """Only reached when a caller renders the guard directly: check, then delegate."""
        refused = refusal(self.policy, request)
        if refused is not None:
            return refused.render(request)
        return self.wrapped.render(request)
