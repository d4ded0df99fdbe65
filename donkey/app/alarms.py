"""Stuck-call alarms: calls that sit in one state, live too long, or carry no RTP.

Three checks, each off unless its ``sems.conf`` key is a positive number of
seconds:

``alarm_state_time``
    a call has been in the same DSM state longer than this:
    ``stuck_in_state:<STATE>``;
``alarm_call_age``
    a call has been up longer than this: ``too_old``;
``alarm_no_rtp_time``
    no RTP packet has arrived (``no_rtp_in``) or none has been sent
    (``no_rtp_out``) for this long.  Either direction alone raises it: a
    caller whose phone stopped sending is stuck even while donkey plays to it.

``alarm_check_interval`` (default 1) is how often calls are looked at.

A flagged call gets the monitoring attribute ``alarm`` (its current alarms,
``;``-separated, e.g. ``stuck_in_state:ENTER_PIN;no_rtp_in``; an empty string
once they are all gone), is logged once (at its first alarm), is counted in
:meth:`StuckCallDetector.collect` (Prometheus: ``donkey_calls_stuck{kind}``,
``donkey_stuck_alarms_total{kind}``) and is listed by the DI
function ``alarms.listAlarms`` (``[[ltag, app, alarms, state], ...]``).  The
monitoring store's own ``listByRegex("alarm", ".")`` finds them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet import task
from twisted.logger import Logger

from donkey.app.console.events import CallWatch
from donkey.di.registry import DIInterface, DIRegistry

__all__ = ["AlarmConfig", "StuckCallDetector", "AlarmsInterface", "register_alarms"]

log = Logger(namespace="donkey.app.alarms")

KINDS = ("stuck_in_state", "too_old", "no_rtp_in", "no_rtp_out")


class RtpCounters(Protocol):
    """What the RTP check reads of a call's media: its endpoint's packet counters."""

    packets_sent: int
    packets_received: int


class Call(Protocol):
    """What the detector reads of a live call (:class:`~donkey.app.call.DSMCall`)."""

    app: str
    media: Any  # .rtp.stats: RtpCounters


class Calls(Protocol):
    """The live calls by local tag (:class:`~donkey.app.controller.CallController`)."""

    @property
    def calls(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class AlarmConfig:
    """The alarm thresholds in seconds (0: that check is off)."""

    state_time: float = 0.0
    call_age: float = 0.0
    no_rtp_time: float = 0.0
    interval: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.state_time or self.call_age or self.no_rtp_time)

    @classmethod
    def from_dict(cls, values: Mapping[str, str]) -> AlarmConfig:
        """The ``alarm_*`` keys of ``sems.conf``; ``ValueError`` names a bad one."""

        def seconds(key: str, default: float) -> float:
            raw = (values.get(key) or "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{key} must be a number of seconds, got '{raw}'") from None
            if value < 0:
                raise ValueError(f"{key} must not be negative, got '{raw}'")
            return value

        interval = seconds("alarm_check_interval", 1.0)
        if interval <= 0:
            raise ValueError("alarm_check_interval must be more than 0")
        return cls(
            state_time=seconds("alarm_state_time", 0.0),
            call_age=seconds("alarm_call_age", 0.0),
            no_rtp_time=seconds("alarm_no_rtp_time", 0.0),
            interval=interval,
        )


@dataclass
class _RtpSeen:
    """The packet counters of one call at the last check, and when each last moved."""

    sent: int
    received: int
    sent_at: float
    received_at: float


class StuckCallDetector(Service):
    """Looks at every live call each ``interval`` seconds and flags the stuck ones.

    :param config: thresholds.
    :param calls: the live calls (the call controller).
    :param watch: the console's records: when each call started and entered its state.
    :param store: the monitoring store the ``alarm`` attribute is written to
        (through the watch, so pages hear of it).
    :param clock: the reactor, or a test's :class:`~twisted.internet.task.Clock`.
    """

    def __init__(
        self, config: AlarmConfig, calls: Calls, watch: CallWatch, store: Any, clock: Any
    ) -> None:
        self.config = config
        self.calls = calls
        self.watch = watch
        self.store = store
        self.clock = clock
        #: the current alarms of each flagged call (live or finished)
        self.alarms: dict[str, tuple[str, ...]] = {}
        #: how many calls were ever flagged, by kind of alarm
        self.raised: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._logged: set[str] = set()
        self._rtp: dict[str, _RtpSeen] = {}
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        if not self.config.enabled:
            return
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock
        self._loop.start(self.config.interval, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    # -- the check -----------------------------------------------------------------
    def check(self) -> None:
        """Flag, re-flag or clear every live call; forget calls that ended."""
        now = self.clock.seconds()
        live = dict(self.calls.calls)
        for ltag in [t for t in self._rtp if t not in live]:
            del self._rtp[ltag]
        for ltag in [t for t in self.alarms if t not in live]:
            if self.watch.record(ltag) is None and ltag not in self.store:
                del self.alarms[ltag]  # the store dropped the finished call
        for ltag, call in live.items():
            self._check_call(ltag, call, now)

    def _check_call(self, ltag: str, call: Any, now: float) -> None:
        record = self.watch.record(ltag)
        if record is None or record.ended is not None:
            return
        cfg = self.config
        found: list[str] = []
        if cfg.state_time and record.state and now - record.state_since >= cfg.state_time:
            found.append(f"stuck_in_state:{record.state}")
        if cfg.call_age and now - record.started >= cfg.call_age:
            found.append("too_old")
        if cfg.no_rtp_time:
            found.extend(self._rtp_alarms(ltag, call, now))
        current = tuple(found)
        previous = self.alarms.get(ltag, ())
        if current == previous:
            return
        for alarm in current:
            kind = alarm.partition(":")[0]
            if not any(p.partition(":")[0] == kind for p in previous):
                self.raised[kind] += 1
        if current:
            self.alarms[ltag] = current
        else:
            self.alarms.pop(ltag, None)
        self._flag(ltag, ";".join(current))
        if current and ltag not in self._logged:
            self._logged.add(ltag)
            log.warn(
                "call {ltag} ({app}) is stuck: {alarms}",
                ltag=ltag,
                app=getattr(call, "app", ""),
                alarms=", ".join(current),
            )

    def _flag(self, ltag: str, value: str) -> None:
        """Write the ``alarm`` attribute, and let the console's pages know."""
        self.store.set(ltag, "alarm", value)
        self.watch.changed(ltag)

    def _rtp_alarms(self, ltag: str, call: Any, now: float) -> Iterator[str]:
        stats = _rtp_counters(call)
        if stats is None:
            return
        seen = self._rtp.get(ltag)
        if seen is None:
            seen = self._rtp[ltag] = _RtpSeen(stats.packets_sent, stats.packets_received, now, now)
        if stats.packets_received != seen.received:
            seen.received, seen.received_at = stats.packets_received, now
        if stats.packets_sent != seen.sent:
            seen.sent, seen.sent_at = stats.packets_sent, now
        limit = self.config.no_rtp_time
        if now - seen.received_at >= limit:
            yield "no_rtp_in"
        if now - seen.sent_at >= limit:
            yield "no_rtp_out"

    # -- reading -------------------------------------------------------------------
    def list_alarms(self) -> list[list[str]]:
        """``[ltag, app, alarms, state]`` of every call with an alarm now."""
        out = []
        for ltag, alarms in self.alarms.items():
            record = self.watch.record(ltag)
            app = self.store.get_single(ltag, "app", "") if ltag in self.store else ""
            out.append([ltag, str(app or ""), ";".join(alarms), record.state if record else ""])
        return out

    def collect(self) -> Iterable[Any]:
        """Prometheus metric families: a custom collector's ``collect``.

        ``donkey_calls_stuck{kind}`` (gauge: live calls with that alarm now)
        and ``donkey_stuck_alarms_total{kind}`` (counter: calls ever flagged).
        Register with ``registry.register(detector)``; labels are the four
        kinds only.
        """
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        live = set(self.calls.calls)
        gauge = GaugeMetricFamily(
            "donkey_calls_stuck", "Live calls flagged by a stuck-call alarm", labels=["kind"]
        )
        now: dict[str, int] = dict.fromkeys(KINDS, 0)
        for ltag, alarms in self.alarms.items():
            if ltag in live:
                for kind in {a.partition(":")[0] for a in alarms}:
                    now[kind] += 1
        for kind in KINDS:
            gauge.add_metric([kind], now[kind])
        counter = CounterMetricFamily(
            "donkey_stuck_alarms", "Calls ever flagged by a stuck-call alarm", labels=["kind"]
        )
        for kind in KINDS:
            counter.add_metric([kind], self.raised[kind])
        return [gauge, counter]

    def describe(self) -> Iterable[Any]:
        """No up-front description: ``collect`` is cheap (prometheus_client calls it)."""
        return []


def _rtp_counters(call: Any) -> RtpCounters | None:
    """The RTP endpoint's counters of ``call``, if it has media."""
    media = getattr(call, "media", None)
    rtp = getattr(media, "rtp", None)
    return getattr(rtp, "stats", None)


class AlarmsInterface(DIInterface):
    """DI interface ``alarms``: ``listAlarms()`` answers ``[[ltag, app, alarms, state], ...]``."""

    def __init__(self, detector: StuckCallDetector, name: str = "alarms") -> None:
        super().__init__(name)
        self.detector = detector
        self.add("listAlarms", lambda args: detector.list_alarms())


def register_alarms(registry: DIRegistry, detector: StuckCallDetector) -> AlarmsInterface:
    """Publish ``detector`` on ``registry`` as the ``alarms`` interface."""
    iface = AlarmsInterface(detector)
    registry.register(iface.name, iface)
    return iface
