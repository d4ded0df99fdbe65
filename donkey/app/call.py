"""Where SIP, media and DSM meet for one call: :class:`DSMCall`.

:class:`DSMCall` is the ``session.call`` handle that mod_dlg acts through and
the listener of the SIP leg.  Everything the leg or the media reports
becomes an event posted to the session; nothing calls into the engine
directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from twisted.logger import ILogObserver, Logger

from donkey.app.b2b import B2BBridge
from donkey.dsm import callflow
from donkey.dsm import events as ev
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle
from donkey.dsm.protocols import AudioSink, AudioSource, CallHandle, MediaHandle
from donkey.dsm.session import Session
from donkey.media.clock import DelayedCall
from donkey.media.prompts import PromptNotFound, PromptSets
from donkey.media.sdp import SdpError, SessionDescription
from donkey.media.sdp_text import bump_sdp_version
from donkey.media.session import DEFAULT_DEAD_RTP_TIME, MediaSession
from donkey.sip.headers import SipHeaders, warning_header
from donkey.sip.leg import CallLeg

if TYPE_CHECKING:  # pragma: no cover
    from donkey.app.controller import CallController

log = Logger(namespace="donkey.app.call")

_NAMEADDR = re.compile(r'^\s*([^"<]*[^"<\s])\s*(<.*)$')


def quoted_display(header: str) -> str:
    """``bee <sip:5@h>`` as the caller wrote it: ``"bee" <sip:5@h>`` (sippy drops the quotes).

    The dialog's tag is not part of it (SEMS's ``from``/``to`` attributes are the
    parties: ``"bee" <sip:5@192.168.5.106>``, no ``;tag=``).
    """
    if ">" in header:
        addr, _, params = header.rpartition(">")
        header = addr + ">" + re.sub(r";\s*tag=[^;]*", "", params, flags=re.I)
    match = _NAMEADDR.match(header)
    if match is None:
        return header
    return f'"{match.group(1)}" {match.group(2)}'


def offer_warning(offer: str | None) -> str:
    """The ``Warning`` header of a 488 to *offer*: what in it we could not use.

    RFC 3261 20.43 gives the codes: 304 no media type we take (no audio
    stream), 302 a transport we do not speak, 305 no codec in common; 399
    for SDP we cannot even read.
    """
    try:
        sd = SessionDescription.parse(offer or "")
    except SdpError:
        return warning_header(399, "Unreadable session description")
    audio = [m for m in sd.media if m.media == "audio" and m.port != 0]
    if not audio:
        return warning_header(304, "Media type not available: no audio stream offered")
    if not any(m.proto.upper() in ("RTP/AVP", "RTP/AVPF") for m in audio):
        return warning_header(302, "Incompatible transport protocol: RTP/AVP only")
    return warning_header(305, "Incompatible media format: no audio codec in common")


def call_id_observer(observer: ILogObserver, leg: CallLeg) -> ILogObserver:
    """*observer*, with the call's Call-ID in every event: a ``call_id`` field and the text.

    A peer's log (or a SIP trace) names the call by its Call-ID; with it at
    the start of each of the script's lines the two can be matched.
    """
    forward = cast(Callable[[dict[str, Any]], None], observer)

    def observe(event: dict[str, Any]) -> None:
        call_id = leg.callid
        event["call_id"] = call_id
        text = event.get("log_format")
        if call_id and isinstance(text, str):
            event["log_format"] = call_id.replace("{", "{{").replace("}", "}}") + ": " + text
        forward(event)

    return cast(ILogObserver, observe)


class DSMMedia:
    """``session.media``: the call's :class:`MediaSession` plus the bundle's prompts.

    Every :class:`~donkey.dsm.protocols.MediaHandle` method is written out
    here, most of them passing straight to the MediaSession, so a script
    can reach nothing the protocol does not name.
    """

    def __init__(
        self,
        media: MediaSession,
        prompts: PromptSets | None = None,
        dead_rtp_time: float | None = None,
    ):
        self._media = media
        self._prompts = prompts
        self._prompt_set: str | None = None
        #: seconds without RTP before ``rtpTimeout`` (sems.conf ``dead_rtp_time``)
        self.dead_rtp_time = dead_rtp_time

    # -- the playlist --------------------------------------------------------
    def play_file(self, path: str, loop: bool = False, front: bool = False) -> None:
        self._media.play_file(path, loop, front)

    def play_prompt(self, name: str, front: bool = False, loop: bool = False) -> None:
        """The prompt from the set chosen by ``setPromptSet`` (the default one before)."""
        if self._prompts is None:
            raise PromptNotFound(name)
        collection = self._prompts.lookup(name, self._prompt_set)
        self._media.play_source(collection.source(name, loop=loop), front=front)

    def set_prompt_set(self, name: str) -> None:
        if self._prompts is None or name not in self._prompts.names():
            raise PromptNotFound(name)
        self._prompt_set = name

    def play_silence(self, ms: int, front: bool = False) -> None:
        self._media.play_silence(ms, front)

    def play_ringtone(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: int,
        f2: int = 0,
        front: bool = False,
    ) -> None:
        self._media.play_ringtone(length_ms, on_ms, off_ms, f, f2, front)

    def add_separator(self, id: str, front: bool = False) -> None:
        self._media.add_separator(int(id), front)

    def flush_playlist(self) -> None:
        self._media.flush_playlist()

    def set_in_out_playlist(self) -> None:
        self._media.set_in_out_playlist()

    def set_input_playlist(self) -> None:
        self._media.set_input_playlist()

    def set_output_playlist(self) -> None:
        self._media.set_output_playlist()

    # -- recording -----------------------------------------------------------
    def record_file(self, path: str) -> None:
        self._media.record_file(path)

    def stop_record(self) -> None:
        self._media.stop_record()

    @property
    def record_length_ms(self) -> int:
        return self._media.record_length_ms

    @property
    def record_data_size(self) -> int:
        return self._media.record_data_size

    # -- routing -------------------------------------------------------------
    @property
    def input(self) -> AudioSource | None:
        return self._media.input

    @property
    def output(self) -> AudioSink | None:
        return self._media.output

    def set_input(self, source: AudioSource | None) -> None:
        self._media.set_input(source)

    def set_output(self, sink: AudioSink | None) -> None:
        self._media.set_output(sink)

    def connect(self) -> None:
        self._media.connect()

    def disconnect(self) -> None:
        self._media.disconnect()

    # -- switches ------------------------------------------------------------
    def enable_receiving(self) -> None:
        self._media.enable_receiving()

    def disable_receiving(self) -> None:
        self._media.disable_receiving()

    def enable_force_dtmf_receiving(self) -> None:
        self._media.enable_force_dtmf_receiving()

    def disable_force_dtmf_receiving(self) -> None:
        self._media.disable_force_dtmf_receiving()

    def mute(self) -> None:
        self._media.mute()

    def unmute(self) -> None:
        self._media.unmute()

    def enable_dtmf_detection(self) -> None:
        self._media.enable_dtmf_detection()

    def disable_dtmf_detection(self) -> None:
        self._media.disable_dtmf_detection()

    def monitor_rtp_timeout(self, enabled: bool, seconds: float | None = None) -> None:
        """``monitorRTPTimeout``: after ``seconds`` (default ``dead_rtp_time``) without RTP."""
        if seconds is None:
            seconds = self.dead_rtp_time
        if seconds is None:
            seconds = DEFAULT_DEAD_RTP_TIME
        self._media.monitor_rtp_timeout(enabled and seconds > 0, float(seconds))

    # -- DTMF out ------------------------------------------------------------
    def send_dtmf(self, key: int, duration_ms: int = 500) -> None:
        self._media.send_dtmf(key, duration_ms)

    def send_dtmf_sequence(self, sequence: str, duration_ms: int = 500) -> None:
        self._media.send_dtmf_sequence(sequence, duration_ms)


class DSMCall:
    """One call leg with its media and DSM session; see module docstring."""

    def __init__(
        self,
        controller: CallController,
        leg: CallLeg,
        bundle: AppBundle,
        app: str,
        media: MediaSession,
        variables: dict[str, str] | None = None,
        prompts: PromptSets | None = None,
    ):
        self.controller = controller
        self.leg = leg
        self.app = app
        self.media = media
        self.replied = False
        self.accepted = False
        #: the call's final SIP code, sent (inbound) or received (outbound); None: none yet
        self.final_code: int | None = None
        # the answer to the INVITE's offer, made when it arrived (see on_invite)
        self._answer: str | None = None
        self.media.on_dtmf = self._on_dtmf
        self.media.on_no_audio = lambda: self._post(ev.NO_AUDIO, type="noAudio")
        self.media.on_separator = lambda sid: self._post(ev.SEPARATOR, id=str(sid))
        # SEMS: the call ends (BYE) after rtpTimeout unless the script set #processed=true
        self.media.on_rtp_timeout = self._on_rtp_timeout
        self.session = controller.runtime.new_session(
            bundle,
            ltag=leg.local_tag or None,
            call=self,
            media=DSMMedia(self.media, prompts, controller.dead_rtp_time),
            variables=variables,
        )
        self.session.ending.append(self._session_ended)
        # the script's log lines name the call as the SIP leg's do, by Call-ID
        self.session.log = Logger(
            namespace=self.session.log.namespace,
            source=self.session,
            observer=call_id_observer(self.session.log.observer, leg),
        )
        self.direction = leg.direction
        self._setup_timer: DelayedCall | None = None
        self._watch_dead_call()
        #: B2B call control (``B2B.*``): the callee leg this call may bridge to
        self.b2b = B2BBridge(self)

    # -- selects (session.select reads these) --------------------------------
    @property
    def callid(self) -> str:
        return self.leg.callid

    @property
    def remote_tag(self) -> str:
        return self.leg.remote_tag

    @property
    def user(self) -> str:
        return self.leg.user

    @property
    def domain(self) -> str:
        return self.leg.domain

    @property
    def local_uri(self) -> str:
        return self.leg.local_uri

    @property
    def local_party(self) -> str:
        return self.leg.local_party

    @property
    def remote_uri(self) -> str:
        return self.leg.remote_uri

    @property
    def remote_party(self) -> str:
        return self.leg.remote_party

    @property
    def ruri(self) -> str:
        return self.leg.ruri

    @property
    def request_headers(self) -> SipHeaders:
        return self.leg.request_headers

    @property
    def other_id(self) -> str:
        """The B leg's local tag while this call is bridged ('' otherwise)."""
        return self.b2b.other_id

    # -- the mod_dlg handle -------------------------------------------------------
    def accept_invite(self, code: int = 200, reason: str = "OK", headers: str = "") -> bool:
        """Answer with SDP (183: early media, 2xx: connect).

        An offer we cannot answer (no common codec, broken SDP) is refused with
        488 instead, as SEMS does; then the call ends and this returns False.
        """
        offer = self.leg.remote_sdp
        sdp, self._answer = self._answer, None
        try:
            if sdp is None:
                sdp = self.media.answer(offer) if offer else self.media.offer()
        except SdpError as e:
            self._refuse_offer(offer, e)
            self.session.when_idle(self._end_if_running)  # SEMS: setStopped()
            return False
        if code < 200:
            self.leg.ring(code, reason, sdp, headers)
        else:
            self.leg.accept(code, reason, sdp, headers)
            self._final(code)
        self.replied = self.accepted = True
        if not self.media.connected:
            self.media.connect()
        return True

    def _refuse_offer(self, offer: str | None, error: SdpError) -> None:
        log.info(
            "{call_id}: refusing the offer with 488: {e}",
            call_id=self.callid,
            ltag=self.session.ltag,
            e=str(error),
        )
        if not self.replied:
            self.reply(488, "Not Acceptable Here", offer_warning(offer))

    def reply(self, code: int, reason: str, headers: str = "") -> None:
        self.leg.reply(code, reason, headers)
        self.replied = True
        if code >= 200:
            self._final(code)
        if code >= 300:
            self.media.disconnect()

    def bye(self, headers: str = "") -> None:
        self.leg.bye(headers)
        self.media.disconnect()

    def refer(self, target: str, expires: int = 0) -> None:
        self.leg.refer(target, expires)

    def send_request(
        self,
        method: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self.leg.send_request(method, headers, body, content_type)

    def reply_request(
        self, request: Mapping[str, Any], code: int, reason: str, headers: str = ""
    ) -> None:
        # the leg's request info carries the CSeq number as an int; "N METHOD" text also works
        cseq = str(request.get("cseq", "0")).split()
        self.leg.reply_request(
            int(cseq[0]) if cseq and cseq[0].isdigit() else 0, code, reason, headers
        )

    # -- leg listener ----------------------------------------------------------------
    def _post(self, event_type: str, **params: str) -> None:
        self.session.post(Event(event_type, params))

    def _on_dtmf(self, key: int, duration_ms: int) -> None:
        self._post(ev.KEY, key=str(key), duration=str(duration_ms))

    def on_invite(self, leg: CallLeg) -> None:
        """A new INVITE: its offer is answered now, and refused before the script runs.

        SEMS checks the offer before the session's ``onInvite``: a call whose
        SDP cannot be answered gets 488 and its session never starts, so the
        script sees no event of it (no ``beforeDestroy`` for a call that never
        began: a call counter never counts one down it never counted up).
        """
        offer = leg.remote_sdp
        if offer:
            try:
                self._answer = self.media.answer(offer)
            except SdpError as e:
                self._refuse_offer(offer, e)
                self.session.when_idle(self._end_if_running)
                return
        callflow.start_inbound(self.session, self.app, self.session.app.run_invite_event)

    def on_ringing(self, code: int, reason: str, has_body: bool) -> None:
        self._post(
            ev.RINGING, code=str(code), reason=reason, has_body="true" if has_body else "false"
        )

    def on_early(self, sdp: str) -> None:
        if sdp:
            self._apply_answer(sdp)
        self._post(ev.EARLY)

    def _final(self, code: int) -> None:
        if self.final_code is None:
            self.final_code = code

    def on_connected(self, sdp: str | None) -> None:
        self._final(200)
        if self.leg.direction == "in":
            self.b2b.caller_confirmed()  # the ACK is in: a bridge waiting for it goes on
        if self.leg.direction == "out":
            if sdp:
                self._apply_answer(sdp)
            if not self.media.connected:
                self.media.connect()
            callflow.outbound_connected(self.session)

    def _apply_answer(self, sdp: str) -> None:
        try:
            self.media.apply_answer(sdp)
        except Exception as e:  # a stranger's answer must never break the SIP callback
            log.warn(
                "{call_id}: unusable SDP answer: {e}",
                call_id=self.callid,
                ltag=self.session.ltag,
                e=str(e),
            )

    def on_failed(self, code: int, reason: str) -> None:
        self._final(code)
        self._post(ev.FAILED, code=str(code), reason=reason)
        self.session.when_idle(lambda: self.session.stop(False))

    def on_hangup(self, headers: str, by_cancel: bool) -> None:
        if by_cancel:
            self._final(487)  # the stack answers the CANCELed INVITE with 487
        self.b2b.caller_gone(headers)  # end to end: B gets BYE (CANCEL while it rings)
        self.media.disconnect()
        self._post(ev.HANGUP, headers=headers)

    def on_remote_disappeared(self, code: int, reason: str) -> None:
        # dsm_syntax.txt names #sip_code/#sip_reason; SEMS's DSMCall sets #code/#reason
        self._post_default(
            ev.REMOTE_DISAPPEARED,
            sip_code=str(code),
            sip_reason=reason,
            code=str(code),
            reason=reason,
        )

    def on_session_timeout(self) -> None:
        self._post_default(ev.SESSION_TIMEOUT)

    def _post_default(self, event_type: str, **params: str) -> None:
        """Events whose default (end the call) the script may veto with #processed=true."""
        event = Event(event_type, dict(params))
        self.session.post(event)

        def default() -> None:
            if (event.params or {}).get("processed") != "true" and not self.session.stopped:
                self.session.stop(True)

        self.session.when_idle(default)

    def on_reinvite(self, sdp: str | None) -> str | None:
        """The peer's re-INVITE/UPDATE: our answer, or None (488) for an offer we cannot take.

        A refused offer changes nothing: the media negotiates nothing until an
        answer is complete, so the call keeps its codec, address and direction
        (RFC 3261 §14.2: the session stays as it was).
        """
        bridged = self.b2b.caller_reoffer(sdp)
        if bridged is not None:
            return bridged
        if not sdp:
            return self.media.offer()
        try:
            return self.media.answer(sdp)
        except SdpError as e:
            log.info(
                "{ltag}: re-INVITE offer refused with 488, media unchanged: {e}",
                ltag=self.session.ltag,
                e=str(e),
            )
            return None

    # -- dead calls ------------------------------------------------------------------
    def _watch_dead_call(self) -> None:
        """Every call ends if it goes silent or never gets answered (issue 11, finding 7).

        The RTP timeout (sems.conf ``dead_rtp_time``) watches every call from
        the start, as SEMS's RTP streams do; a script may still turn it off
        with ``monitorRTPTimeout(false)`` or keep the call with
        ``#processed=true``.  An inbound call not answered within
        ``max_early_media_time`` (ringing or in early media), or an outbound
        one not answered within ``max_ringing_time``, is ended as well.
        """
        controller = self.controller
        seconds = controller.dead_rtp_time
        if seconds is None:
            seconds = DEFAULT_DEAD_RTP_TIME
        self.media.monitor_rtp_timeout(seconds > 0, float(seconds))
        if self.direction == "out":
            limit, reason = controller.max_ringing_time, "ringing_timeout"
        else:
            limit, reason = controller.max_early_media_time, "early_media_timeout"
        if limit > 0:
            self._setup_timer = self.media.reactor.callLater(limit, self._setup_timed_out, reason)

    def _end_reason(self, reason: str) -> None:
        store = self.controller.runtime.monitoring
        if store is not None and not self.session.system:
            store.set(self.session.ltag, "end_reason", reason)

    def _on_rtp_timeout(self) -> None:
        event = Event(
            ev.RTP_TIMEOUT,
            {"type": "rtp_timeout", "timeout_value": str(int(self.media.rtp_timeout_seconds))},
        )
        self.session.post(event)

        def default() -> None:
            if (event.params or {}).get("processed") != "true" and not self.session.stopped:
                self._end_reason("rtp_timeout")
                self.session.stop(True)

        self.session.when_idle(default)

    def _setup_timed_out(self, reason: str) -> None:
        """Still unanswered: refuse the INVITE with 480, or CANCEL ours, and end the session."""
        self._setup_timer = None
        leg = self.leg
        if self.session.stopped or leg.connected or leg.ended:
            return
        log.info(
            "{ltag}: call not answered in time, ending it ({reason})",
            ltag=self.session.ltag,
            reason=reason,
        )
        self._end_reason(reason)
        if self.direction == "out":
            leg.bye()  # CANCEL while dialling
            self.media.disconnect()
        else:
            self.reply(480, "Temporarily Unavailable")
        self.session.when_idle(self._end_if_running)

    def _cancel_setup_timer(self) -> None:
        timer, self._setup_timer = self._setup_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def on_refresh_offer(self, sdp: str) -> str:
        """A session-timer re-INVITE offers our SDP again, as a new version."""
        return bump_sdp_version(sdp)

    def on_request(self, method: str, info: dict[str, Any]) -> bool:
        if self.session.vars.get("enable_request_events") != "true":
            return False
        self.session.objects["dlg.request"] = info
        self._post(ev.SIP_REQUEST, **{k: str(v) for k, v in info.items()})
        return True

    def on_reply(self, code: int, reason: str, info: dict[str, Any]) -> None:
        if self.b2b.caller_reply(code, reason):
            return  # the answer to a re-INVITE of the B2B media dance
        if self.session.vars.get("enable_reply_events") == "true":
            self.session.objects["dlg.reply"] = info
            self._post(ev.SIP_REPLY, **{k: str(v) for k, v in info.items()})

    def on_info_dtmf(self, key: int, duration_ms: int) -> None:
        self._on_dtmf(key, duration_ms)

    def on_terminated(self) -> None:
        """The SIP dialog is gone: end the session once it has handled what is queued."""
        self.media.disconnect()
        self.session.when_idle(self._end_if_running)

    def _end_if_running(self) -> None:
        if not self.session.stopped:
            self.session.stop(False)

    def _session_ended(self, session: Session) -> None:
        self._cancel_setup_timer()
        self.b2b.close()
        self.media.close()
        self.controller.call_ended(self)
        # the callbacks set in __init__ point back here: unset them, so an ended call is
        # freed by reference counting (the session lets go of it itself, see Session._release)
        media = self.media
        media.on_dtmf = media.on_no_audio = media.on_separator = media.on_rtp_timeout = None


if TYPE_CHECKING:  # mypy holds the live classes to the protocols the DSM layer is written against

    def _implements(call: DSMCall, media: DSMMedia) -> tuple[CallHandle, MediaHandle]:
        return call, media
