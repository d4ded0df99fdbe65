"""The daemon's service tree: every room joined into one running server.

:func:`build_server` reads nothing itself: it takes a parsed
:class:`~donkey.config.ServerConfig` and the reactor, compiles every app
bundle, and returns a MultiService of the monitoring store, the media clock,
the SIP stack, the XML-RPC control plane, and the DSM service that starts
system DSMs and tells them about shutdown and signals.  ``donkey.tap`` is the
twistd front door to it.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
from typing import Any

from twisted.application import service
from twisted.internet import threads
from twisted.logger import Logger, LogLevel

from donkey.app.alarms import AlarmConfig, StuckCallDetector, register_alarms
from donkey.app.console import CallWatch, make_console
from donkey.app.control import make_dsm_interface
from donkey.app.controller import CallController
from donkey.app.metrics import Metrics
from donkey.app.monitoring_di import register_monitoring
from donkey.config import ConfigError, ServerConfig, read_config
from donkey.di.registry import DIRegistry
from donkey.di.xmlrpc import XmlRpcConfig, make_xmlrpc_service
from donkey.dsm import events as ev
from donkey.dsm.errors import CompileError
from donkey.dsm.runtime import Runtime
from donkey.media.clock import MediaClock
from donkey.media.conference import ConferenceBridge
from donkey.media.rtp import PortAllocator
from donkey.monitoring.store import MonitoringStore, make_garbage_collector
from donkey.sip.session_timer import SessionTimerConfig
from donkey.sip.stack import SipStack, StackLimits

log = Logger(namespace="donkey")

SEMS_LEVELS = {0: LogLevel.error, 1: LogLevel.warn, 2: LogLevel.info, 3: LogLevel.debug}


class StartupError(Exception):
    """The server cannot start; the message says why in one line (or one per script error)."""


class DonkeyServer(service.MultiService):
    """The daemon's top service, with handles on its parts (for the banner, tests, embedding)."""

    runtime: Runtime
    stack: SipStack
    controller: CallController
    xmlrpc: Any
    metrics: Metrics
    alarms: StuckCallDetector


class ServerControl:
    """The CoreControl of the XML-RPC built-ins: live figures from the running server."""

    def __init__(
        self, runtime: Runtime, stack: SipStack, controller: CallController, loglevel: int
    ):
        self.runtime = runtime
        self.stack = stack
        self.controller = controller
        self.loglevel = loglevel
        self._calls_max = 0
        self._cps_max = 0

    def calls(self) -> int:
        return len(self.controller.calls)

    def get_loglevel(self) -> int:
        return self.loglevel

    def session_count(self) -> int:
        """Legs the stack started since it came up, in and out (SEMS counts every session)."""
        return self.stack.stats().total_calls

    def get_cpslimit(self) -> int:
        return int(self.stack.limits.max_cps)

    def set_cpslimit(self, limit: int) -> None:
        self.stack.set_max_cps(limit)

    def set_loglevel(self, level: int) -> None:
        self.loglevel = int(level)

    @property
    def shutdown_mode(self) -> bool:
        return self.stack.shutdown_mode

    @shutdown_mode.setter
    def shutdown_mode(self, on: bool) -> None:
        self.stack.set_shutdown_mode(bool(on))

    @property
    def calls_avg(self) -> int:
        return self.calls()

    @property
    def calls_max(self) -> int:
        value, self._calls_max = max(self._calls_max, self.calls()), self.calls()
        return value

    @property
    def cps_avg(self) -> int:
        return int(self.stack.stats().cps)

    @property
    def cps_max(self) -> int:
        value, self._cps_max = max(self._cps_max, int(self.stack.stats().cps)), 0
        return value


class LevelFilter:
    """Drops log events below the configured SEMS level (set_loglevel changes it live)."""

    def __init__(self, control: ServerControl):
        self.control = control

    def __call__(self, event: dict) -> bool:
        level = event.get("log_level", LogLevel.info)
        limit = SEMS_LEVELS.get(self.control.loglevel, LogLevel.debug)
        return level >= limit


