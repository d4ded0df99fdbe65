"""RFC 4028 session timers, done in the glue because sippy has none.

Only policy and negotiation live here; :class:`donkey.sip.leg.CallLeg` owns
the clock and sends the refreshes.  Behaviour follows SEMS'
``session_timer`` plugin: we offer ``Session-Expires`` on outgoing INVITEs,
accept the peer's value on incoming ones (raising it to our ``Min-SE`` with a
422 if too small), become refresher when the peer leaves the choice to us,
refresh at half the interval and give up ``min(32, SE/3)`` seconds before
expiry when the other side is refresher.
"""

from __future__ import annotations

from dataclasses import dataclass

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
