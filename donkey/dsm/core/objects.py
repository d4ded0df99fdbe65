"""Actions on a session's rich values (``session.objects``): freeing and tracking them."""

from __future__ import annotations

from typing import Any

from donkey.dsm.core.base import core


@core.action("freeObject")
def _free_object(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event)
    obj = session.objects.pop(name, None)
    if obj is None:
        session.set_errno("arg", f"object '{name}' not found\n")
    elif hasattr(obj, "close"):
        obj.close()


@core.action("trackObject")
def _track_object(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event)
    if name not in session.objects:
        session.set_errno("arg", f"object '{name}' not found\n")


@core.action("releaseObject")
def _release_object(session: Any, event: Any, args: tuple) -> None:
    _track_object(session, event, args)