# Twisted's own lines for every RTP/RTCP socket a call opens and closes: four
# pairs per call, the biggest per-call logging cost at hundreds of calls per
# second.  SEMS does not log its RTP ports at info level; here they count as
# debug (loglevel=3 shows them).  "(UDP Port N Closed)" carries no hint of
# which socket it was, so the SIP socket's closing at shutdown is debug too.
_PORT_CHATTER = re.compile(
    r"(?:RtpEndpoint|_Discard) starting on \d+$"
    r"|(?:Starting|Stopping) protocol <donkey\.media\.rtp\."
    r"|\(UDP Port \d+ Closed\)$"
)


def is_port_chatter(event: dict) -> bool:
    """A legacy ``log.msg`` line of Twisted about an RTP/RTCP socket."""
    message = event.get("message")
    if not message or len(message) != 1 or event.get("isError"):
        return False
    text = message[0]
    if not isinstance(text, str) or not _PORT_CHATTER.match(text):
        return False
    return True


class _FilteredObserver:
    """One of twistd's observers behind the SEMS log level (and the chatter rule)."""

    def __init__(self, observer: Any, control: ServerControl):
        self.observer = observer
        self.level = LevelFilter(control)
        self.control = control

    def __call__(self, event: dict) -> None:
        if not self.level(event):
            return
        if self.control.loglevel < 3 and is_port_chatter(event):
            return
        self.observer(event)


class LogFilterService(service.Service):
    """Puts the daemon's observers behind ``loglevel`` while it runs.

    twistd starts logging after ``makeService``, so the observers are
    wrapped at start-up and unwrapped at shutdown.
    """

    def __init__(self, control: ServerControl, publisher: Any = None):
        self.control = control
        self.publisher = publisher
        self._wrapped: list[_FilteredObserver] = []

    def startService(self) -> None:
        super().startService()
        publisher = self.publisher
        if publisher is None:
            from twisted.logger import globalLogPublisher as publisher
        observers = list(getattr(publisher, "_observers", ()))
        for observer in observers:
            if isinstance(observer, _FilteredObserver):
                continue
            wrapped = _FilteredObserver(observer, self.control)
            publisher.removeObserver(observer)
            publisher.addObserver(wrapped)
            self._wrapped.append(wrapped)
        self.publisher = publisher

    def stopService(self) -> None:
        for wrapped in self._wrapped:
            self.publisher.removeObserver(wrapped)
            self.publisher.addObserver(wrapped.observer)
        self._wrapped = []
        super().stopService()


class _HeapService(service.Service):
    """Once everything is loaded: the start-up heap out of the collector's way.

    A call makes a few thousand short-lived objects (sippy's parsed
    messages, transactions, timers).  With CPython's default thresholds the
    collector runs every 700 allocations and its full passes walk the whole
    start-up heap (compiled scripts, modules) again and again; at hundreds
    of calls per second that was a large share of the CPU and its pauses
    caused retransmissions.  ``gc.freeze()`` parks the start-up heap, and a
    larger first threshold makes young collections rarer.  Nothing else
    changes: cycles are still collected.
    """

    def __init__(self, threshold0: int = 20000):
        self.threshold0 = threshold0

    def startService(self) -> None:
        super().startService()
        import gc

        gc.collect()
        gc.freeze()
        _, t1, t2 = gc.get_threshold()
        gc.set_threshold(max(self.threshold0, gc.get_threshold()[0]), t1, t2)


class DSMService(service.Service):
    """Starts system DSMs, and gives them ``system`` events on signals and shutdown."""

    def __init__(self, runtime: Runtime, reactor: Any):
        self.runtime = runtime
        self.reactor = reactor
        self._old_handlers: dict[int, Any] = {}

    def startService(self) -> None:
        super().startService()
        for bundle in list(self.runtime.bundles.values()):
            self.runtime.start_system_dsms(bundle, ev.STARTUP)
        for signum, kind in ((signal.SIGUSR1, "User1"), (signal.SIGUSR2, "User2")):
            try:
                self._old_handlers[signum] = signal.signal(signum, self._on_signal(kind))
            except ValueError:  # not in the main thread (tests)
                pass

    def _on_signal(self, kind: str) -> Any:
        """A signal handler handing ``{"type": kind}`` to every system DSM on the reactor."""

        def handler(signum: int, frame: Any) -> None:
            self.reactor.callFromThread(self.runtime.broadcast_system_event, {"type": kind})

        return handler

    def stopService(self):
        self.runtime.broadcast_system_event({"type": "ServerShutdown"})
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        super().stopService()
        return self.runtime.shutdown()


