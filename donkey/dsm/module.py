"""The one interface through which actions and conditions reach the language.

A DSM module is a :class:`Module`: a name and two tables, ``actions`` and
``conditions``, filled with the :meth:`Module.action` and
:meth:`Module.condition` decorators.  The core set (``set``, ``test``,
``playFile`` ...) is a module like any other (:mod:`donkey.dsm.core`), and a
script's ``import(mod_x)`` puts ``mod_x``'s tables in front of the core ones,
so a module can override a core name, as in SEMS.

An action is ``func(session, event, args) -> None | Deferred | FlowSignal``;
a condition is ``func(session, event, args) -> bool | Deferred[bool]``.  ``args`` is the tuple
the compiler made of the text between the parentheses, once, at load time:

``split=None``
    one argument: the text, trimmed, surrounding quotes removed.
``split=","`` / ``split="="``
    two arguments split at the first unquoted separator, each trimmed and
    unquoted (SEMS's two-parameter actions); ``optional=True`` allows the
    second to be missing.
``split="list"``
    every comma-separated argument, trimmed, quotes kept (so the action can
    tell a literal ``"text"`` from ``$var``).
``split="raw"``
    the text exactly as written (test expressions).

``prepare(args) -> args`` runs once at load time, so an action or condition
can pre-parse its arguments (raise ``ValueError`` to report a compile error).

Modules may also implement ``preload(config, runtime)`` (called when a bundle
lists the module in ``preload_mods``; may return a Deferred),
``on_session_start(session)`` and ``on_session_end(session)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

ActionFunc = Callable[..., Any]
#: A condition answers now, or later through a Deferred (the session waits).
ConditionFunc = Callable[..., "bool | Deferred[bool]"]
Prepare = Callable[[tuple], tuple]


@dataclass(frozen=True, slots=True)
class Spec:
    """How one action or condition name is compiled and run."""

    name: str
    func: Callable[..., Any]
    split: str | None = None
    optional: bool = False
    prepare: Prepare | None = None
    module: str = ""


class Module:
    """A named set of DSM actions and conditions, plus optional hooks."""

    def __init__(self, name: str):
        self.name = name
        self.actions: dict[str, Spec] = {}
        self.conditions: dict[str, Spec] = {}

    def action(
        self,
        name: str,
        *,
        split: str | None = None,
        optional: bool = False,
        prepare: Prepare | None = None,
    ) -> Callable[[ActionFunc], ActionFunc]:
        """Register ``func`` as the action ``name``."""

        def register(func: ActionFunc) -> ActionFunc:
            self.actions[name] = Spec(name, func, split, optional, prepare, self.name)
            return func

        return register

    def condition(
        self,
        name: str,
        *,
        split: str | None = None,
        optional: bool = False,
        prepare: Prepare | None = None,
    ) -> Callable[[ConditionFunc], ConditionFunc]:
        """Register ``func`` as the condition ``name``."""

        def register(func: ConditionFunc) -> ConditionFunc:
            self.conditions[name] = Spec(name, func, split, optional, prepare, self.name)
            return func

        return register

    # Hooks; modules override what they need.
    def preload(self, config: Mapping[str, str], runtime: Any) -> Any:
        """Called when an app bundle preloads this module (per-runtime state: runtime.module_state)."""
        return None

    def on_session_start(self, session: Any) -> None:
        """Called when a session that imported this module starts."""

    def on_session_end(self, session: Any) -> None:
        """Called when such a session ends: free per-session resources here."""

    def __repr__(self) -> str:
        return (
            f"<Module {self.name}: {len(self.actions)} actions, {len(self.conditions)} conditions>"
        )


# ---------------------------------------------------------------------------
# Flow signals: what engine-level actions (repost, callFSM, ...) return.


class FlowSignal:
    """Returned by an action to steer the engine instead of acting itself."""

    __slots__ = ("kind", "arg")

    def __init__(self, kind: str, arg: str = ""):
        self.kind = kind
        self.arg = arg

    def __repr__(self) -> str:
        return f"FlowSignal({self.kind!r}, {self.arg!r})"


REPOST = FlowSignal("repost")
RETURN = FlowSignal("return")
BREAK = FlowSignal("break")


def jump(diagram: str) -> FlowSignal:
    return FlowSignal("jump", diagram)


def call(diagram: str) -> FlowSignal:
    return FlowSignal("call", diagram)


# ---------------------------------------------------------------------------
# Argument splitting, done once at compile time.


def unquote(text: str) -> str:
    """Strip one layer of surrounding quotes and the backslash before inner ones."""
    if len(text) >= 1 and text[0] in "\"'":
        q = text[0]
        text = text.strip(q)
        return text.replace("\\" + q, q)
    return text


def split_two(arg: str, sep: str) -> tuple[str, str, bool]:
    """Split at the first ``sep`` outside quotes: ``(par1, par2, found)``."""
    quote = ""
    prev = ""
    for i, ch in enumerate(arg):
        if quote:
            if ch == quote and prev != "\\":
                quote = ""
        elif ch in "\"'" and prev != "\\":
            quote = ch
        elif ch == sep:
            return unquote(arg[:i].strip(" \t")), unquote(arg[i + 1 :].strip(" \t")), True
        prev = ch
    return unquote(arg.strip(" \t")), "", False


def split_list(arg: str) -> tuple[str, ...]:
    """Comma-separated arguments outside quotes and parentheses, quotes kept."""
    out: list[str] = []
    quote = ""
    depth = 0
    start = 0
    prev = ""
    for i, ch in enumerate(arg):
        if quote:
            if ch == quote and prev != "\\":
                quote = ""
        elif ch in "\"'" and prev != "\\":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(arg[start:i].strip(" \t"))
            start = i + 1
        prev = ch
    last = arg[start:].strip(" \t")
    if last or out:
        out.append(last)
    return tuple(out)


def parse_args(spec: Spec, raw: str) -> tuple:
    """Turn the text between the parentheses into ``args`` for ``spec``.

    Raises ``ValueError`` with a message fit for a compile error.
    """
    if spec.split is None:
        args: tuple = (unquote(raw.strip(" \t")),)
    elif spec.split == "raw":
        args = (raw,)
    elif spec.split == "list":
        args = split_list(raw)
    else:
        par1, par2, found = split_two(raw, spec.split)
        if not spec.optional and (not found or not par1 or not par2):
            raise ValueError(
                f"{spec.name}() expects two parameters separated with '{spec.split}', got '{raw}'"
            )
        args = (par1, par2)
    if spec.prepare is not None:
        args = spec.prepare(args)
    return args
