"""The DSM session: variables, a serial event queue, and handles to SIP and media.

Everything that happens to a call (a SIP message, a key, a timer, an event
posted by another session or over XML-RPC) arrives through :meth:`Session.post`
and waits in the session's FIFO queue.  The engine takes the next event only
when the previous one is finished, including any action that returned a
Deferred; other sessions run on meanwhile.  This is the only way into the
engine.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from donkey.dsm import events as ev
from donkey.dsm.engine import Engine, Run
from donkey.dsm.errors import DSMException, SessionAborted
from donkey.dsm.events import Event
from donkey.dsm.values import interpolate, resolve

if TYPE_CHECKING:  # pragma: no cover
    from donkey.dsm.loader import AppBundle
    from donkey.dsm.protocols import CallHandle, DelayedCall, MediaHandle, SessionHost

log = Logger()

_RUN, _INIT, _CALL = 0, 1, 2
#: what waits in a session's queue: an event to run (_RUN, _INIT) or a callback (_CALL)
_Item = Event | Callable[[], None]
_tag_counter = itertools.count(1)
_tag_prefix = os.urandom(4).hex().upper()

SELECTS = (
    "local_tag",
    "user",
    "domain",
    "remote_tag",
    "callid",
    "local_uri",
    "local_party",
    "remote_uri",
    "remote_party",
)


def new_tag() -> str:
    """A local tag unique in this process (SEMS style: HEX-HEX)."""
    return f"{_tag_prefix}-{next(_tag_counter):08X}-{os.urandom(3).hex().upper()}"


class Session:
    """One running DSM: a call leg, or a system DSM when ``call`` is None."""

    def __init__(
        self,
        runtime: SessionHost,
        app: AppBundle,
        *,
        ltag: str | None = None,
        call: CallHandle | None = None,
        media: MediaHandle | None = None,
        system: bool = False,
        variables: dict[str, str] | None = None,
    ):
        self.runtime = runtime
        self.app = app
        self.ltag = ltag or new_tag()
        self.call = call
        self.media = media
        self.system = system
        self.vars: dict[str, str] = {}
        for key, value in app.config.items():
            self.vars["config." + key] = value
        if variables:
            self.vars.update(variables)
        self.objects: dict[str, Any] = {}  # rich per-session objects (DB results, regexes)
        self.engine = Engine(self, app.diagrams, runtime.state_observer(self))
        self.modules = app.modules
        #: (mode, item, the clock's time it was queued: for the event-queue wait)
        self._queue: deque[tuple[int, _Item, float]] = deque()
        #: the event being processed and when it started (for ``event_done``)
        self._current: tuple[Event, float] | None = None
        self._suspended = False  # waiting on an action's Deferred
        self.start_diagram = ""
        self._busy = False
        self._timers: dict[int, DelayedCall] = {}
        self.stopped = False
        self.ended = False
        self.ending: list[Callable[[Session], None]] = []  # called once when the session ends
        self.log = runtime.dsm_logger(self)

    # -- values ------------------------------------------------------------
    def resolve(self, text: str, event: Event | None, eval_ops: bool = False) -> str:
        return resolve(self, text, event, eval_ops)

    def interpolate(self, text: str, event: Event | None) -> str:
        return interpolate(self, text, event)

    def select(self, name: str) -> str:
        """``@name``: a property of the call's dialog ('' in a system DSM)."""
        if name == "local_tag":
            return self.ltag
        if self.call is None or name not in SELECTS:
            return ""
        # every name in SELECTS but local_tag is a property of CallHandle
        return str(getattr(self.call, name) or "")

    def set_errno(self, errno: str, strerror: str | None = None) -> None:
        self.vars["errno"] = errno
        if strerror is not None:
            self.vars["strerror"] = strerror

    def clear_errno(self) -> None:
        self.vars["errno"] = ""

    def require_call(self, what: str) -> CallHandle:
        """The SIP handle, or a ``core`` exception in a system DSM."""
        if self.call is None:
            raise DSMException("core", cause=f"{what} is not available in a system DSM")
        return self.call

    def require_media(self, what: str) -> MediaHandle:
        """The media handle, or a ``core`` exception where there is none."""
        if self.media is None:
            raise DSMException("core", cause=f"{what} is not available without media")
        return self.media

    # -- the event queue ------------------------------------------------------
    def start(
        self, start_diagram: str, event_type: str, params: dict[str, str] | None = None
    ) -> None:
        """Enter ``start_diagram``'s initial state and run the first event."""
        self.start_diagram = start_diagram
        for module in self.modules:
            module.on_session_start(self)
        self._queue.append((_INIT, Event(event_type, params), self.runtime.reactor.seconds()))
        self._drain()

    def restart(self, event_type: str, params: dict[str, str] | None = None) -> None:
        """Run an event from the start diagram's initial state again.

        SEMS, as the quizconnect tutorial shows it, ran ``sessionStart`` this
        way: after the ``invite`` event, from the initial state.
        """
        self._enqueue(_INIT, Event(event_type, params))

    def post(self, event: Event) -> None:
        """Queue ``event``; it runs when the session is idle."""
        self._enqueue(_RUN, event)

    def when_idle(self, func: Callable[[], None]) -> None:
        """Call ``func`` once every event queued so far has been processed."""
        self._enqueue(_CALL, func)

    def _enqueue(self, mode: int, item: _Item) -> None:
        if self.ended:
            return
        self._queue.append((mode, item, self.runtime.reactor.seconds()))
        if not self._busy:
            self._drain()

    def _drain(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue and not self.ended:
                if self.stopped:
                    self._queue.clear()
                    break
                mode, item, queued_at = self._queue.popleft()
                if not isinstance(item, Event):
                    try:
                        item()
                    except Exception:
                        log.failure("session {ltag}: internal callback failed", ltag=self.ltag)
                    continue
                event = item
                now = self.runtime.reactor.seconds()
                self.engine.observer.event_started(event, now - queued_at)
                self._current = (event, now)
                if mode == _INIT:
                    gen = self.engine.init(self.start_diagram, event)
                else:
                    gen = self.engine.run_event(event)
                if not self._step(gen, None, None):
                    return  # suspended on a Deferred; _resume continues the drain
                self._event_done()
        finally:
            if self._busy and not self._suspended:
                self._busy = False
        if self.stopped and not self.ended:
            self._finish()

    def _step(self, gen: Run, value: Any, error: BaseException | None) -> bool:
        """Run ``gen`` until it ends (True) or waits on a Deferred (False)."""
        while True:
            try:
                if error is not None:
                    d = gen.throw(error)
                    error = None
                else:
                    d = gen.send(value)
            except StopIteration:
                return True
            except SessionAborted as e:
                self.log.error("session {ltag} aborted: {why}", ltag=self.ltag, why=str(e))
                self.stopped = True
                return True
            except Exception:  # a bug below the script: end this session, not the daemon
                self.log.failure("session {ltag} failed", ltag=self.ltag)
                self.stopped = True
                return True
            holder: list[Any] = []
            waiting = [True]

            def fired(
                result: Any,
                gen: Run = gen,
                holder: list[Any] = holder,
                waiting: list[bool] = waiting,
            ) -> None:
                if waiting[0]:
                    holder.append(result)
                else:
                    self._resume(gen, result)
                return None

            d.addBoth(fired)
            if holder:
                value, error = _split(holder[0])
                continue
            waiting[0] = False
            self._suspended = True
            return False

    def _resume(self, gen: Run, result: Any) -> None:
        self._suspended = False
        value, error = _split(result)
        if self._step(gen, value, error):
            self._event_done()
            self._busy = False
            self._drain()

    def _event_done(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            event, started = current
            self.engine.observer.event_done(event, self.runtime.reactor.seconds() - started)

    # -- timers -------------------------------------------------------------
    def set_timer(self, timer_id: int, seconds: float) -> None:
        self.remove_timer(timer_id)
        clock = self.runtime.reactor
        self._timers[timer_id] = clock.callLater(seconds, self._timer_fired, timer_id)

    def _timer_fired(self, timer_id: int) -> None:
        self._timers.pop(timer_id, None)
        self.post(Event(ev.TIMER, {"id": str(timer_id)}))

    def remove_timer(self, timer_id: int) -> None:
        call = self._timers.pop(timer_id, None)
        if call is not None and call.active():
            call.cancel()

    def remove_timers(self) -> None:
        for timer_id in list(self._timers):
            self.remove_timer(timer_id)

    # -- ending ---------------------------------------------------------------
    def stop(self, send_bye: bool) -> None:
        """``stop(true|false)``: end after the current event."""
        if send_bye and self.call is not None:
            self.call.bye()
        self.stopped = True

    def _finish(self) -> None:
        """Run ``beforeDestroy``, then free everything the session held."""
        if self.ended:
            return
        self.ended = True
        self.remove_timers()
        try:
            gen = self.engine.run_event(Event(ev.BEFORE_DESTROY, {}))
            # beforeDestroy runs synchronously; a Deferred here is not waited for.
            for _ in gen:
                break
        except Exception:  # pragma: no cover - defensive
            log.failure("beforeDestroy failed")
        for module in self.modules:
            try:
                module.on_session_end(self)
            except Exception:
                log.failure("on_session_end of {mod} failed", mod=module.name)
        callbacks, self.ending = self.ending, []  # once: and the session no longer holds them
        for callback in callbacks:
            callback(self)
        self.objects.clear()
        self.runtime.session_ended(self)
        self._release()

    def _release(self) -> None:
        """Let go of what points back at this session, once every end hook has run.

        The call handle, the engine (with its observers) and the logger all
        refer back to the session: left in place, an ended call would wait
        for the cycle collector instead of being freed when its last holder
        lets go.  An ended session runs nothing more, so it needs none of
        them; its variables, tag and final state stay readable.
        """
        self.call = None
        self.media = None
        self.ending.clear()  # the call glue's bound methods: they hold the call
        self.engine.close()
        # Logger(source=self) is a self-reference; keep its namespace and observer
        self.log = Logger(namespace=self.log.namespace, observer=self.log.observer)

    def hangup_cleanup(self) -> None:
        """The call is gone (remote BYE processed, or CANCEL): end if the script stopped."""
        if self.stopped and not self._busy:
            self._finish()


def _split(result: Any) -> tuple[Any, BaseException | None]:
    if isinstance(result, Failure):
        return None, result.value
    return result, None
