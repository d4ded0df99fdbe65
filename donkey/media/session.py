"""MediaSession: everything media for one call, driven by the MediaClock.

Owns the RTP endpoint (one port pair), the negotiated codec, the playlist,
DTMF in both directions, an optional recorder and RTP-timeout monitoring.
The DSM actions map one-to-one onto its methods.

Naming (donkey contract): the session's **input** is the source whose audio
we *send* to the caller (a playlist, a conference channel); its **output** is
the sink that gets what the caller *sends us*.  By default both are the
playlist.  Recording taps the received audio independently of the output, so
a call can be recorded while it sits in a conference.

Callbacks (``on_dtmf(key, ms)``, ``on_no_audio()``, ``on_separator(id)``,
``on_rtp_timeout()``) are posted with ``callLater(0)`` rather than run inside
the media tick, so DSM handlers may freely change the playlist or close the
session -- as SEMS posts events to the session's queue.
"""

from __future__ import annotations

import ipaddress
import os
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from donkey.common.dtmf import key_from_char
from donkey.media.clock import MediaClock
from donkey.media.codecs import Codec
from donkey.media.dtmf import GoertzelDetector, Rfc4733Receiver, Rfc4733Sender
from donkey.media.frame import FRAME_BYTES, FRAME_MS, SAMPLES_PER_FRAME, SILENCE, Sink, Source
from donkey.media.playlist import Playlist
from donkey.media.recorder import Recorder
from donkey.media.rtp import ListeningPort, PortAllocator, RtpEndpoint, RtpStats
from donkey.media.sdp import SENDRECV, Negotiated, SdpNegotiator, is_ip_literal
from donkey.media.sources import RingtoneSource
from donkey.media.wav import WavCache

_log = Logger(namespace="donkey.media.session")

#: Received frames buffered at most (older ones are dropped): bounds latency.
JITTER_FRAMES = 6

#: Seconds without RTP before a call counts as dead when sems.conf does not
#: say (SEMS's ``dead_rtp_time`` default: 5 minutes).
DEFAULT_DEAD_RTP_TIME = 300.0

#: A host name lookup: name -> Deferred firing with an IP address.
Resolver = Callable[[str], "Deferred[str]"]

#: Seconds the reactor's resolver may take in all (its retry timeouts).
RESOLVE_TIMEOUTS = (1, 3)


def reactor_resolver(reactor: Any) -> Resolver:
    """``reactor.resolve`` with a bounded time; a reactor without one resolves nothing."""
    resolve = getattr(reactor, "resolve", None)

    def lookup(name: str) -> Deferred[str]:
        if resolve is None:
            return fail(LookupError("no resolver for %r" % name))
        return cast("Deferred[str]", resolve(name, timeout=RESOLVE_TIMEOUTS))

    return lookup


_DTMF_ROWS = (697, 770, 852, 941)
_DTMF_COLS = (1209, 1336, 1477, 1633)
_KEY_POS = {
    1: (0, 0),
    2: (0, 1),
    3: (0, 2),
    12: (0, 3),
    4: (1, 0),
    5: (1, 1),
    6: (1, 2),
    13: (1, 3),
    7: (2, 0),
    8: (2, 1),
    9: (2, 2),
    14: (2, 3),
    10: (3, 0),
    0: (3, 1),
    11: (3, 2),
    15: (3, 3),
}