class _ClockService(service.Service):
    def __init__(self, clock: MediaClock):
        self.clock = clock

    def startService(self) -> None:
        super().startService()
        self.clock.start()

    def stopService(self) -> None:
        self.clock.stop()
        super().stopService()


def banner_lines(
    sip: str,
    xmlrpc_host: str,
    xmlrpc_port: int,
    apps: list[str],
    callee_domain: str = "",
    card_domain: str = "",
) -> list[str]:
    """What the start-up banner says: where donkey listens, and commands that reach it.

    The commands are right for the ports actually in use: the ``sipp`` lines
    dial ``sip`` (``ip:port``) from a local port that is not the server's,
    and the monitoring tool gets ``--url`` unless XML-RPC is on the default
    8090 the tools assume.
    """
    lines = [
        f"donkey is up: SIP udp:{sip}, XML-RPC http://{xmlrpc_host}:{xmlrpc_port}; "
        f"applications: {', '.join(sorted(apps)) or 'none'}"
    ]
    host, _, sip_port = sip.rpartition(":")
    callee_host, _, callee_port = (callee_domain or "127.0.0.1:5080").rpartition(":")
    card_host, _, card_port = (card_domain or "127.0.0.1:5080").rpartition(":")
    taken = {sip_port, callee_port, card_port}
    local = next(str(p) for p in range(5070, 5100) if str(p) not in taken)
    uac = f"-i {host} -p {local} -m 1"
    if "hello" in apps:
        lines.append(f"  call the hello app:  sipp -sn uac -s hello {sip} {uac}")
    if "quizconnect_caller" in apps:
        lines.append(
            f"  quizconnect: answer for the callees with  sipp -sn uas -i {callee_host} "
            f"-mi {callee_host} -p {callee_port}"
        )
        lines.append(f"               then dial 35:  sipp -sn uac -s 35 {sip} {uac}")
    if "callingcard" in apps:
        lines.append(
            "  calling card: answer with  sipp -sf conf/sipp/callingcard_callee.xml "
            f"-i {card_host} -mi {card_host} -p {card_port}"
        )
        lines.append(
            f"               then dial 36:  sipp -sf conf/sipp/callingcard_caller.xml -s 36 {sip} "
            f"{uac} -mp 6100"
        )
    url = "" if xmlrpc_port == 8090 else f" --url http://{xmlrpc_host}:{xmlrpc_port}"
    lines.append(f"  watch the calls:  sems-list-active-calls --full{url}")
    return lines


def _greet(top: DonkeyServer, cfg: ServerConfig) -> None:
    """Tell a newcomer where donkey listens and how to call it."""
    quiz = top.runtime.bundles.get("quizconnect")
    callee_domain = quiz.config.get("outbound_domain", "") if quiz is not None else ""
    card = top.runtime.bundles.get("callingcard")
    card_domain = card.config.get("outbound_domain", "") if card is not None else ""
    lines = banner_lines(
        f"{cfg.sip_ip}:{top.stack.port}",
        top.xmlrpc.interface or "127.0.0.1",
        top.xmlrpc.get_port(),
        list(top.runtime.apps),
        callee_domain,
        card_domain,
    )
    log.info("{banner}", banner="\n".join(lines))


