"""Dynamic Invocation (DI): named interfaces of functions, callable by name.

SEMS modules publish their internal APIs as "DI factories" so that other
modules (and the XML-RPC control plane) can call them without linking to
them.  Here an interface is any object with a ``functions`` mapping of
function name to a callable taking the argument list; the registry finds
interfaces by name and always answers with a
:class:`~twisted.internet.defer.Deferred`, so callers need not care whether
a function is synchronous.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from twisted.internet import defer

__all__ = [
    "DIError",
    "DINotImplemented",
    "DIArgumentError",
    "DIFunction",
    "IDIInterface",
    "DIInterface",
    "DIRegistry",
    "LIST_FUNCTION",
]

#: Signature of a DI function: the positional argument list in, a plain
#: Python value (or a Deferred firing with one) out.
DIFunction = Callable[[list], Any]

#: The reflection function every SEMS DI interface answers: the names of
#: the functions it wants exported (used by xmlrpc2di's direct_export).
LIST_FUNCTION = "_list"


class DIError(Exception):
    """A DI call could not be carried out.

    :ivar kind: a short category, so transports can map errors to their own
        codes: ``"config"`` (the interface is not loaded), ``"not_implemented"``
        (no such function), ``"args"`` (wrong argument count or types) or
        ``"internal"``.
    :ivar message: human readable detail.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


class DINotImplemented(DIError):
    """The interface exists but has no function of that name."""

    def __init__(self, message: str) -> None:
        super().__init__("not_implemented", message)


class DIArgumentError(DIError):
    """The arguments do not fit the function (count or type).

    DI functions raise this (rather than ``TypeError``/``IndexError``) so the
    caller gets a message naming the offending argument.
    """

    def __init__(self, message: str) -> None:
        super().__init__("args", message)


class IDIInterface(Protocol):
    """What the registry needs from an interface: its function table."""

    @property
    def functions(self) -> Mapping[str, DIFunction]:
        """Function name to callable taking the argument list."""
        ...


class DIInterface:
    """A convenient interface object: a name and a function table.

    The table is filled with the :meth:`function` decorator::

        iface = DIInterface("echo")

        @iface.function("echo")
        def echo(args):
            return args
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.functions: dict[str, DIFunction] = {}

    def function(self, name: str) -> Callable[[DIFunction], DIFunction]:
        """Decorator registering ``f`` under ``name``; returns ``f`` unchanged."""

        def register(f: DIFunction) -> DIFunction:
            self.functions[name] = f
            return f

        return register

    def add(self, name: str, f: DIFunction) -> None:
        """Register ``f`` under ``name`` (the non-decorator spelling)."""
        self.functions[name] = f

    def __repr__(self) -> str:
        return f"<DIInterface {self.name!r} {sorted(self.functions)}>"


class DIRegistry:
    """Interfaces by name.

    One registry is created by the server and handed to everything that
    needs DI (DSM modules, the XML-RPC resource, tests); there is no global
    instance.
    """

    def __init__(self) -> None:
        self._interfaces: dict[str, IDIInterface] = {}

    def register(self, name: str, interface: IDIInterface) -> None:
        """Publish ``interface`` under ``name``, replacing any earlier one (so a module can be reloaded)."""
        if not hasattr(interface, "functions"):
            raise TypeError(f"DI interface {name!r} has no 'functions' table")
        self._interfaces[name] = interface

    def unregister(self, name: str) -> None:
        """Withdraw an interface; unknown names are ignored."""
        self._interfaces.pop(name, None)

    def get(self, name: str) -> IDIInterface | None:
        """The interface registered as ``name``, or ``None``."""
        return self._interfaces.get(name)

    def names(self) -> list[str]:
        """Registered interface names, in registration order."""
        return list(self._interfaces)

    def __contains__(self, name: object) -> bool:
        return name in self._interfaces

    def function_names(self, name: str) -> list[str]:
        """The public function names of interface ``name``.

        Those not starting with ``_``, in definition order.  Raises
        :class:`DIError` ``config`` if the interface is unknown.
        """
        return [f for f in self._interface(name).functions if not f.startswith("_")]

    def lookup(self, iface: str, func: str) -> DIFunction:
        """Resolve ``iface.func`` to its callable without calling it.

        So a transport can bind a method once.  ``_list`` is answered for
        every interface that does not define it itself.
        """
        interface = self._interface(iface)
        f = interface.functions.get(func)
        if f is None:
            if func == LIST_FUNCTION:
                return lambda args: self.function_names(iface)
            raise DINotImplemented(f"{iface}: function '{func}' not implemented")
        return f

    def invoke(self, iface: str, func: str, args: list) -> defer.Deferred:
        """Call ``iface.func`` with ``args``.

        :returns: a Deferred firing with the function's result; lookup
            failures and exceptions raised by the function arrive as its
            errback (never raised synchronously).
        """
        try:
            f = self.lookup(iface, func)
        except DIError:
            return defer.fail()
        return defer.maybeDeferred(f, list(args))

    def _interface(self, name: str) -> IDIInterface:
        interface = self._interfaces.get(name)
        if interface is None:
            raise DIError(
                "config",
                f"DI interface '{name}' not found (module not loaded?)",
            )
        return interface
