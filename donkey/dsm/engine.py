"""The state engine: runs one event of one session through its current state.

For the current state the transitions are tried in script order; the first
whose conditions all match runs: the old state's exit actions, the
transition's actions, the new state's enter actions.  ``repost()`` evaluates
the same event again afterwards.  A :class:`DSMException` stops the running
action list, and from then on only exception transitions are tried, with the
exception's fields as ``#params``.

The run is a generator: an action (or condition) that returns a Deferred
makes it yield that Deferred, and the session (:mod:`donkey.dsm.session`) resumes it with the result.
Only this session waits; its later events stay queued.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from donkey.dsm import events as ev
from donkey.dsm.diagram import Action, Diagram, ForLoop, IfBlock, State, Transition
from donkey.dsm.errors import DSMException, SessionAborted
from donkey.dsm.events import Event
from donkey.dsm.module import FlowSignal

log = Logger()

# How often one event may be re-evaluated (repost, exceptions) before the
# engine decides the script loops forever.
MAX_ROUNDS = 10_000

_DONE, _BREAK, _FLOW = 0, 1, 2

Run = Generator[Deferred, Any, Any]


class StateObserver:
    """Told about state changes (monitoring, the harness, metrics, traces); does nothing by default.

    ``firing`` and the ``event_*`` hooks exist for watchers that need more
    than the state names (``donkeysm-run --trace`` wants the transition's
    location, the metrics want its source state and how long events wait);
    they cost one call each when nobody overrides them.
    """

    def jumped(self, diagram: str, state: str) -> None:
        """Entered ``diagram`` at ``state`` (start, jumpFSM, callFSM, returnFSM)."""

    def transitioned(self, transition: str, diagram: str, state: str) -> None:
        """Took ``transition`` into ``state``."""

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        """About to take ``transition`` of ``diagram`` on ``event`` (before any of its actions)."""

    def event_started(self, event: Event, waited: float) -> None:
        """The session took ``event`` from its queue after ``waited`` seconds there."""

    def event_done(self, event: Event, took: float) -> None:
        """``event`` is fully processed, ``took`` seconds after it started (waits included)."""


class ObserverChain(StateObserver):
    """Several observers told the same things, in order."""

    __slots__ = ("observers",)

    def __init__(self, observers: list[StateObserver]):
        self.observers = observers

    def jumped(self, diagram: str, state: str) -> None:
        for observer in self.observers:
            observer.jumped(diagram, state)

    def transitioned(self, transition: str, diagram: str, state: str) -> None:
        for observer in self.observers:
            observer.transitioned(transition, diagram, state)

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        for observer in self.observers:
            observer.firing(diagram, transition, event)

    def event_started(self, event: Event, waited: float) -> None:
        for observer in self.observers:
            observer.event_started(event, waited)

    def event_done(self, event: Event, took: float) -> None:
        for observer in self.observers:
            observer.event_done(event, took)


class Engine:
    """The per-session interpreter state: current diagram, state and call stack."""

    # __weakref__: the call-lifetime guard (test/test_call_lifetimes.py) watches engines die
    __slots__ = (
        "session",
        "diagrams",
        "observer",
        "diagram",
        "state",
        "stack",
        "consumed",
        "__weakref__",
    )

    def __init__(
        self, session: Any, diagrams: Mapping[str, Diagram], observer: StateObserver | None = None
    ):
        self.session = session
        self.diagrams = diagrams
        self.observer = observer or StateObserver()
        self.diagram: Diagram | None = None
        self.state: State | None = None
        self.stack: list[tuple[Diagram, State, tuple]] = []
        self.consumed = True

    def close(self) -> None:
        """The session ended: drop the back-references to it (session, observers).

        The observers (monitoring, metrics, the console's trace) hold the
        session too; an ended engine runs no event, so they have nothing left
        to hear.  The current diagram and state stay for whoever reads them.
        """
        self.session = None
        self.observer = StateObserver()

    @property
    def state_name(self) -> str:
        return self.state.name if self.state is not None else ""

    # -- entry points --------------------------------------------------------
    def init(self, diagram: str, event: Event) -> Run:
        """Start (or restart) in ``diagram``'s initial state, then run ``event``."""
        try:
            if not (yield from self._jump(diagram, event)):
                raise SessionAborted(f"cannot start diagram '{diagram}'")
        except DSMException as exc:
            yield from self.run_event(event, exc)
            return
        yield from self.run_event(event)

    def run_event(self, event: Event, exception: DSMException | None = None) -> Run:
        """Evaluate ``event`` against the current state (see module docstring)."""
        if self.state is None:
            return
        session = self.session
        is_exception = exception is not None
        active = Event(ev.EXCEPTION, dict(exception.params)) if exception else event
        rounds = 0
        while True:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise SessionAborted(
                    f"event '{event.type}' re-evaluated {MAX_ROUNDS} times in state "
                    f"'{self.state_name}' (repost or exception loop)"
                )
            self.consumed = True
            try:
                for tr in self.state.transitions:
                    if tr.is_exception is not is_exception:
                        continue
                    for cond in tr.conditions:
                        matched = cond.spec.func(session, active, cond.args)
                        if matched.__class__ is Deferred:  # a condition may wait, too
                            matched = yield matched
                        if bool(matched) is cond.invert:
                            break
                    else:
                        yield from self._fire(tr, active)
                        break
            except DSMException as exc:
                self.consumed = False
                is_exception = True
                active = Event(ev.EXCEPTION, dict(exc.params))
            if self.consumed:
                return

    # -- internals -------------------------------------------------------------
    def _fire(self, tr: Transition, event: Event) -> Run:
        state = self.state
        if state is None:  # run_event only fires transitions of a current state
            return
        if self.diagram is not None:
            self.observer.firing(self.diagram.name, tr, event)
        if state.exit and (yield from self._run(state.exit, event)):
            return
        if tr.actions and (yield from self._run(tr.actions, event)):
            return
        # Read after the actions: one that jumped or called returned above, so
        # this is still the diagram the transition belongs to.
        diagram = self.diagram
        if diagram is None:
            return
        target = diagram.states.get(tr.target)
        if target is None:
            log.error(
                "{loc}: transition '{name}' leads to unknown state '{target}'",
                loc=str(tr.location),
                name=tr.name,
                target=tr.target,
            )
            return
        self.state = target
        self.observer.transitioned(tr.name, diagram.name, target.name)
        if target.enter:
            yield from self._run(target.enter, event)

    def _run(self, actions: tuple, event: Event) -> Run:
        """Run an action list; returns _DONE, _BREAK or _FLOW (jump/call/return)."""
        session = self.session
        for index, element in enumerate(actions):
            cls = element.__class__
            if cls is Action:
                try:
                    result = element.spec.func(session, event, element.args)
                    if result is not None and isinstance(result, Deferred):
                        result = yield result
                except DSMException:
                    raise
                except SessionAborted:
                    raise
                except Exception as exc:
                    log.failure(
                        "{loc}: action {text} failed", loc=str(element.location), text=element.text
                    )
                    raise DSMException("internal", text=f"{element.text}: {exc}") from exc
                if result is None or result.__class__ is not FlowSignal:
                    continue
                outcome = yield from self._flow(result, actions[index + 1 :], event)
                if outcome:
                    return outcome
            elif cls is IfBlock:
                for cond in element.conditions:
                    matched = cond.spec.func(session, event, cond.args)
                    if matched.__class__ is Deferred:
                        matched = yield matched
                    if bool(matched) is cond.invert:
                        branch = element.otherwise
                        break
                else:
                    branch = element.then
                if branch:
                    outcome = yield from self._run(branch, event)
                    if outcome:
                        return outcome
            elif cls is ForLoop:
                outcome = yield from self._loop(element, event)
                if outcome == _FLOW:
                    return outcome
        return _DONE

    def _flow(self, signal: FlowSignal, rest: tuple, event: Event) -> Run:
        kind = signal.kind
        if kind == "repost":
            self.consumed = False
            return _DONE
        if kind == "break":
            return _BREAK
        if kind == "jump":
            return _FLOW if (yield from self._jump(signal.arg, event)) else _DONE
        if kind == "call":
            if self.diagram is None or self.state is None:
                return _DONE
            self.stack.append((self.diagram, self.state, rest))
            if (yield from self._jump(signal.arg, event)):
                return _FLOW
            self.stack.pop()
            return _DONE
        if kind == "return":
            if not self.stack:
                log.error(
                    "returnFSM() with an empty call stack in diagram '{diag}'",
                    diag=self.diagram.name if self.diagram else "",
                )
                return _DONE
            diagram, state, rest_of_caller = self.stack.pop()
            self.diagram, self.state = diagram, state
            if rest_of_caller:
                yield from self._run(rest_of_caller, event)
            self.observer.jumped(self.diagram.name, self.state.name)
            return _FLOW
        raise ValueError(f"unknown flow signal {kind}")  # pragma: no cover

    def _jump(self, name: str, event: Event) -> Run:
        diagram = self.diagrams.get(name)
        if diagram is None or diagram.initial_state is None:
            log.error("diagram '{name}' not found or without initial state", name=name)
            return False
        self.diagram = diagram
        self.state = diagram.initial_state
        self.observer.jumped(diagram.name, self.state.name)
        if self.state.enter:
            saved = self.consumed
            yield from self._run(self.state.enter, event)
            self.consumed = saved  # a repost() while entering a diagram is not for this event
        return True

    def _loop(self, loop: ForLoop, event: Event) -> Run:
        variables = self.session.vars
        key = loop.key
        if loop.kind == "range":
            lo = _int_or_zero(self.session.resolve(loop.value, event))
            hi = _int_or_zero(self.session.resolve(loop.source, event))
            step = 1 if hi > lo else -1
            items: list[tuple[str, str | None]] = [(str(i), None) for i in range(lo, hi, step)]
        elif loop.kind == "array":
            name = loop.source[1:] if loop.source.startswith("$") else loop.source
            items = []
            i = 0
            while True:
                item = variables.get(f"{name}[{i}]")
                if item is None:
                    break
                items.append((item, None))
                i += 1
        else:
            name = loop.source[1:] if loop.source.startswith("$") else loop.source
            prefix = name + "."
            items = [
                (k[len(prefix) :], v) for k, v in sorted(variables.items()) if k.startswith(prefix)
            ]
        saved_key = variables.get(key)
        value_name = loop.value
        saved_value = variables.get(value_name) if loop.kind == "struct" else None
        outcome = _DONE
        for k, v in items:
            variables[key] = k
            if v is not None:
                variables[value_name] = v
            outcome = yield from self._run(loop.body, event)
            if outcome:
                break
        _restore(variables, key, saved_key)
        if loop.kind == "struct":
            _restore(variables, value_name, saved_value)
        return _FLOW if outcome == _FLOW else _DONE


def _restore(variables: dict[str, str], name: str, saved: str | None) -> None:
    if saved is None:
        variables.pop(name, None)
    else:
        variables[name] = saved


def _int_or_zero(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0