def load_bundles(runtime: Runtime, cfg: ServerConfig) -> None:
    """The main bundle from dsm.conf and every bundle file in its conf_dir."""
    runtime.load_bundle("main", cfg.dsm, base_dir=cfg.plugin_dir)  # type: ignore[attr-defined]
    conf_dir = cfg.dsm.get("conf_dir", "")
    if conf_dir:
        # normalised: script errors name quizconnect/x.dsm, not etc/../dsm/quizconnect/x.dsm
        conf_dir = os.path.normpath(os.path.join(cfg.plugin_dir, conf_dir))  # type: ignore[attr-defined]
        for name, path in bundle_files(conf_dir):
            runtime.load_bundle(
                name, read_config(path, cfg.state_dir), base_dir=os.path.dirname(path)
            )


def make_state_dir(cfg: ServerConfig) -> str:
    """Create the state directory (the demo's database lives there); StartupError if not."""
    path = cfg.state_dir
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise StartupError(f"cannot create the state directory {path}: {e.strerror}") from None
    return path


def check_ports(cfg: ServerConfig) -> None:
    """Fail in one line when the SIP or the XML-RPC port is taken.

    Called by ``twistd donkeysm`` before it starts logging, so the reason
    reaches the terminal instead of a traceback from ``startService``.  The
    SIP socket is bound exclusively, so a probe bind without ``SO_REUSE*``
    sees exactly what the real bind will; the XML-RPC probe sets
    ``SO_REUSEADDR`` as Twisted's ``listenTCP`` does.
    """
    try:
        xmlrpc = XmlRpcConfig.from_dict(cfg.xmlrpc)
    except ValueError as e:
        raise StartupError(f"xmlrpc2di.conf: {e}") from None
    if xmlrpc.exposure_problem():
        raise StartupError(f"xmlrpc2di.conf: {xmlrpc.exposure_problem()}")
    probes = [("SIP", socket.SOCK_DGRAM, cfg.sip_ip, cfg.sip_port, "udp")]
    probes.append(("XML-RPC", socket.SOCK_STREAM, xmlrpc.server_ip, xmlrpc.port, "tcp"))
    for what, kind, host, port, proto in probes:
        if port == 0:
            continue
        try:
            infos = socket.getaddrinfo(host or None, port, type=kind, flags=socket.AI_PASSIVE)
        except OSError as e:
            raise StartupError(f"{what} address {host}: {e}") from None
        family, _, _, _, address = infos[0]
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as e:
                reason = e.strerror or str(e)
                if e.errno == errno.EADDRINUSE:
                    reason = "already in use (is another donkey running?)"
                raise StartupError(
                    f"cannot listen for {what} on {proto}:{host or '*'}:{port}: {reason}"
                ) from None


