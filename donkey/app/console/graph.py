"""A diagram drawn as SVG for the console: DOT for Graphviz, and a plain fallback.

The drawing is ``donkey.dsm.graph``'s (``donkeysm-graph``); each state is an
SVG group whose ``<title>`` is its node id (``diagram/STATE``), so the page
can highlight it and write counts next to it.  ``dot -Tsvg`` runs as a child
process (never blocking the reactor); without Graphviz the states are drawn
as a plain column of boxes.
"""

from __future__ import annotations

import html
import shutil
from typing import Any

from twisted.internet import defer, protocol
from twisted.python.failure import Failure

from donkey.dsm.diagram import Diagram
from donkey.dsm.graph import build_graph

__all__ = ["dot_source", "fallback_svg", "GraphRenderer"]


def dot_source(diagram: Diagram) -> str:
    """DOT for ``diagram``, drawn by :mod:`donkey.dsm.graph` (as ``donkeysm-graph`` draws it)."""
    return build_graph({diagram.name: diagram}, [diagram.name]).to_dot()


def fallback_svg(diagram: Diagram) -> bytes:
    """The states as a column of boxes: what the page shows when Graphviz is missing."""
    width, height, gap = 260, 34, 14
    rows = []
    for i, name in enumerate(diagram.states):
        y = 10 + i * (height + gap)
        text = html.escape(name)
        stroke = 2.5 if name == diagram.initial else 1
        rows.append(
            f'<g id="state-{text}" class="node"><title>{text}</title>'
            f'<rect x="10" y="{y}" width="{width}" height="{height}" rx="8" '
            f'fill="#ffffff" stroke="#000000" stroke-width="{stroke}"/>'
            f'<text x="{10 + width / 2}" y="{y + 22}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="12">{text}</text></g>'
        )
    total = 20 + len(rows) * (height + gap)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 20}" height="{total}" '
        f'viewBox="0 0 {width + 20} {total}"><g class="graph">{"".join(rows)}</g></svg>'
    ).encode()


class _DotProcess(protocol.ProcessProtocol):
    """Feeds DOT to ``dot -Tsvg`` and collects the SVG."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        transport: Any = self.transport  # an IProcessTransport
        transport.write(self.source)
        transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        code = getattr(reason.value, "exitCode", 1)
        if code == 0:
            self.done.callback(b"".join(self.out))
        else:
            message = b"".join(self.err).decode(errors="replace").strip()
            self.done.errback(RuntimeError(f"dot failed ({code}): {message}"))


class GraphRenderer:
    """SVG of diagrams, rendered once per compiled diagram and cached.

    :param reactor: spawns ``dot`` (anything with ``spawnProcess``).
    :param dot: the ``dot`` binary; ``None`` (or not found) draws the fallback.
    """

    def __init__(self, reactor: Any, dot: str | None = "dot") -> None:
        self.reactor = reactor
        self.dot = shutil.which(dot) if dot else None
        self._cache: dict[int, tuple[Diagram, bytes]] = {}

    def svg(self, diagram: Diagram) -> defer.Deferred[bytes]:
        """The SVG of ``diagram`` (the fallback drawing if ``dot`` fails)."""
        cached = self._cache.get(id(diagram))
        if cached is not None and cached[0] is diagram:
            return defer.succeed(cached[1])
        if self.dot is None or not hasattr(self.reactor, "spawnProcess"):
            return defer.succeed(self._keep(diagram, fallback_svg(diagram)))
        proc = _DotProcess(dot_source(diagram).encode("utf-8"))
        self.reactor.spawnProcess(proc, self.dot, [self.dot, "-Tsvg"], env=None)

        def failed(reason: Failure) -> bytes:
            return fallback_svg(diagram)

        d = proc.done
        d.addCallbacks(lambda svg: self._keep(diagram, svg), failed)
        return d

    def _keep(self, diagram: Diagram, svg: bytes) -> bytes:
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[id(diagram)] = (diagram, svg)
        return svg
