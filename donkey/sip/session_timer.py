"""RFC 4028 session timers, done in the glue because sippy has none.

Negotiation is a set of pure functions; :class:`SessionTimer` is the clock
of one dialog built on them, and :class:`donkey.sip.leg.CallLeg` drives it
and sends the refreshes it asks for.  Behaviour follows SEMS'
``session_timer`` plugin: we offer ``Session-Expires`` on outgoing INVITEs,
accept the peer's value on incoming ones (raising it to our ``Min-SE`` with a
422 if too small), become refresher when the peer leaves the choice to us,
refresh at half the interval and give up ``min(32, SE/3)`` seconds before
expiry when the other side is refresher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from donkey.sip.clock import Clock, DelayedCall
from donkey.sip.headers import SipHeaders, param_split, tokens


@dataclass
class SessionTimerConfig:
    """SEMS ``enable_session_timer``, ``session_expires``, ``minimum_timer``…"""

    enabled: bool = False
    session_expires: int = 1800
    min_se: int = 90
    #: who should refresh when we get to choose: 'uac', 'uas', 'local', 'remote'
    refresher: str = "local"
    #: 'UPDATE', 'INVITE' or 'UPDATE_FALLBACK_INVITE' (UPDATE if peer Allows it)
    refresh_method: str = "UPDATE_FALLBACK_INVITE"


@dataclass
class SessionTimerState:
    """What was agreed for one dialog."""

    interval: int
    we_refresh: bool
    peer_supports: bool = True

    def header_value(self, we_are_uas: bool) -> str:
        role = (
            ("uas" if we_are_uas else "uac")
            if self.we_refresh
            else ("uac" if we_are_uas else "uas")
        )
        return "%d;refresher=%s" % (self.interval, role)

    def expiry_delay(self) -> float:
        """When the non-refresher gives up (RFC 4028 §10)."""
        return self.interval - min(32.0, self.interval / 3.0)

    def refresh_delay(self) -> float:
        """When the refresher refreshes: half the interval."""
        return self.interval / 2.0


def _se_header(h: SipHeaders) -> tuple[int, str | None] | None:
    for name in ("session-expires", "x"):
        if name in h:
            val, params = param_split(h[name])
            try:
                return int(val), (params.get("refresher") or None)
            except ValueError:
                return None
    return None


def _min_se(h: SipHeaders) -> int:
    if "min-se" in h:
        try:
            return int(param_split(h["min-se"])[0])
        except ValueError:
            pass
    return 0


def negotiate_uas(
    cfg: SessionTimerConfig, req: SipHeaders
) -> tuple[SessionTimerState | None, int | None]:
    """For an incoming INVITE/UPDATE: ``(state, None)`` or ``(None, 422_min_se)``.

    ``state`` is None when timers are disabled.
    """
    if not cfg.enabled:
        return None, None
    peer_supports = "timer" in tokens(req.get_all("supported")) or "timer" in tokens(
        req.get_all("k")
    )
    se = _se_header(req)
    if se is not None and se[0] < cfg.min_se:
        return None, cfg.min_se
    interval = cfg.session_expires if se is None else min(se[0], cfg.session_expires)
    interval = max(interval, _min_se(req), cfg.min_se)
    refresher = se[1] if se is not None else None
    if not peer_supports:
        we_refresh = True  # peer cannot refresh (RFC 4028 §9)
    elif refresher == "uas":
        we_refresh = True
    elif refresher == "uac":
        we_refresh = False
    else:
        we_refresh = cfg.refresher in ("local", "uas")
    return SessionTimerState(interval, we_refresh, peer_supports), None


def uac_request_headers(cfg: SessionTimerConfig) -> str:
    """Headers for an outgoing initial INVITE."""
    if not cfg.enabled:
        return ""
    se = "%d" % cfg.session_expires
    if cfg.refresher in ("uac", "local"):
        se += ";refresher=uac"
    elif cfg.refresher in ("uas", "remote"):
        se += ";refresher=uas"
    return "Session-Expires: %s\r\nMin-SE: %d\r\nSupported: timer\r\n" % (se, cfg.min_se)


def negotiate_uac(cfg: SessionTimerConfig, resp: SipHeaders) -> SessionTimerState | None:
    """From the 2xx to our INVITE/UPDATE."""
    if not cfg.enabled:
        return None
    se = _se_header(resp)
    if se is None:
        # Peer ignores timers: we may still refresh on our own (RFC 4028 §7.4).
        return SessionTimerState(cfg.session_expires, True, False)
    interval, refresher = se
    return SessionTimerState(interval, refresher != "uas", True)


#: seconds before a refresh that found the dialog busy is tried again
RETRY_DELAY = 1.0


class SessionTimer:
    """The RFC 4028 clock of one dialog: when to refresh, when to give up.

    The leg tells it what was negotiated (:meth:`inbound`, :meth:`outbound`)
    and what the peer sent later (:meth:`peer_refreshed`, :meth:`refreshed`);
    it calls *refresh* when we must refresh and *expired* when the peer
    failed to.  It knows no SIP transport: the leg sends the requests.
    """

    def __init__(
        self,
        config: SessionTimerConfig,
        clock: Clock,
        refresh: Callable[[], None],
        expired: Callable[[], None],
    ) -> None:
        self.config = config
        self.state: SessionTimerState | None = None
        #: the peer's Allow methods (lowercase), to choose UPDATE or re-INVITE
        self.peer_allow: list[str] = []
        self._clock = clock
        self._refresh = refresh
        self._expired = expired
        self._call: DelayedCall | None = None
        self._closed = False

    # -- negotiation -------------------------------------------------------------
    def inbound(self, invite: SipHeaders) -> int | None:
        """Agree on the initial INVITE's terms; the Min-SE for a 422 if it is too short."""
        if not self.config.enabled:
            return None
        self.peer_allow = tokens(invite.get_all("allow"))
        state, min_se = negotiate_uas(self.config, invite)
        if min_se is not None:
            return min_se
        self.state = state
        return None

    def outbound(self, response: SipHeaders) -> None:
        """Take the terms of the 2xx to our initial INVITE."""
        if self.config.enabled:
            self.peer_allow = tokens(response.get_all("allow"))
            self.state = negotiate_uac(self.config, response)

    def peer_refreshed(self, request: SipHeaders) -> None:
        """The peer sent a re-INVITE or UPDATE: its terms (if any) win, the clock restarts."""
        if self.state is None and not self.config.enabled:
            return
        state, _ = negotiate_uas(self.config, request)
        if state is not None:
            # "uas" in the request now means whoever receives this request
            self.state = state
        self.start()

    def refreshed(self, response: SipHeaders) -> None:
        """Our refresh (or re-INVITE) got a 2xx: its terms win, the clock restarts."""
        state = negotiate_uac(self.config, response)
        if state is not None:
            self.state = state
        self.start()

    def update_refused(self) -> None:
        """The peer answered UPDATE with 405/501: refresh with re-INVITE from now on."""
        self.peer_allow = [m for m in self.peer_allow if m != "update"]

    # -- headers -----------------------------------------------------------------
    def response_headers(self) -> str:
        """Headers for our 2xx to an INVITE/UPDATE ("" without a timer)."""
        state = self.state
        if state is None:
            return ""
        # we always answer as the UAS of the transaction being answered
        h = "Session-Expires: %s\r\n" % state.header_value(True)
        if state.peer_supports:
            h += "Require: timer\r\n"
        return h + "Supported: timer\r\n"

    def refresh_headers(self) -> str:
        """Headers for a refresh we send (we are its UAC and its refresher)."""
        interval = self.state.interval if self.state is not None else self.config.session_expires
        return "Session-Expires: %d;refresher=uac\r\nMin-SE: %d\r\nSupported: timer\r\n" % (
            interval,
            self.config.min_se,
        )

    def refresh_with_update(self) -> bool:
        """True to refresh with UPDATE, False for a re-INVITE (config and peer's Allow)."""
        method = self.config.refresh_method.upper()
        return method == "UPDATE" or (
            method == "UPDATE_FALLBACK_INVITE" and "update" in self.peer_allow
        )

    # -- the clock ---------------------------------------------------------------
    def start(self) -> None:
        """(Re)arm for the agreed interval: refresh at half, give up before the end."""
        self.cancel()
        state = self.state
        if state is None or self._closed:
            return
        if state.we_refresh:
            self._call = self._clock.callLater(state.refresh_delay(), self._fire, self._refresh)
        else:
            self._call = self._clock.callLater(state.expiry_delay(), self._fire, self._expired)

    def retry(self) -> None:
        """The dialog was busy: ask for the refresh again shortly."""
        self.cancel()
        if not self._closed:
            self._call = self._clock.callLater(RETRY_DELAY, self._fire, self._refresh)

    def cancel(self) -> None:
        """Stop the clock (it may be started again)."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def close(self) -> None:
        """The dialog is over: stop for good."""
        self._closed = True
        self.cancel()
        # the callbacks are the leg's bound methods (leg -> timer -> leg):
        # a closed timer never calls them, so let go of the leg
        self._refresh = self._expired = _nothing

    @property
    def running(self) -> bool:
        """True while a refresh or an expiry is scheduled."""
        return self._call is not None and self._call.active()

    def _fire(self, what: Callable[[], None]) -> None:
        self._call = None
        if not self._closed:
            what()


def _nothing() -> None:
    """What a closed timer would call (it calls nothing)."""
