"""DTMF: RFC 4733 telephone-events in and out, and in-band tone detection.

Keys are ints as the DSM layer sees them: 0-9, ``*`` = 10, ``#`` = 11,
A-D = 12-15.  The key map itself is :mod:`donkey.common.dtmf`;
:func:`key_from_char` and :func:`key_to_char` are re-exported here for the
media code and tests that import them from this module.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import deque

from donkey.common.dtmf import key_from_char, key_to_char
from donkey.media._audioop import audioop
from donkey.media.frame import SAMPLE_RATE, SAMPLES_PER_FRAME

#: RFC 4733 end packets are sent this many times.
END_REPEATS = 3
#: Inter-digit pause (audio resumes) inside a queued sequence.
INTER_DIGIT_MS = 100
VOLUME = 10  # -10 dBm0
_EVENT = struct.Struct("!BBH")


__all__ = [
    "END_REPEATS",
    "INTER_DIGIT_MS",
    "VOLUME",
    "GoertzelDetector",
    "Rfc4733Receiver",
    "Rfc4733Sender",
    "build_event",
    "key_from_char",
    "key_to_char",
]


def build_event(key: int, end: bool, duration: int, volume: int = VOLUME) -> bytes:
    """RFC 4733 payload: event, E/R/volume, duration (in timestamp units)."""
    return _EVENT.pack(key, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


class Rfc4733Receiver:
    """Turns telephone-event packets into one (key, duration_ms) per press.

    An event is identified by its RTP timestamp: the three retransmitted end
    packets (and any late updates) share it and are reported only once.  If
    every end packet is lost the key is still reported, either when the next
    event starts or after ``timeout_ticks`` frames without event packets.
    """

    def __init__(self, timeout_ticks: int = 10) -> None:
        self.timeout_ticks = timeout_ticks
        self._cur_ts = -1
        self._cur_key = -1
        self._cur_dur = 0
        self._done_ts = -1
        self._idle = 0
        #: a press is in progress (the media tick only calls :meth:`tick` then)
        self.pending = False

    def feed(self, ts: int, payload: bytes) -> tuple[int, int] | None:
        """Process one event payload; returns a finished key press or None."""
        if len(payload) < 4:
            return None
        key, flags, duration = _EVENT.unpack_from(payload, 0)
        if key > 15 or ts == self._done_ts:
            return None
        out = None
        if self._cur_ts != -1 and ts != self._cur_ts:
            out = self._finish()  # previous press lost its end packets
        self._idle = 0
        if self._cur_ts == -1:
            self._cur_ts, self._cur_key, self._cur_dur = ts, key, duration
            self.pending = True
        elif duration > self._cur_dur:
            self._cur_dur = duration
        if flags & 0x80:
            done = self._finish()
            self._done_ts = ts
            return done if out is None else out  # (two presses in one packet: rare, keep the first)
        return out

    def tick(self) -> tuple[int, int] | None:
        """Call once per frame; reports a press whose end packets never came."""
        if self._cur_ts == -1:
            return None
        self._idle += 1
        if self._idle >= self.timeout_ticks:
            ts = self._cur_ts
            done = self._finish()
            self._done_ts = ts
            return done
        return None

    def _finish(self) -> tuple[int, int]:
        out = (self._cur_key, self._cur_dur * 1000 // SAMPLE_RATE)
        self._cur_ts = -1
        self.pending = False
        return out


class Rfc4733Sender:
    """Queue of key presses, emitted one event packet per clock tick.

    :meth:`next_packet` is asked every tick with the stream's current RTP
    timestamp; when it returns a payload the session sends that instead of
    audio, keeping sequence numbers and SSRC of the audio stream.
    """

    def __init__(self) -> None:
        self._queue: deque[tuple[int, int]] = deque()
        self._key = -1
        self._ts = 0
        self._elapsed = 0
        self._total = 0
        self._ends = 0
        self._pause = 0

    def queue(self, key: int, duration_ms: int = 500) -> None:
        if not 0 <= key <= 15:
            raise ValueError("DTMF key out of range: %r" % key)
        self._queue.append((key, max(40, int(duration_ms))))

    @property
    def busy(self) -> bool:
        return self._key >= 0 or bool(self._queue) or self._pause > 0

    def clear(self) -> None:
        self._queue.clear()
        self._key = -1
        self._pause = 0

    def next_packet(self, ts: int) -> tuple[bytes, bool, int] | None:
        """(payload, marker, event timestamp) to send now, or None for audio."""
        if self._key < 0:
            if self._pause > 0:
                self._pause -= 1
                return None
            if not self._queue:
                return None
            self._key, ms = self._queue.popleft()
            self._ts = ts
            self._total = min(ms * SAMPLE_RATE // 1000, 0xFFFF)
            self._elapsed = 0
            self._ends = 0
        if self._elapsed < self._total:
            first = self._elapsed == 0
            self._elapsed = min(self._elapsed + SAMPLES_PER_FRAME, self._total)
            end = self._elapsed >= self._total
            if end:
                self._ends = 1
            return build_event(self._key, end, self._elapsed), first, self._ts
        payload = build_event(self._key, True, self._total)
        event_ts = self._ts
        self._ends += 1
        if self._ends >= END_REPEATS:
            self._key = -1
            self._pause = INTER_DIGIT_MS // 20 if self._queue else 0
        return payload, False, event_ts


_LOW = (697.0, 770.0, 852.0, 941.0)
_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYMAP = ((1, 2, 3, 12), (4, 5, 6, 13), (7, 8, 9, 14), (10, 0, 11, 15))
_findfactor = audioop.findfactor


def _references(amplitude: float = 16000.0) -> tuple[tuple[bytes, bytes, float, float], ...]:
    """Per DTMF frequency: cos and sin frames, and the factors turning
    ``findfactor(x, ref)`` back into sum(x*cos) and sum(x*sin)."""
    out = []
    for f in _LOW + _HIGH:
        w = 2.0 * math.pi * f / SAMPLE_RATE
        cos = array(
            "h", [int(round(amplitude * math.cos(w * i))) for i in range(SAMPLES_PER_FRAME)]
        )
        sin = array(
            "h", [int(round(amplitude * math.sin(w * i))) for i in range(SAMPLES_PER_FRAME)]
        )
        # findfactor = sum(x*r)/sum(r*r); sum(x*r)/amplitude approximates sum(x*cos(wn)).
        out.append(
            (
                cos.tobytes(),
                sin.tobytes(),
                sum(v * v for v in cos) / amplitude,
                sum(v * v for v in sin) / amplitude,
            )
        )
    return tuple(out)


_REFS = _references()
_REF_BYTES = SAMPLES_PER_FRAME * 2


class GoertzelDetector:
    """In-band DTMF detector for G.711-decoded audio, one 20 ms block at a time.

    Goertzel filters at the eight DTMF frequencies; a block holds a key when
    the strongest row and column tones carry most of the block's energy,
    clearly beat their neighbours and have a plausible twist.  A key must be
    present in ``min_blocks`` consecutive blocks (40 ms) and is reported when
    it stops, with its duration.  Costs ~20 us per voiced frame (silent
    frames are skipped by an RMS gate); it is only enabled when RFC 4733 was
    not negotiated.
    """

    def __init__(self, min_rms: int = 150, energy_ratio: float = 0.6, min_blocks: int = 2) -> None:
        n = SAMPLES_PER_FRAME
        self._coeffs = tuple(2.0 * math.cos(2.0 * math.pi * f / SAMPLE_RATE) for f in _LOW + _HIGH)
        self._n = n
        self.min_rms = min_rms
        self.energy_ratio = energy_ratio
        self.min_blocks = min_blocks
        self._key = -1  # candidate / current key
        self._count = 0  # consecutive blocks with _key
        self._miss = 0

    def _powers(self, frame: bytes) -> list[float]:
        """|DFT|^2 of the frame at the eight DTMF frequencies (the Goertzel power).

        Computed as correlations with cosine and sine references by
        ``audioop.findfactor`` (sum(x*r)/sum(r*r), in C): ten times faster
        than the Goertzel recursion in Python, and the same number.
        """
        if len(frame) != _REF_BYTES:
            return self._powers_slow(frame)
        out = []
        for c, s, kc, ks in _REFS:
            re = _findfactor(frame, c) * kc
            im = _findfactor(frame, s) * ks
            out.append(re * re + im * im)
        return out

    def _powers_slow(self, frame: bytes) -> list[float]:
        samples = array("h", frame)
        out = []
        for c in self._coeffs:
            s1 = s2 = 0.0
            for x in samples:
                s1, s2 = x + c * s1 - s2, s1
            out.append(s1 * s1 + s2 * s2 - c * s1 * s2)
        return out

    def block_key(self, frame: bytes) -> int:
        """Key present in this 20 ms block, or -1."""
        rms = audioop.rms(frame, 2)
        if rms < self.min_rms:
            return -1
        p = self._powers(frame)
        low, high = p[:4], p[4:]
        li = max(range(4), key=low.__getitem__)
        hi = max(range(4), key=high.__getitem__)
        pl, ph = low[li], high[hi]
        energy = float(rms) * rms * self._n
        # A pure tone of amplitude A gives P = (A*N/2)^2 and E = A^2*N/2.
        if 2.0 * (pl + ph) / (self._n * energy) < self.energy_ratio:
            return -1
        if pl < 0.1 * ph or ph < 0.1 * pl:  # twist beyond ~10 dB
            return -1
        for i in range(4):
            if i != li and low[i] * 4.0 > pl:
                return -1
            if i != hi and high[i] * 4.0 > ph:
                return -1
        return _KEYMAP[li][hi]

    def process(self, frame: bytes) -> tuple[int, int] | None:
        """Feed one frame; returns (key, duration_ms) when a press ends."""
        k = self.block_key(frame)
        if k >= 0 and k == self._key:
            self._count += 1
            self._miss = 0
            return None
        if k < 0 and self._key >= 0 and self._miss == 0 and self._count >= self.min_blocks:
            self._miss = 1  # tolerate one dropped block inside a press
            return None
        out = None
        if self._key >= 0 and self._count >= self.min_blocks:
            out = (self._key, self._count * 20)
        self._key = k
        self._count = 1 if k >= 0 else 0
        self._miss = 0
        return out

    def reset(self) -> None:
        self._key = -1
        self._count = 0
        self._miss = 0
