"""The control plane's web root: XML-RPC where ``xmlrpc.client`` expects it, pages beside it.

``xmlrpc.client.ServerProxy("http://host:port")`` posts to ``/RPC2``, SEMS's
own scripts post to ``/``; both reach the XML-RPC resource.  Other rooms add
named pages (``/metrics``, ``/console/``) with :meth:`ControlRoot.add_page`:
this module knows nothing about them, so ``donkey.di`` stays free of app
imports and the app hands its resources in.

The pages get the same access policy as XML-RPC: a client the allow-list
refuses, or one without the configured credentials, gets the same 403/401
answer it would get from XML-RPC (which checks for itself in
:meth:`~donkey.di.xmlrpc.resource.DIXmlRpcResource.render`).  An
authentication guard wrapping the whole site wraps this root, so it covers
XML-RPC and every page at once.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.web import resource, server


class AccessPolicy(Protocol):
    """Who may come in: :class:`donkey.di.xmlrpc.config.AccessPolicy` is one.

    A protocol so the web root does not import the XML-RPC package that
    builds it.
    """

    @property
    def allow(self) -> Any:
        """The allow-list (empty: every address)."""
        ...

    @property
    def user(self) -> str | None:
        """The user name required (None: no authentication)."""
        ...

    def address_allowed(self, host: str | None) -> bool: ...

    def credentials_valid(self, user: bytes, password: bytes) -> bool: ...


#: the paths the XML-RPC resource answers on
RPC_PATHS = (b"", b"RPC2")


class _Refused(resource.Resource):
    """The answer to a client the access policy refuses (any method)."""

    isLeaf = True

    def __init__(self, code: int, body: bytes, challenge: bool) -> None:
        super().__init__()
        self.code = code
        self.body = body
        self.challenge = challenge

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(self.code)
        if self.challenge:
            request.setHeader(b"www-authenticate", b'Basic realm="donkey xmlrpc"')
        request.setHeader(b"content-type", b"text/plain")
        return self.body


def refusal(policy: AccessPolicy | None, request: server.Request) -> resource.Resource | None:
    """What to answer a client ``policy`` does not let in; None when it may come in."""
    if policy is None:
        return None
    if policy.allow:
        client = request.getClientAddress()
        if not policy.address_allowed(getattr(client, "host", None)):
            return _Refused(403, b"client address not allowed\n", challenge=False)
    if policy.user is not None and not policy.credentials_valid(
        request.getUser(), request.getPassword()
    ):
        return _Refused(401, b"authorization required\n", challenge=True)
    return None


class ControlRoot(resource.Resource):
    """``/`` and ``/RPC2``: XML-RPC; ``/<name>``: a page added with :meth:`add_page`.

    :param rpc: the XML-RPC resource.
    :param policy: who may use the pages (None: anyone who can connect).
    """

    def __init__(self, rpc: resource.Resource, policy: AccessPolicy | None = None) -> None:
        super().__init__()
        self.rpc = rpc
        self.policy = policy
        self.pages: dict[bytes, resource.Resource] = {}

    def add_page(self, name: str, page: resource.Resource) -> None:
        """Serve ``page`` at ``/name`` (and below it: ``/console/`` and its children)."""
        key = name.strip("/").encode()
        if key in RPC_PATHS:
            raise ValueError(f"'/{name}' is where XML-RPC is served")
        self.pages[key] = page

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        if path in RPC_PATHS:
            return self.rpc
        page = self.pages.get(path)
        if page is None:
            return resource.NoResource()
        return refusal(self.policy, request) or page

    def render(self, request: server.Request) -> bytes | int:
        """A request for the root itself (no trailing slash at all) is XML-RPC's."""
        return self.rpc.render(request)
