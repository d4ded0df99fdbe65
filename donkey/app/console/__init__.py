"""The live console in the browser: apps, calls, their state graphs, updated as they move.

:mod:`~donkey.app.console.events` follows calls and streams changes,
:mod:`~donkey.app.console.resource` renders the pages,
:mod:`~donkey.app.console.graph` draws a diagram, and ``static/`` holds the
page's style sheet and its small script.  :func:`make_console` builds it all
for a server; the server adds it as the ``console`` page of its web root.
"""

from __future__ import annotations

from typing import Any

from donkey.app.console.events import CallWatch
from donkey.app.console.graph import GraphRenderer
from donkey.app.console.resource import ConsoleResource
from donkey.dsm.runtime import Runtime
from donkey.monitoring.store import MonitoringStore

__all__ = ["CallWatch", "ConsoleResource", "GraphRenderer", "make_console"]


def make_console(
    watch: CallWatch, runtime: Runtime, store: MonitoringStore, reactor: Any, alarms: Any = None
) -> ConsoleResource:
    """The ``/console/`` resource of one server (diagrams drawn by ``dot`` if installed)."""
    return ConsoleResource(watch, runtime, store, GraphRenderer(reactor), alarms)
