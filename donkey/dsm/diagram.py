"""The compiled form of a DSM script: an immutable diagram of states and transitions.

Compiled once per load; a session keeps the diagrams it started with, so a
reload only affects new sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
