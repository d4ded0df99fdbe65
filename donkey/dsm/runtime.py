"""The DSM host: everything a DSM session can reach, owned by one daemon (or one test).

Sessions get the runtime when they are made; modules reach shared services
(DI, monitoring, the session container, dial-out, the conference bridge)
through ``session.runtime``.  The services themselves live in other rooms and
are handed in by whoever builds the runtime (:mod:`donkey.app.server` for the
daemon, :class:`~donkey.dsm.harness.Harness` for tests); this module only
knows their protocols (:mod:`donkey.dsm.protocols`).  Nothing here is a
module-level global, so a test can run several runtimes side by side with
fake clocks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from twisted.logger import ILogObserver, Logger, globalLogPublisher

from donkey.dsm import events as ev
from donkey.dsm.diagram import Diagram
from donkey.dsm.engine import ObserverChain, StateObserver
from donkey.dsm.errors import CompileError
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle, ModuleLoader, load_bundle
from donkey.dsm.session import Session

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.defer import Deferred

    from donkey.dsm.protocols import (
        CallHandle,
        ConferenceRooms,
        Dialer,
        DialRequest,
        DIHost,
        MediaHandle,
        MonitoringSink,
        Reactor,
    )

#: Called with each newly compiled bundle before it replaces the old one, to
#: build what other rooms keep per bundle (the app's prompt sets); raising
#: ``CompileError``, ``ValueError`` or ``OSError`` keeps the old bundle.
BundleHook = Callable[[AppBundle], None]

log = Logger()


class SessionContainer:
    """Running sessions by local tag, and named event queues (``registerEventQueue``)."""

    def __init__(self) -> None:
        self.by_tag: dict[str, Session] = {}
        self.queues: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        self.by_tag[session.ltag] = session

    def remove(self, session: Session) -> None:
        if self.by_tag.get(session.ltag) is session:
            del self.by_tag[session.ltag]
        for name in [n for n, s in self.queues.items() if s is session]:
            del self.queues[name]

    def get(self, tag: str) -> Session | None:
        return self.by_tag.get(tag) or self.queues.get(tag)

    def post_event(self, target: str, event: Event) -> bool:
        """Deliver ``event`` to a session by local tag or queue name."""
        session = self.get(target)
        if session is None or session.ended:
            return False
        session.post(event)
        return True

    def register_queue(self, name: str, session: Session) -> None:
        self.queues[name] = session

    def unregister_queue(self, name: str, session: Session) -> None:
        if self.queues.get(name) is session:
            del self.queues[name]

    def __len__(self) -> int:
        return len(self.by_tag)


class MonitoringObserver(StateObserver):
    """Writes a session's diagram, state and (optionally) state graph to monitoring."""

    __slots__ = ("store", "ident", "graph", "transitions")

    def __init__(self, store: MonitoringSink, ident: str, graph: bool, transitions: bool):
        self.store = store
        self.ident = ident
        self.graph = graph
        self.transitions = transitions

    def jumped(self, diagram: str, state: str) -> None:
        self.store.set(self.ident, "dsm_diag", diagram)
        self.store.set(self.ident, "dsm_state", state)
        if self.graph:
            self.store.add(self.ident, "dsm_stategraph", f"{diagram}/{state}")

    def transitioned(self, transition: str, diagram: str, state: str) -> None:
        self.store.set(self.ident, "dsm_state", state)
        if self.transitions:
            self.store.add(self.ident, "dsm_stategraph", f"> {transition} >")
        if self.graph:
            self.store.add(self.ident, "dsm_stategraph", f"{diagram}/{state}")


