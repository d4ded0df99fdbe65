"""The control plane's web root: XML-RPC where ``xmlrpc.client`` expects it, pages beside it.

``xmlrpc.client.ServerProxy("http://host:port")`` posts to ``/RPC2``, SEMS's
own scripts post to ``/``; both reach the XML-RPC resource.  Other rooms add
named pages (``/metrics``, ``/console/``) with :meth:`ControlRoot.add_page`:
this module knows nothing about them, so ``donkey.di`` stays free of app
imports and the app hands its resources in.

Access is checked in front of this root, not here: the site wraps it in a
:class:`~donkey.di.guard.GuardResource`, so the allow-list and basic
authentication cover XML-RPC and every page at once.
"""

from __future__ import annotations

from twisted.web import resource, server

#: the paths the XML-RPC resource answers on
RPC_PATHS = (b"", b"RPC2")


class ControlRoot(resource.Resource):
    """``/`` and ``/RPC2``: XML-RPC; ``/<name>``: a page added with :meth:`add_page`.

    :param rpc: the XML-RPC resource.
    """

    def __init__(self, rpc: resource.Resource) -> None:
        super().__init__()
        self.rpc = rpc
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
        return page

    def render(self, request: server.Request) -> bytes | int:
        """A request for the root itself (no trailing slash at all) is XML-RPC's."""
        return self.rpc.render(request)
