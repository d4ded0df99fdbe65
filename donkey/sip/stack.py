"""The SIP stack as a Twisted service: socket, transaction layer, call legs.

Policy that SEMS applies before a session exists lives here too: the
session limit, the calls-per-second limit, shutdown mode and the owner's own
capacity check (:attr:`SipStack.capacity_check`, e.g. free RTP ports) all
answer a new INVITE with 503 and ``Retry-After``.  The check runs in the
transport's gate (:class:`~donkey.sip.transport.TwistedSipTransactionManager`)
before sippy parses the INVITE, so a refused call costs no transaction, no
leg and no RTP port, and a burst of them leaves the reactor to the calls
that are up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from donkey.sip import reactor_bridge, sippy_process
from donkey.sip.clock import Clock
from donkey.sip.headers import capability_headers, make_headers
from donkey.sip.leg import CallLeg
from donkey.sip.listener import CallListener
from donkey.sip.session_timer import SessionTimerConfig

log = Logger(namespace="donkey.sip.stack")

#: ``call_factory(leg) -> listener``, called for every accepted new INVITE.
CallFactory = Callable[[CallLeg], CallListener | None]


@dataclass
class StackLimits:
    """0 means unlimited (SEMS ``max_sessions``, ``max_cps``)."""

    max_sessions: int = 0
    max_cps: float = 0.0
    #: seconds a refused caller is asked to wait (``Retry-After``, RFC 3261 §20.33)
    retry_after: int = 5


@dataclass
class StackStats:
    current_calls: int = 0
    total_calls: int = 0
    connected_calls: int = 0
    rejected_calls: int = 0
    cps: float = 0.0
    legs: int = 0


@dataclass
class _RateLimiter:
    """Token bucket; smooth enough for SEMS-style max_cps."""

    rate: float
    tokens: float = 0.0
    last: float = 0.0

    def allow(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SipStack(Service):
    """Owns the SIP socket, sippy's transaction manager and every CallLeg.

    It is the :class:`~donkey.sip.leg.LegHost` of its legs.
    """

    name = "sip"

    def __init__(
        self,
        call_factory: CallFactory | None,
        ip: str = "127.0.0.1",
        port: int = 5060,
        limits: StackLimits | None = None,
        session_timer: SessionTimerConfig | None = None,
        user_agent: str = "DonkeySM",
        reactor: Any = None,
        sip_trace: bool = False,
        linger: float = 8.0,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _r

            reactor = _r
        self.reactor = reactor
        self.call_factory = call_factory
        self.ip = ip
        self.port = port
        self.limits = limits or StackLimits()
        self.session_timer = session_timer or SessionTimerConfig()
        self.user_agent = user_agent
        #: seconds a finished call's UA keeps answering stray in-dialog
        #: requests.  sippy's default is 32 s; retransmissions are answered
        #: by the transaction layer anyway, and at 500 cps 32 s of dead UAs
        #: is ~1M objects, whose full GC passes (0.5 s+) cause retransmits.
        self.linger = linger
        self.shutdown_mode = False
        self.tm: Any = None
        self.global_config: dict[str, Any] = {}
        self.legs: dict[int, CallLeg] = {}
        self._counted: set[int] = set()  # ids of legs counted as active
        self._active = 0  # legs not yet ended
        self._total = 0
        self._connected = 0
        self._rejected = 0
        self._limiter = _RateLimiter(self.limits.max_cps, self.limits.max_cps, 0.0)
        self._recent: deque[float] = deque()  # times of recent new calls, for the cps figure
        self.logger = reactor_bridge.TwistedSipLogger(enabled=sip_trace)
        #: the owner's own reason to refuse a new call (None: it can take one)
        self.capacity_check: Callable[[], str | None] | None = None

    # Service ----------------------------------------------------------
    def startService(self) -> None:
        sippy_process.install(self.reactor)
        from donkey.sip.transport import TwistedSipTransactionManager

        sippy_process.set_local_address(self.ip, self.port)
        gc = self.global_config
        gc.update(
            _sip_address=self.ip,
            _sip_port=self.port,
            _sip_logger=self.logger,
            _reactor=self.reactor,
        )
        self.tm = TwistedSipTransactionManager(gc, self._recv_request)
        self.tm.admission = self._admission
        self.tm.user_agent = self.user_agent
        gc["_sip_tm"] = self.tm
        bound = self.tm.server.getSIPaddr()[0][1]
        self.port = int(bound)
        sippy_process.set_local_address(self.ip, self.port)
        gc["_sip_port"] = self.port
        self._limiter.last = self.reactor.seconds()
        log.info("SIP stack listening on udp:{ip}:{port}", ip=self.ip, port=self.port)
        super().startService()

    def stopService(self):
        super().stopService()
        for leg in list(self.legs.values()):
            if not leg.ended:
                leg.bye()
        if self.tm is not None:
            tm, self.tm = self.tm, None
            tm.shutdown()
        # sippy's remaining timers (retransmits, linger) belong to a dead
        # stack now; one stack per process is the supported setup.
        bridge = sippy_process.installed()
        if bridge is not None:
            bridge.cancel_all()
        return None

    # policy -----------------------------------------------------------
    def set_shutdown_mode(self, on: bool = True) -> None:
        self.shutdown_mode = on

    def set_max_cps(self, limit: float) -> None:
        """Change the CPS limit now (0: unlimited); the next INVITE is held to it."""
        self.limits.max_cps = max(0.0, float(limit))
        self._limiter = _RateLimiter(
            self.limits.max_cps, self.limits.max_cps, self.reactor.seconds()
        )

    def _admit(self) -> str | None:
        """None if a new call may start, else the reason it may not."""
        if self.shutdown_mode:
            return "shutdown mode"
        lim = self.limits
        if lim.max_sessions and self._active >= lim.max_sessions:
            return "session limit %d reached" % lim.max_sessions
        if self.capacity_check is not None:
            why = self.capacity_check()
            if why is not None:
                return why
        if lim.max_cps and not self._limiter.allow(self.reactor.seconds()):
            return "cps limit %g reached" % lim.max_cps
        return None

    def _admission(self) -> tuple[str, int] | None:
        """The transport gate's overload check: None, or why and Retry-After."""
        why = self._admit()
        if why is None:
            return None
        self._rejected += 1
        return why, self.limits.retry_after

    def _recv_request(self, req, sip_t):
        """sippy request callback for everything not matching a known dialog."""
        method = req.getMethod()
        if method == "INVITE":
            if req.getHFBody("to").getTag() is not None:
                return (
                    req.genResponse(
                        481, "Call Leg/Transaction Does Not Exist", server=self.user_agent
                    ),
                    None,
                    None,
                )
            # admitted by the transport's gate (:meth:`_admission`)
            return CallLeg.inbound(self, req, sip_t)
        if method == "OPTIONS":
            resp = req.genResponse(200, "OK", server=self.user_agent)
            resp.appendHeaders(make_headers(capability_headers(self.session_timer.enabled)))
            return (resp, None, None)
        if method in ("BYE", "INFO", "UPDATE", "NOTIFY", "REFER", "PRACK", "MESSAGE"):
            return (
                req.genResponse(481, "Call Leg/Transaction Does Not Exist", server=self.user_agent),
                None,
                None,
            )
        return (req.genResponse(501, "Not Implemented", server=self.user_agent), None, None)

    # outbound ---------------------------------------------------------
    def dial(
        self, from_uri: str, to_uri: str, ruri: str, sdp_offer: str | None, **kw: Any
    ) -> CallLeg:
        """Shortcut for :meth:`CallLeg.dial` on this stack."""
        return CallLeg.dial(self, from_uri, to_uri, ruri, sdp_offer, **kw)

    # LegHost ------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The reactor the legs' timers run on."""
        return self.reactor

    def listener_for(self, leg: CallLeg) -> CallListener | None:
        """Ask the call factory for a new inbound leg's listener."""
        if self.call_factory is None:
            return None
        try:
            return self.call_factory(leg)
        except Exception:
            log.failure("{call_id}: call factory failed", call_id=leg.callid)
            return None

    def send_response(self, resp: Any, sip_t: Any) -> None:
        """Send *resp* on sippy server transaction *sip_t*."""
        if self.tm is not None:
            self.tm.sendResponse(resp, sip_t)

    def leg_started(self, leg: CallLeg) -> None:
        """Count a new call (limits, cps figure)."""
        self.legs[id(leg)] = leg
        self._counted.add(id(leg))
        self._active += 1
        self._total += 1
        now = self.reactor.seconds()
        self._recent.append(now)
        while self._recent[0] < now - 1.0:
            self._recent.popleft()

    def leg_connected(self, leg: CallLeg) -> None:
        """Count an answered call."""
        self._connected += 1

    def leg_ended(self, leg: CallLeg) -> None:
        """The call no longer counts against the session limit."""
        if id(leg) in self._counted:
            self._counted.discard(id(leg))
            self._active -= 1

    def leg_gone(self, leg: CallLeg) -> None:
        """Forget the leg."""
        self.leg_ended(leg)
        self.legs.pop(id(leg), None)

    # stats ----------------------------------------------------------------
    @property
    def current_calls(self) -> int:
        return self._active

    def stats(self) -> StackStats:
        now = self.reactor.seconds()
        while self._recent and self._recent[0] < now - 1.0:
            self._recent.popleft()
        return StackStats(
            current_calls=self._active,
            total_calls=self._total,
            connected_calls=self._connected,
            rejected_calls=self._rejected,
            cps=float(len(self._recent)),
            legs=len(self.legs),
        )
