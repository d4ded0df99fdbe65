"""The compiled form of a DSM script: an immutable diagram of states and transitions.

Compiled once per load; a session keeps the diagrams it started with, so a
reload only affects new sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from donkey.dsm.errors import Location
from donkey.dsm.module import Module, Spec


@dataclass(frozen=True, slots=True)
class Action:
    """One action call: its spec (function) and the arguments compiled for it."""

    spec: Spec
    args: tuple
    text: str
    location: Location


@dataclass(frozen=True, slots=True)
class Condition:
    spec: Spec
    args: tuple
    invert: bool
    text: str
    location: Location

    def match(self, session: Any, event: Any) -> bool:
        return bool(self.spec.func(session, event, self.args)) != self.invert


@dataclass(frozen=True, slots=True)
class IfBlock:
    conditions: tuple[Condition, ...]
    then: tuple
    otherwise: tuple
    location: Location


@dataclass(frozen=True, slots=True)
class ForLoop:
    """``for ($k in range(a, b))``, ``for ($v in arr)`` or ``for ($k,$v in st)``."""

    kind: str  # "range", "array" or "struct"
    key: str  # loop variable (the key for structs), without '$'
    value: str  # struct value variable / range start expression
    source: str  # array or struct name / range end expression
    body: tuple
    location: Location


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    source: str
    conditions: tuple[Condition, ...]
    actions: tuple
    target: str
    is_exception: bool
    location: Location


@dataclass(frozen=True, slots=True)
class State:
    name: str
    enter: tuple
    exit: tuple
    transitions: tuple[Transition, ...]
    location: Location


@dataclass(frozen=True)
class Diagram:
    name: str
    file: str
    states: dict[str, State]
    initial: str | None
    modules: tuple[Module, ...] = field(default=())

    @property
    def initial_state(self) -> State | None:
        return self.states.get(self.initial) if self.initial else None


def rewrite_actions(diagrams: Iterable[Diagram], rewrite: Callable[[Action], Action]) -> None:
    """Replace every action of ``diagrams`` by ``rewrite(action)``, in place.

    Enter and exit actions, transition actions and the bodies of ``if`` and
    ``for`` blocks are all reached.  The states are replaced by changed copies
    (they are frozen); the diagram objects stay the ones sessions hold.  Tools
    that watch actions (``donkeysm-run``'s exception notes, the metrics'
    module timings) wrap them this way.
    """

    def each(elements: tuple) -> tuple:
        return tuple(one(element) for element in elements)

    def one(element: Any) -> Any:
        if isinstance(element, Action):
            return rewrite(element)
        if isinstance(element, IfBlock):
            return replace(element, then=each(element.then), otherwise=each(element.otherwise))
        if isinstance(element, ForLoop):
            return replace(element, body=each(element.body))
        return element

    for diagram in diagrams:
        for name, state in list(diagram.states.items()):
            diagram.states[name] = replace(
                state,
                enter=each(state.enter),
                exit=each(state.exit),
                transitions=tuple(
                    replace(tr, actions=each(tr.actions)) for tr in state.transitions
                ),
            )