class Runtime:
    """Services shared by all sessions of one donkey instance."""

    def __init__(
        self,
        reactor: Reactor,
        *,
        di: DIHost | None = None,
        monitoring: MonitoringSink | None = None,
        log_observer: ILogObserver | None = None,
        main_config: Mapping[str, str] | None = None,
        base_dir: str = ".",
        conference: ConferenceRooms | None = None,
    ):
        self.reactor = reactor
        #: the DI registry the ``DI(...)`` actions call (None: no DI here)
        self.di = di
        self.monitoring = monitoring
        #: mod_conference's rooms (None: conference actions throw)
        self.conference = conference
        # Places outbound calls for dlg.dialout; set by the SIP layer (or a harness).
        self.dialer: Dialer | None = None
        self.log_observer: ILogObserver = log_observer or cast(ILogObserver, globalLogPublisher)
        self.sessions = SessionContainer()
        self.modules = ModuleLoader()
        self.main_config: dict[str, str] = dict(main_config or {})
        self.base_dir = base_dir
        self.bundles: dict[str, AppBundle] = {}
        self.apps: dict[str, tuple[AppBundle, str]] = {}
        self.system_sessions: list[Session] = []
        self._module_state: dict[str, Any] = {}
        self.on_session_end: list[Callable[[Session], None]] = []
        #: see :data:`BundleHook`
        self.bundle_hooks: list[BundleHook] = []
        #: more watchers of every session's states and events (metrics,
        #: traces): each is asked once per new session, None means not this one
        self.state_watchers: list[Callable[[Session], StateObserver | None]] = []

    # -- per-runtime state of modules (pools, tables) -------------------------
    def module_state(self, key: str, factory: Callable[[], Any]) -> Any:
        """The state ``key`` of a module in this runtime, made by ``factory`` on first use.

        State with a ``close()`` method is closed by :meth:`shutdown`.
        """
        state = self._module_state.get(key)
        if state is None:
            state = self._module_state[key] = factory()
        return state

    def drop_module_state(self, key: str) -> Any:
        """Forget (and return) a module's state, e.g. to close it early."""
        return self._module_state.pop(key, None)

    def shutdown(self) -> Deferred:
        """Close every module state that can be closed (pools, HTTP connections)."""
        from twisted.internet.defer import DeferredList, maybeDeferred

        closing = [
            maybeDeferred(state.close)
            for state in self._module_state.values()
            if hasattr(state, "close")
        ]
        self._module_state.clear()
        return DeferredList(closing, consumeErrors=True)

    # -- hooks used by Session ----------------------------------------------
    def state_observer(self, session: Session) -> StateObserver | None:
        observers = [w for w in (watch(session) for watch in self.state_watchers) if w]
        monitoring = self._monitoring_observer(session)
        if monitoring is not None:
            observers.insert(0, monitoring)
        if len(observers) > 1:
            return ObserverChain(observers)
        return observers[0] if observers else None

    def _monitoring_observer(self, session: Session) -> StateObserver | None:
        if self.monitoring is None or session.system:
            return None
        bundle = session.app
        return MonitoringObserver(
            self.monitoring,
            session.ltag,
            bundle.flag("monitoring_full_stategraph")
            or self.main_flag("monitoring_full_stategraph"),
            bundle.flag("monitoring_full_transitions")
            or self.main_flag("monitoring_full_transitions"),
        )

    def main_flag(self, key: str) -> bool:
        return self.main_config.get(key, "").strip().lower() in ("yes", "true", "1")

    def dsm_logger(self, session: Session) -> Logger:
        return Logger(
            namespace=f"donkey.dsm.{session.app.name}", source=session, observer=self.log_observer
        )

    def session_ended(self, session: Session) -> None:
        self.sessions.remove(session)
        if session in self.system_sessions:
            self.system_sessions.remove(session)
        if self.monitoring is not None and not session.system:
            self.monitoring.mark_finished(session.ltag)
        for callback in list(self.on_session_end):
            callback(session)

    # -- bundles and apps -------------------------------------------------------
    def load_bundle(
        self, name: str, conf: Mapping[str, str], base_dir: str | None = None, register: bool = True
    ) -> AppBundle:
        """Compile and install a bundle; on any error the old one stays (raises)."""
        return self.install_bundle(self.compile_bundle(name, conf, base_dir), register)

    def compile_bundle(
        self, name: str, conf: Mapping[str, str], base_dir: str | None = None
    ) -> AppBundle:
        """Read and compile a bundle without installing it (raises :class:`CompileError`).

        Touches nothing of the running server but the module cache, so the
        control plane runs it in a worker thread: reading and compiling a
        large script does not stall the reactor.
        """
        return load_bundle(name, conf, self.modules, base_dir or self.base_dir)

    def install_bundle(self, bundle: AppBundle, register: bool = True) -> AppBundle:
        """Preload, check and install a compiled bundle (on the reactor).

        Atomic: every check (preloads, ``register_apps`` naming loaded
        diagrams, the bundle hooks) runs before anything is replaced, so any
        error leaves the running bundles and apps as they were.
        """
        name = bundle.name
        for module in bundle.preloaded:
            try:
                module.preload(bundle.config, self)
            except (ValueError, OSError) as e:
                raise CompileError(f"preloading {module.name} for bundle '{name}': {e}") from e
        if register:
            for app in bundle.register_apps:
                if app not in bundle.diagrams:
                    raise CompileError(f"register_apps: '{app}' is not loaded in bundle '{name}'")
        self._run_bundle_hooks(bundle)
        old = self.bundles.get(name)
        self.bundles[name] = bundle
        for app, (b, diagram) in list(self.apps.items()):
            if b is old and old is not None:
                if diagram in bundle.diagrams:
                    self.apps[app] = (bundle, diagram)
                else:
                    del self.apps[app]
        if register:
            for app in bundle.register_apps:
                self.apps[app] = (bundle, app)
        return bundle

    def _run_bundle_hooks(self, bundle: AppBundle) -> None:
        for hook in self.bundle_hooks:
            try:
                hook(bundle)
            except (ValueError, OSError) as e:
                raise CompileError(f"bundle '{bundle.name}': {e}") from e

    def main_path(self, path: str) -> str:
        """A path from the main DSM config, relative to its directory."""
        if not path:
            return self.base_dir
        return path if os.path.isabs(path) else os.path.join(self.base_dir, path)

    def compile_into_main(self, name: str, path: str, mod_path: str = "") -> AppBundle:
        """``loadDSM``: add one diagram to the main bundle (new calls only)."""
        return self.install_into_main(name, self.compile_diagram(name, path, mod_path))

    def compile_diagram(self, name: str, path: str, mod_path: str = "") -> Diagram:
        """Read and compile one script without installing it (safe in a worker thread)."""
        from donkey.dsm.compiler import Compiler
        from donkey.dsm.core import core

        resolved = ";".join(self.main_path(p) for p in mod_path.split(";") if p)
        compiler = Compiler(core, lambda mod, at: self.modules.load(mod, resolved, at))
        diagram = compiler.compile_file(path, name)
        for warning in compiler.warnings:
            log.warn("{problem}", problem=str(warning))
        return diagram

    def install_into_main(self, name: str, diagram: Diagram) -> AppBundle:
        """Add a compiled diagram to the main bundle (on the reactor); raises, changing nothing."""
        from dataclasses import replace

        old = self.bundles.get("main")
        if old is None:
            bundle = AppBundle("main", dict(self.main_config), {name: diagram})
        else:
            bundle = replace(old, diagrams={**old.diagrams, name: diagram})
        self._run_bundle_hooks(bundle)
        self.bundles["main"] = bundle
        for app, (b, diag) in list(self.apps.items()):
            if b is old:
                self.apps[app] = (bundle, diag)
        return bundle

    def register_app(self, diagram: str, bundle_name: str = "main") -> bool:
        bundle = self.bundles.get(bundle_name)
        if bundle is None or diagram not in bundle.diagrams:
            return False
        self.apps[diagram] = (bundle, diagram)
        return True

    # -- sessions ---------------------------------------------------------------
    def new_session(
        self,
        bundle: AppBundle,
        *,
        ltag: str | None = None,
        call: CallHandle | None = None,
        media: MediaHandle | None = None,
        system: bool = False,
        variables: dict[str, str] | None = None,
    ) -> Session:
        """A session of ``bundle``, known by its local tag from now on (not yet started)."""
        session = Session(
            self, bundle, ltag=ltag, call=call, media=media, system=system, variables=variables
        )
        self.sessions.add(session)
        return session

    def create_system_dsm(
        self, conf_name: str, diagram: str, event_type: str = ev.STARTUP
    ) -> tuple[bool, str]:
        """Start a system DSM (no call) from bundle ``conf_name`` ('main' allowed)."""
        bundle = self.bundles.get(conf_name)
        if bundle is None:
            return False, f"config '{conf_name}' not found"
        if diagram not in bundle.diagrams:
            return False, f"diagram '{diagram}' not found in config '{conf_name}'"
        session = self.new_session(bundle, system=True)
        self.system_sessions.append(session)
        session.start(diagram, event_type)
        return True, "OK"

    def start_system_dsms(self, bundle: AppBundle, event_type: str = ev.STARTUP) -> None:
        for diagram in bundle.system_dsms:
            ok, status = self.create_system_dsm(bundle.name, diagram, event_type)
            if not ok:
                log.error("run_system_dsms: {status}", status=status)

    def dialout(self, request: DialRequest) -> str:
        """Start an outbound call running ``request.app``; returns its local tag."""
        if self.dialer is None:
            raise RuntimeError("no SIP stack to dial out with")
        return self.dialer(request)

    def broadcast_system_event(self, params: dict[str, str]) -> None:
        """``system`` event (ServerShutdown, User1, User2) to every session."""
        for session in list(self.sessions.by_tag.values()):
            session.post(Event(ev.SYSTEM, dict(params)))
