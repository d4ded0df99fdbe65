"""The SIP stack's call factory: which app a new INVITE runs, and dial-out.

:class:`CallController` picks the application for a new INVITE (SEMS's
``application=`` setting: a fixed name, ``$(mapping)``, ``$(ruri.user)``,
``$(ruri.param)``, ``$(apphdr)``, tried in order), gives the call an RTP port
and a DSM session (a :class:`~donkey.app.call.DSMCall`), and places the
calls of ``dlg.dialout``.

It also owns the decoded prompts of every app bundle
(:class:`~donkey.media.prompts.PromptSets`): the DSM layer keeps only which
files a bundle names, and the controller decodes them when the bundle loads
(a hook of the runtime), so a call never reads a prompt from disk.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from twisted.logger import Logger

from donkey.app.call import DSMCall, quoted_display
from donkey.dsm import callflow
from donkey.dsm.loader import AppBundle, PromptConfig
from donkey.dsm.protocols import DialRequest
from donkey.dsm.runtime import Runtime
from donkey.media.clock import MediaClock
from donkey.media.prompts import PromptSets
from donkey.media.rtp import NoMediaPortAvailable, PortAllocator
from donkey.media.session import MediaSession
from donkey.media.wav import WavCache
from donkey.sip.leg import CallLeg

if TYPE_CHECKING:  # pragma: no cover
    from donkey.sip.stack import SipStack

log = Logger(namespace="donkey.app.controller")

#: a ``P-App-Param`` name a caller may set: a plain identifier (no ``config.``)
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: at most this many ``P-App-Param`` variables a call
PARAM_MAX_COUNT = 32
#: at most this many bytes (UTF-8) in one ``P-App-Param`` value
PARAM_MAX_VALUE = 256
#: names a caller may never set: what donkey itself sets or reads as the
#: script's own settings (the selects, errno/strerror, the switches scripts
#: use to steer the call and the mods' result variables)
RESERVED_PARAM_NAMES = frozenset(
    (
        "local_tag user domain remote_tag callid local_uri local_party remote_uri "
        "remote_party errno strerror hdrs index connect_session enable_request_events "
        "enable_reply_events DI_res DI_res_size"
    ).split()
)
#: seconds between two log lines about refused ``P-App-Param`` items
PARAM_LOG_INTERVAL = 10.0


class CallController:
    """The SIP stack's call factory and the runtime's dialer."""

    def __init__(
        self,
        runtime: Runtime,
        clock: MediaClock,
        ports: PortAllocator,
        application: str = "$(mapping);$(ruri.user)",
        mapping: list[tuple[str, str]] | None = None,
        media_ip: str = "127.0.0.1",
        wav_cache: WavCache | None = None,
    ):
        self.runtime = runtime
        self.clock = clock
        self.ports = ports
        self.application = application
        self.mapping = [(re.compile(rx), app) for rx, app in (mapping or [])]
        self.media_ip = media_ip
        self.stack: SipStack | None = None
        self.calls: dict[str, DSMCall] = {}
        #: seconds without RTP before ``rtpTimeout`` (sems.conf ``dead_rtp_time``)
        self.dead_rtp_time: float | None = None
        #: seconds an inbound call may stay unanswered (ringing, early media); 0: no limit
        self.max_early_media_time = 0.0
        #: seconds an outbound call may stay unanswered before it is cancelled; 0: no limit
        self.max_ringing_time = 0.0
        #: symmetric-RTP policy of every call's media (sems.conf ``rtp_latching``)
        self.rtp_latching: str | None = None
        #: decoded WAV files shared by every call's media and the prompts (one per server)
        self.wav_cache = wav_cache if wav_cache is not None else WavCache()
        # decoded prompts by bundle name, with the PromptConfig they were built from
        self._prompts: dict[str, tuple[PromptConfig, PromptSets]] = {}
        # rate limit of the refused-P-App-Param log line
        self._param_log_after = float("-inf")
        self._param_log_dropped = 0
        runtime.dialer = self.dialout
        runtime.bundle_hooks.append(self.load_prompts)
        for bundle in list(runtime.bundles.values()):
            self.load_prompts(bundle)

    # -- prompts ---------------------------------------------------------------------
    def load_prompts(self, bundle: AppBundle) -> None:
        """Decode ``bundle``'s prompts now (runtime hook: at start-up and every reload).

        A WAV that will not load is left out, as SEMS does; if that leaves a
        ``required_prompts`` entry missing, ValueError keeps the old bundle.
        """
        config = bundle.prompts
        if not config:
            self._prompts.pop(bundle.name, None)
            return
        cached = self._prompts.get(bundle.name)
        if cached is not None and cached[0] is config:
            return  # loadDSM: same bundle file, one more diagram
        prompt_sets, failed = PromptSets.build(config.default, config.sets, self.wav_cache)
        for name in failed:
            log.error("bundle {bundle}: prompt '{name}' not loaded", bundle=bundle.name, name=name)
        missing = [name for name in config.required if name not in prompt_sets.default]
        if missing:
            raise ValueError(f"required prompts not loaded: {', '.join(missing)}")
        self._prompts[bundle.name] = (config, prompt_sets)

    def prompts_for(self, bundle: AppBundle) -> PromptSets | None:
        """The decoded prompts of ``bundle`` (None: it has none)."""
        if not bundle.prompts:
            return None
        cached = self._prompts.get(bundle.name)
        if cached is None or cached[0] is not bundle.prompts:
            # a bundle the runtime got without its hooks (or one replaced since)
            self.load_prompts(bundle)
            cached = self._prompts[bundle.name]
        return cached[1]

    def overload_reason(self) -> str | None:
        """Why a new call cannot get media now (None: it can), asked before any allocation.

        The SIP stack asks this with its own limits before it parses a new
        INVITE, so a server out of RTP ports answers 503 at the door instead
        of building a leg and a session first.
        """
        if self.ports.in_use >= self.ports.capacity:
            return "all %d RTP ports in use" % self.ports.capacity
        return None

    def new_media(self) -> MediaSession:
        return MediaSession(
            self.clock,
            self.ports,
            local_ip=self.media_ip,
            wav_cache=self.wav_cache,
            latching=self.rtp_latching,
        )

    # -- inbound ---------------------------------------------------------------------
    def select_app(self, leg: CallLeg) -> str | None:
        """The first candidate of ``application=`` that names a registered app."""
        for item in [i.strip() for i in self.application.split(";") if i.strip()]:
            name = self._candidate(item, leg)
            if name and name in self.runtime.apps:
                return name
        return None

    def _candidate(self, item: str, leg: CallLeg) -> str | None:
        if item == "$(mapping)":
            for rx, app in self.mapping:
                if rx.search(leg.ruri):
                    return app
            return None
        if item == "$(ruri.user)":
            return leg.user
        if item == "$(ruri.param)":
            match = re.search(r";app=([^;>]+)", leg.ruri)
            return match.group(1) if match else None
        if item == "$(apphdr)":
            headers = leg.request_headers
            return headers.get("p-app-name") if headers is not None else None
        return item

    def __call__(self, leg: CallLeg) -> DSMCall | None:
        """A new INVITE: pick the app, or answer 404 / 503."""
        app = self.select_app(leg)
        if app is None:
            log.info("no application for {ruri}: 404", ruri=leg.ruri)
            leg.reply(404, "Not Found")
            return None
        bundle, diagram = self.runtime.apps[app]
        variables = self._param_variables(leg, bundle) if bundle.set_param_variables else None
        try:
            media = self.new_media()
        except NoMediaPortAvailable:
            log.warn("no RTP port free for {ruri}: 503", ruri=leg.ruri)
            leg.reply(503, "Server Unavailable")
            return None
        call = DSMCall(self, leg, bundle, diagram, media, variables, self.prompts_for(bundle))
        leg.listener = call
        self._track(call, "in")
        return call

    def _param_variables(self, leg: CallLeg, bundle: AppBundle) -> dict[str, str]:
        """``set_param_variables``: ``P-App-Param: a=1;b=2`` become ``$a``, ``$b``.

        The header comes from a stranger, so only plain names, a bounded number
        of them and of bounded size are taken, and never one the daemon or the
        bundle owns (``$config.db_url`` must stay what the operator wrote).
        What is dropped is logged once per :data:`PARAM_LOG_INTERVAL`.
        """
        headers = leg.request_headers
        raw = headers.get("p-app-param") if headers is not None else None
        out: dict[str, str] = {}
        dropped: list[str] = []
        for item in (raw or "").split(";"):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                continue
            if not self._param_allowed(key, bundle):
                dropped.append(key[:40])
            elif len(value.encode("utf-8", "replace")) > PARAM_MAX_VALUE:
                dropped.append(key + " (too long)")
            elif key not in out and len(out) >= PARAM_MAX_COUNT:
                dropped.append(key + " (too many)")
            else:
                out[key] = value
        if dropped:
            self._log_dropped_params(leg, dropped)
        return out

    @staticmethod
    def _param_allowed(key: str, bundle: AppBundle) -> bool:
        return (
            PARAM_NAME.match(key) is not None
            and key not in RESERVED_PARAM_NAMES
            and key not in bundle.config
        )

    def _log_dropped_params(self, leg: CallLeg, dropped: list[str]) -> None:
        now = self.runtime.reactor.seconds()
        if now < self._param_log_after:
            self._param_log_dropped += 1
            return
        self._param_log_after = now + PARAM_LOG_INTERVAL
        earlier, self._param_log_dropped = self._param_log_dropped, 0
        log.warn(
            "{call_id}: P-App-Param items refused: {names}"
            " ({earlier} more calls with refused items before)",
            call_id=leg.callid,
            names=", ".join(repr(n) for n in dropped[:8]),
            earlier=earlier,
        )

    def _track(self, call: DSMCall, direction: str) -> None:
        self.calls[call.session.ltag] = call
        store = self.runtime.monitoring
        if store is not None:
            leg = call.leg
            for key, value in (
                ("from", quoted_display(leg.from_hdr)),
                ("to", quoted_display(leg.to_hdr)),
                ("ruri", leg.ruri),
                ("app", call.app),
                ("dir", direction),
            ):
                store.set(call.session.ltag, key, value)

    def call_ended(self, call: DSMCall) -> None:
        self.calls.pop(call.session.ltag, None)

    # -- outbound --------------------------------------------------------------------
    def dialout(self, request: DialRequest) -> str:
        """``dlg.dialout``: place a call running ``request.app``; returns its local tag."""
        entry = self.runtime.apps.get(request.app)
        if entry is None:
            bundle = next(
                (b for b in self.runtime.bundles.values() if request.app in b.diagrams), None
            )
            if bundle is None:
                raise LookupError(f"application '{request.app}' is not loaded")
            entry = (bundle, request.app)
        bundle, diagram = entry
        if request.ltag and request.ltag in self.runtime.sessions.by_tag:
            raise ValueError(f"local tag '{request.ltag}' is in use")
        if self.stack is None:
            raise RuntimeError("no SIP stack to dial out with")
        media = self.new_media()
        try:
            offer = media.offer()
            leg = self.stack.dial(
                request.from_hdr,
                request.to_hdr,
                request.r_uri,
                offer,
                local_tag=request.ltag or None,
                auth_user=request.auth_user or None,
                auth_pwd=request.auth_pwd or None,
                headers=request.headers,
            )
        except Exception:
            media.close()
            raise
        call = DSMCall(
            self, leg, bundle, diagram, media, request.variables, self.prompts_for(bundle)
        )
        leg.listener = call
        self._track(call, "out")
        callflow.start_outbound(call.session, diagram)
        return call.session.ltag
