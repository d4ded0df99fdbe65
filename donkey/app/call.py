"""Where SIP, media and DSM meet for one call: :class:`DSMCall`.

:class:`DSMCall` is the ``session.call`` handle that mod_dlg acts through and
the listener of the SIP leg.  Everything the leg or the media reports
becomes an event posted to the session; nothing calls into the engine
directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from donkey.app.b2b import B2BBridge
from donkey.dsm import callflow
from donkey.dsm import events as ev
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle
from donkey.dsm.protocols import AudioSink, AudioSource, CallHandle, MediaHandle
from donkey.dsm.session import Session
from donkey.media.prompts import PromptNotFound, PromptSets
from donkey.media.sdp import SdpError
from donkey.media.sdp_text import answer_hold, bump_sdp_version
from donkey.media.session import MediaSession
from donkey.sip.headers import SipHeaders
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
            self._media.monitor_rtp_timeout(enabled)
        else:
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
        self.media.on_dtmf = self._on_dtmf
        self.media.on_no_audio = lambda: self._post(ev.NO_AUDIO, type="noAudio")
        self.media.on_separator = lambda sid: self._post(ev.SEPARATOR, id=str(sid))
        # SEMS: the call ends (BYE) after rtpTimeout unless the script set #processed=true
        self.media.on_rtp_timeout = lambda: self._post_default(
            ev.RTP_TIMEOUT,
            type="rtp_timeout",
            timeout_value=str(int(self.media.rtp_timeout_seconds)),
        )
        self.session = controller.runtime.new_session(
            bundle,
            ltag=leg.local_tag or None,
            call=self,
            media=DSMMedia(self.media, prompts, controller.dead_rtp_time),
            variables=variables,
        )
        self.session.ending.append(self._session_ended)
        self.direction = leg.direction
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
        try:
            sdp = self.media.answer(offer) if offer else self.media.offer()
        except SdpError as e:
            log.info("{ltag}: refusing the offer with 488: {e}", ltag=self.session.ltag, e=str(e))
            if not self.replied:
                self.reply(488, "Not Acceptable Here")
            self.session.when_idle(self._end_if_running)  # SEMS: setStopped()
            return False
        if code < 200:
            self.leg.ring(code, reason, sdp, headers)
        else:
            self.leg.accept(code, reason, sdp, headers)
        self.replied = self.accepted = True
        if not self.media.connected:
            self.media.connect()
        return True

    def reply(self, code: int, reason: str, headers: str = "") -> None:
        self.leg.reply(code, reason, headers)
        self.replied = True
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
        callflow.start_inbound(self.session, self.app, self.session.app.run_invite_event)

    def on_ringing(self, code: int, reason: str, has_body: bool) -> None:
        self._post(
            ev.RINGING, code=str(code), reason=reason, has_body="true" if has_body else "false"
        )

    def on_early(self, sdp: str) -> None:
        if sdp:
            self._apply_answer(sdp)
        self._post(ev.EARLY)

    def on_connected(self, sdp: str | None) -> None:
        if self.leg.direction == "out":
            if sdp:
                self._apply_answer(sdp)
            if not self.media.connected:
                self.media.connect()
            callflow.outbound_connected(self.session)

    def _apply_answer(self, sdp: str) -> None:
        try:
            self.media.apply_answer(sdp)
        except Exception as e:
            log.warn("{ltag}: unusable SDP answer: {e}", ltag=self.session.ltag, e=str(e))

    def on_failed(self, code: int, reason: str) -> None:
        self._post(ev.FAILED, code=str(code), reason=reason)
        self.session.when_idle(lambda: self.session.stop(False))

    def on_hangup(self, headers: str, by_cancel: bool) -> None:
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
        bridged = self.b2b.caller_reoffer(sdp)
        if bridged is not None:
            return bridged
        if not sdp:
            return self.media.offer()
        try:
            return self.media.answer(sdp)
        except Exception as e:
            # our last SDP with the direction mirrored keeps hold/resume working
            log.warn("{ltag}: re-INVITE offer refused: {e}", ltag=self.session.ltag, e=str(e))
            return answer_hold(sdp, self.leg.local_sdp)

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
        self.b2b.close()
        self.media.close()
        self.controller.call_ended(self)


if TYPE_CHECKING:  # mypy holds the live classes to the protocols the DSM layer is written against

    def _implements(call: DSMCall, media: DSMMedia) -> tuple[CallHandle, MediaHandle]:
        return call, media