def build_server(cfg: ServerConfig, reactor: Any) -> DonkeyServer:
    """The whole daemon for ``cfg``; raises :class:`StartupError` when it cannot run."""
    top = DonkeyServer()
    # $config.state_dir of the main bundle; loadConfig reads bundles with it
    cfg.dsm["state_dir"] = make_state_dir(cfg)

    store = MonitoringStore(reactor)
    registry = DIRegistry()
    register_monitoring(registry, store)
    clock = MediaClock(reactor)
    runtime = Runtime(
        reactor,
        di=registry,
        monitoring=store,
        main_config=cfg.dsm,
        base_dir=cfg.plugin_dir,  # type: ignore[attr-defined]
        conference=ConferenceBridge(clock),
    )
    # loads read and compile in the reactor's thread pool, then install on the reactor
    dsm_interface: Any = make_dsm_interface(  # an IDIInterface
        runtime,
        run_blocking=lambda f: threads.deferToThreadPool(reactor, reactor.getThreadPool(), f),
    )
    registry.register("dsm", dsm_interface)
    ports = PortAllocator(cfg.rtp_low_port, cfg.rtp_high_port, host=cfg.media_ip)
    # the controller first: it decodes each bundle's prompts as the bundle loads
    controller = CallController(
        runtime, clock, ports, cfg.application, cfg.app_mapping(), media_ip=cfg.media_ip
    )
    # before the bundles load: it times their mod_mysql/mod_curl actions
    metrics = Metrics(runtime, controller, None, reactor)
    try:
        load_bundles(runtime, cfg)
    except (CompileError, ConfigError) as e:
        raise StartupError(f"cannot load DSM scripts:\n{e}") from None
    try:
        session_timer = session_timer_config(cfg)
    except ConfigError as e:
        raise StartupError(str(e)) from None
    stack = SipStack(
        controller,
        ip=cfg.sip_ip,
        port=cfg.sip_port,
        limits=StackLimits(
            max_sessions=cfg.session_limit,
            max_cps=cfg.cps_limit,
            retry_after=_retry_after(cfg),
        ),
        session_timer=session_timer,
        reactor=reactor,
    )
    controller.stack = stack
    metrics.stack = stack
    # asked before a new INVITE allocates anything (see SipStack._admit)
    stack.capacity_check = controller.overload_reason
    if cfg.session_limit and cfg.session_limit > ports.capacity:
        # more calls than RTP port pairs: session_limit alone would never trigger
        log.warn(
            "session_limit={limit} is more than the {n} calls rtp_low_port..rtp_high_port "
            "can carry: new calls past {n} get 503",
            limit=cfg.session_limit,
            n=ports.capacity,
        )
    controller.dead_rtp_time = cfg.dead_rtp_time
    controller.max_early_media_time = cfg.max_early_media_time
    controller.max_ringing_time = cfg.max_ringing_time
    controller.rtp_latching = cfg.rtp_latching
    # the console's records of every call, and the stuck-call alarms read from them
    watch = CallWatch(runtime, store, reactor)
    watch.install()
    try:
        alarm_config = AlarmConfig.from_dict(cfg.values)
    except ValueError as e:
        raise StartupError(f"{cfg.path}: {e}") from None
    alarms = StuckCallDetector(alarm_config, controller, watch, store, reactor)
    register_alarms(registry, alarms)
    metrics.registry.register(alarms)
    control = ServerControl(runtime, stack, controller, cfg.loglevel)

    LogFilterService(control).setServiceParent(top)
    top.runtime = runtime  # for tests and embedding
    top.stack = stack
    top.controller = controller

    _ClockService(clock).setServiceParent(top)
    stack.setServiceParent(top)
    try:
        xmlrpc = make_xmlrpc_service(cfg.xmlrpc, registry, control, reactor=reactor)
    except ValueError as e:
        raise StartupError(f"xmlrpc2di.conf: {e}") from None
    xmlrpc.setServiceParent(top)
    top.xmlrpc = xmlrpc
    xmlrpc.web.add_page("metrics", metrics.page())
    xmlrpc.web.add_page("console", make_console(watch, runtime, store, reactor, alarms))
    xmlrpc.resource.on_method = metrics.count_xmlrpc
    metrics.lag_probe().setServiceParent(top)
    top.metrics = metrics
    alarms.setServiceParent(top)
    top.alarms = alarms
    collector = make_garbage_collector(cfg.monitoring, store, reactor)
    if collector is not None:
        collector.setServiceParent(top)
    DSMService(runtime, reactor).setServiceParent(top)
    reactor.callWhenRunning(_greet, top, cfg)
    _HeapService().setServiceParent(top)
    return top


def _retry_after(cfg: ServerConfig) -> int:
    """``overload_retry_after`` of sems.conf: the Retry-After of an overload 503 (default 5 s)."""
    raw = cfg.values.get("overload_retry_after", "").strip()
    if not raw:
        return 5
    if not raw.isdigit():
        raise StartupError(
            f"{cfg.path}: overload_retry_after must be a number of seconds, got '{raw}'"
        )
    return int(raw)


def bundle_files(conf_dir: str) -> list[tuple[str, str]]:
    """``(name, path)`` of every app bundle file in ``conf_dir``."""
    if not conf_dir or not os.path.isdir(conf_dir):
        return []
    return [
        (f[:-5], os.path.join(conf_dir, f))
        for f in sorted(os.listdir(conf_dir))
        if f.endswith(".conf")
    ]


def session_timer_config(cfg: ServerConfig) -> SessionTimerConfig:
    """RFC 4028 session timers from SEMS's keys (see :meth:`ServerConfig.session_timer`)."""
    return SessionTimerConfig(**cfg.session_timer())