class MediaSession:
    """Media of one call.  Raises ``NoMediaPortAvailable`` if no port is free.

    *wav_cache* is where played files are decoded; the server passes the one
    it shares among all calls.  Without it the session gets a cache of its
    own, which is fine for a test but makes every call decode its prompts anew.
    """

    def __init__(
        self,
        clock: MediaClock,
        ports: PortAllocator | None = None,
        *,
        local_ip: str | None = None,
        endpoint: RtpEndpoint | None = None,
        codecs: tuple[str, ...] = ("PCMU", "PCMA"),
        dtmf_payload_type: int = 101,
        wav_cache: WavCache | None = None,
        latching: str | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.clock = clock
        self.reactor = clock.reactor
        self._ports = ports
        if endpoint is None:
            if ports is None:
                raise ValueError("MediaSession needs a PortAllocator or an RtpEndpoint")
            endpoint = RtpEndpoint() if latching is None else RtpEndpoint(latching=latching)
            ports.bind(endpoint)
        elif latching is not None:
            endpoint.latching = latching
        self._resolve = resolver if resolver is not None else reactor_resolver(self.reactor)
        self._resolve_gen = 0  # a lookup's answer counts only if no newer SDP came since
        self.rtp = endpoint
        endpoint.handler = self._on_packet
        self._rtp_send = endpoint.send
        self.local_ip = local_ip or (ports.host if ports is not None else "127.0.0.1")
        self.sdp = SdpNegotiator(self.local_ip, endpoint.local_port or 0, codecs, dtmf_payload_type)
        self.negotiated: Negotiated | None = None

        #: Decoded files; one per server, shared by all its calls (see WavCache).
        self.wav_cache = wav_cache if wav_cache is not None else WavCache()
        self.playlist = Playlist(self.wav_cache)
        self.playlist.on_empty = self._playlist_empty
        self.playlist.on_separator = self._playlist_separator
        self._input: Source | None = self.playlist
        self._output: Sink | None = self.playlist
        self._read: Callable[[], bytes | None] = self.playlist.read
        self._write: Callable[[bytes], None] | None = None  # the playlist discards

        # send state
        self._ts = int.from_bytes(os.urandom(4), "big")
        self._marker = True
        self._encode: Callable[[bytes], bytes] = _not_negotiated  # set by _apply()
        self._pt = -1
        self._te_pt = -1
        self._send_ok = False  # negotiated direction + remote address allow sending
        self._muted = False
        self._tx_on = False  # _send_ok and not muted: one test per tick
        self._dtmf_tx = Rfc4733Sender()
        self._dtmf_tx_on = False  # key presses queued on _dtmf_tx
        self._inband_tx: deque[RingtoneSource] = deque()

        # receive state
        self._decode: Callable[[bytes], bytes] = _not_negotiated
        self._rxq: deque[bytes] = deque(maxlen=JITTER_FRAMES)
        self._rxbuf = bytearray()
        # Playout starts (and restarts after running dry) once this many
        # frames are queued: 1 for 20 ms packets; a peer sending 30 ms packets
        # delivers 1.5 frames at a time and needs 2, or every other tick would
        # find nothing and put 20 ms of silence into the recording/conference.
        self._rx_min = 1
        self._rx_playing = False
        self.receiving = True
        self.force_dtmf_receiving = False
        self.dtmf_detection = True
        self._inband_mode: bool | None = None  # None: automatic (on without RFC 4733)
        self._inband: GoertzelDetector | None = None
        self._dtmf_rx = Rfc4733Receiver()
        self._recorder: Recorder | None = None
        self._last_recorder: Recorder | None = None
        # Decode and queue received audio only when something consumes it
        # (an output other than the playlist, a recorder, in-band detection).
        self._rx_on = False

        # RTP timeout
        self._rx_seen = False
        self._idle_ticks = 0
        self._timeout_ticks = 0
        self._timeout_fired = False

        self.connected = False
        self.closed = False
        self.on_dtmf: Callable[[int, int], None] | None = None
        self.on_no_audio: Callable[[], None] | None = None
        self.on_separator: Callable[[int], None] | None = None
        self.on_rtp_timeout: Callable[[], None] | None = None

    # ------------------------------------------------------------------ SDP
    @property
    def local_port(self) -> int:
        return self.rtp.local_port or 0

    def answer(self, offer_sdp: str, direction: str = SENDRECV) -> str:
        """Answer the caller's offer (raises ``UnsupportedOffer`` -> 488)."""
        text, neg = self.sdp.make_answer(offer_sdp, direction)
        self._apply(neg)
        return text

    def offer(self, direction: str = SENDRECV, zero_connection_hold: bool = False) -> str:
        """Our offer (``direction='sendonly'`` to put the peer on hold)."""
        return self.sdp.make_offer(direction, zero_connection_hold)

    def apply_answer(self, answer_sdp: str) -> Negotiated:
        neg = self.sdp.apply_answer(answer_sdp)
        self._apply(neg)
        return neg

    def _apply(self, neg: Negotiated) -> None:
        codec: Codec = neg.codec
        self.negotiated = neg
        self._encode = codec.encode
        self._decode = codec.decode
        self._pt = neg.payload_type
        self._te_pt = -1 if neg.telephone_event_pt is None else neg.telephone_event_pt
        self.rtp.accept_pts = frozenset(p for p in (self._pt, self._te_pt) if p >= 0)
        self.rtp.clock_rate = codec.clock_rate
        self._send_ok = neg.sending
        self._tx_on = neg.sending and not self._muted
        self._update_inband()
        remote = neg.remote_addr
        if remote is None:  # hold (c=0.0.0.0) or nothing to send to: keep receiving as before
            return
        self._resolve_gen += 1
        host, port = remote
        if is_ip_literal(host):
            self.rtp.set_remote((str(ipaddress.ip_address(host)), port))
            return
        self.rtp.set_remote(None)  # no media until the name is resolved
        gen = self._resolve_gen
        try:
            d = self._resolve(host)
        except Exception:
            d = fail()
        d.addCallbacks(
            self._resolved,
            self._unresolved,
            callbackArgs=(gen, host, port),
            errbackArgs=(gen, host),
        )

    def _resolved(self, ip: str, gen: int, host: str, port: int) -> None:
        if gen != self._resolve_gen or self.closed:
            return
        if not is_ip_literal(ip):
            self._unresolved(Failure(LookupError("not an address: %r" % (ip,))), gen, host)
            return
        self.rtp.set_remote((str(ipaddress.ip_address(ip)), port))

    def _unresolved(self, failure: Failure, gen: int, host: str) -> None:
        if gen != self._resolve_gen or self.closed:
            return
        _log.warn(
            "cannot resolve the remote SDP address {host!r}: {error}; no media for it",
            host=host,
            error=failure.getErrorMessage(),
        )

    # ------------------------------------------------------------- playlist
    def play_file(self, path: str, loop: bool = False, front: bool = False) -> None:
        """Queue a WAV file; raises ``MediaFileError`` (DSM ``file`` exception)."""
        self.playlist.add_file(path, loop, front)

    def play_source(self, source: Source, front: bool = False) -> None:
        """Queue any source, e.g. ``prompts.source(name)`` for playPrompt."""
        self.playlist.add(source, front)

    def play_silence(self, ms: int, front: bool = False) -> None:
        self.playlist.add_silence(ms, front)

    def play_ringtone(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: float,
        f2: float = 0.0,
        front: bool = False,
    ) -> None:
        self.playlist.add_ringtone(length_ms, on_ms, off_ms, f, f2, front)

    def add_separator(self, id: int, front: bool = False) -> None:
        self.playlist.add_separator(id, front)

    def flush_playlist(self) -> None:
        self.playlist.flush()

    def set_in_out_playlist(self) -> None:
        self.set_input(self.playlist)
        self.set_output(self.playlist)

    def set_input_playlist(self) -> None:
        self.set_input(self.playlist)

    def set_output_playlist(self) -> None:
        self.set_output(self.playlist)

    def set_input(self, source: Source | None) -> None:
        """Source of the audio we send (playlist, conference channel, mix-in).

        None sends silence (e.g. after ``conference.leave()``).
        """
        self._input = source
        self._read = _no_frame if source is None else source.read

    def set_output(self, sink: Sink | None) -> None:
        """Sink for the audio we receive (None, or the playlist, discards it)."""
        self._output = sink
        self._write = None if sink is None or sink is self.playlist else sink.write
        self._update_rx()

    def _update_rx(self) -> None:
        self._rx_on = self.receiving and (
            self._write is not None or self._recorder is not None or self._inband is not None
        )
        if not self._rx_on:
            self._rxq.clear()
            self._rx_playing = False

    @property
    def input(self) -> Source | None:
        return self._input

    @property
    def output(self) -> Sink | None:
        return self._output

    # ------------------------------------------------------- media control
    def connect(self) -> None:
        """Start sending/receiving on the shared media clock."""
        if self.closed or self.connected:
            return
        self.connected = True
        self._idle_ticks = -1  # the first tick is at time 0
        self.clock.connect(self)

    def disconnect(self) -> None:
        if self.connected:
            self.connected = False
            self.clock.disconnect(self)

    def enable_receiving(self) -> None:
        self.receiving = True
        self._update_rx()

    def disable_receiving(self) -> None:
        self.receiving = False
        self._update_rx()

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self._muted = bool(value)
        self._tx_on = self._send_ok and not self._muted

    def mute(self) -> None:
        """Stop sending RTP (time, and the playlist, keep running)."""
        self.muted = True

    def unmute(self) -> None:
        self.muted = False

    def monitor_rtp_timeout(self, enabled: bool, seconds: float = 30.0) -> None:
        """Fire ``on_rtp_timeout`` when no RTP arrives for *seconds*.

        Not while the peer holds us (it legitimately sends nothing then).
        """
        self._timeout_ticks = max(1, int(seconds * 1000 / FRAME_MS)) if enabled else 0
        self._idle_ticks = 0 if self.connected else -1
        self._timeout_fired = False

    @property
    def rtp_timeout_seconds(self) -> float:
        """The RTP timeout being monitored (0 when off)."""
        return self._timeout_ticks * FRAME_MS / 1000.0

    # ---------------------------------------------------------------- DTMF
    def enable_dtmf_detection(self) -> None:
        self.dtmf_detection = True
        self._update_inband()

    def disable_dtmf_detection(self) -> None:
        self.dtmf_detection = False
        self._update_inband()

    def set_inband_dtmf(self, enabled: bool | None) -> None:
        """Force in-band detection on/off; None = on only without RFC 4733."""
        self._inband_mode = enabled
        self._update_inband()

    def enable_force_dtmf_receiving(self) -> None:
        """Process RFC 4733 events even while receiving is disabled."""
        self.force_dtmf_receiving = True

    def disable_force_dtmf_receiving(self) -> None:
        self.force_dtmf_receiving = False

    def _update_inband(self) -> None:
        want = self._inband_mode
        if want is None:
            want = self._te_pt < 0
        if self.dtmf_detection and want:
            if self._inband is None:
                self._inband = GoertzelDetector()
        else:
            self._inband = None
        self._update_rx()

    def send_dtmf(self, key: int, duration_ms: int = 500) -> None:
        """Send one key: RFC 4733 if negotiated, else as in-band tones."""
        if not 0 <= int(key) <= 15:
            raise ValueError("DTMF key out of range: %r" % (key,))
        if self._te_pt >= 0 or self.negotiated is None:
            self._dtmf_tx.queue(int(key), duration_ms)
            self._dtmf_tx_on = True
        else:
            r, c = _KEY_POS[int(key)]
            on = max(40, int(duration_ms))
            self._inband_tx.append(RingtoneSource(on + 100, on, 100, _DTMF_ROWS[r], _DTMF_COLS[c]))

    def send_dtmf_sequence(self, seq: str, duration_ms: int = 500) -> None:
        """Queue keys like ``"123#45*1"`` (ValueError on anything else)."""
        keys = [key_from_char(ch) for ch in str(seq)]
        for k in keys:
            self.send_dtmf(k, duration_ms)

    # ----------------------------------------------------------- recording
    def record_file(self, path: str) -> None:
        """Record received audio to *path* (raises ``MediaFileError``)."""
        rec = Recorder(path)
        self.stop_record()
        self._recorder = self._last_recorder = rec
        self._update_rx()

    def stop_record(self) -> None:
        rec = self._recorder
        self._recorder = None
        self._update_rx()
        if rec is not None:
            rec.stop()

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    @property
    def record_length_ms(self) -> int:
        r = self._last_recorder
        return r.record_length_ms if r is not None else 0

    @property
    def record_data_size(self) -> int:
        r = self._last_recorder
        return r.data_size if r is not None else 0

    # ------------------------------------------------------------- closing
    @property
    def stats(self) -> RtpStats:
        return self.rtp.stats

    def rtp_jitter_seconds(self) -> float:
        """The received stream's interarrival jitter (RFC 3550), in seconds."""
        return self.rtp.stats.jitter_seconds(self.rtp.clock_rate)

    def close(self) -> Deferred[Any]:
        """End of call: stop media, finish the recording, free the port.

        Returns a Deferred that fires when the sockets are closed.
        """
        if self.closed:
            return succeed(None)
        self.closed = True
        self.disconnect()
        self.stop_record()
        self.playlist.flush()
        self._dtmf_tx.clear()
        self.rtp.handler = _ignore
        # The playlist calls our bound methods, and the call glue's lambdas
        # here call back into the call that holds us: both are cycles a
        # closed session no longer needs (it fires no events), so drop them
        # and let reference counting free the call when it ends.
        self.playlist.on_empty = self.playlist.on_separator = None
        self.on_dtmf = self.on_no_audio = self.on_separator = self.on_rtp_timeout = None
        if self._ports is not None and self.rtp.local_port is not None:
            return self._ports.release(self.rtp.local_port)
        transport = self.rtp.transport
        if transport is not None and hasattr(transport, "stopListening"):
            return maybeDeferred(cast(ListeningPort, transport).stopListening)
        return succeed(None)

    # ------------------------------------------------------- event posting
    def _post(self, name: str, *args: object) -> None:
        self.reactor.callLater(0, self._fire, name, args)

    def _fire(self, name: str, args: tuple) -> None:
        if self.closed:
            return
        cb = getattr(self, name)
        if cb is not None:
            cb(*args)

    def _playlist_empty(self) -> None:
        self._post("on_no_audio")

    def _playlist_separator(self, id: int) -> None:
        self._post("on_separator", id)

    # ----------------------------------------------------- per packet/tick
    def _on_packet(self, pt: int, marker: bool, seq: int, ts: int, payload: bytes) -> None:
        self._rx_seen = True
        if pt == self._pt:
            if not self._rx_on:
                return
            pcm = self._decode(payload)
            if len(pcm) == FRAME_BYTES:
                self._rxq.append(pcm)
            else:
                self._rechunk(pcm)
        elif pt == self._te_pt:
            if (self.receiving or self.force_dtmf_receiving) and self.dtmf_detection:
                done = self._dtmf_rx.feed(ts, payload)
                if done is not None:
                    self._post("on_dtmf", done[0], done[1])

    def _rechunk(self, pcm: bytes) -> None:
        # Peers with ptime != 20: re-cut into 20 ms frames.
        need = -(-len(pcm) // FRAME_BYTES)
        if need > self._rx_min:
            self._rx_min = min(need, JITTER_FRAMES - 1)
        buf = self._rxbuf
        buf += pcm
        while len(buf) >= FRAME_BYTES:
            self._rxq.append(bytes(buf[:FRAME_BYTES]))
            del buf[:FRAME_BYTES]

    def receive_tick(self) -> None:
        """Clock phase 1: deliver one received frame."""
        q = self._rxq
        if q and (self._rx_playing or len(q) >= self._rx_min):
            self._rx_playing = True
            frame = q.popleft()
            w = self._write
            if w is not None:
                w(frame)
        else:
            self._rx_playing = False
            frame = SILENCE
        rec = self._recorder
        if rec is not None:
            rec.write(frame)  # silence for gaps keeps the recording in real time
        det = self._inband
        if det is not None and frame is not SILENCE:
            done = det.process(frame)
            if done is not None:
                self._post("on_dtmf", done[0], done[1])
        if self._dtmf_rx.pending:
            done = self._dtmf_rx.tick()
            if done is not None:
                self._post("on_dtmf", done[0], done[1])
        if self._rx_seen:
            self._rx_seen = False
            self._idle_ticks = 0
            self._timeout_fired = False
        elif self._timeout_ticks:
            self._idle_ticks += 1
            if (
                self._idle_ticks >= self._timeout_ticks
                and not self._timeout_fired
                and self.negotiated is not None
                and self.negotiated.direction in ("sendrecv", "recvonly")
            ):
                self._timeout_fired = True
                self._post("on_rtp_timeout")

    def send_tick(self) -> None:
        """Clock phase 3: read one frame from the input and send it."""
        ts = self._ts
        self._ts = (ts + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        frame = self._read()
        if self._inband_tx:
            tone = self._inband_tx[0].read()
            if tone is None:
                self._inband_tx.popleft()
            else:
                frame = tone
        if not self._tx_on:
            return
        if self._dtmf_tx_on:
            tx = self._dtmf_tx
            if self._te_pt >= 0:
                ev = tx.next_packet(ts)
                if ev is not None:
                    self._rtp_send(self._te_pt, ev[1], ev[2], ev[0])
                    return
            if not tx.busy:
                self._dtmf_tx_on = False
        if frame is None:
            frame = SILENCE
        if self._marker:
            self._marker = False
            self._rtp_send(self._pt, True, ts, self._encode(frame))
        else:
            self._rtp_send(self._pt, False, ts, self._encode(frame))


def _not_negotiated(data: bytes) -> bytes:
    # Never reached: nothing is sent before a codec is negotiated (_tx_on is
    # off) and no packet matches the payload type -1.
    raise RuntimeError("no codec negotiated yet")


def _no_frame() -> bytes | None:
    return None


def _ignore(pt: int, marker: bool, seq: int, ts: int, payload: bytes) -> None:
    return None
