"""Test helpers: synthesised audio, WAV writers, fake-wired sessions."""

from __future__ import annotations

import math
import struct
import wave
from array import array

from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport

from donkey.media.clock import MediaClock
from donkey.media.rtp import RtpEndpoint
from donkey.media.session import MediaSession
from donkey.media.wav import WavCache


def tone(freqs, ms: int, rate: int = 8000, amp: float = 8000.0, start: int = 0) -> bytes:
    """16-bit mono PCM: sum of sines at *freqs*, each of amplitude *amp*."""
    n = rate * ms // 1000
    w = [2 * math.pi * f / rate for f in freqs]
    return array(
        "h", [int(sum(amp * math.sin(x * (i + start)) for x in w)) for i in range(n)]
    ).tobytes()


def samples(pcm: bytes) -> array:
    return array("h", pcm)


def rms(pcm: bytes) -> float:
    s = samples(pcm)
    return math.sqrt(sum(x * x for x in s) / max(1, len(s)))


def dominant_freq(pcm: bytes, rate: int = 8000) -> float:
    """Frequency estimate from zero crossings (good enough for one tone)."""
    s = samples(pcm)
    crossings = sum(1 for a, b in zip(s, s[1:]) if (a < 0) != (b < 0))
    return crossings * rate / (2.0 * len(s))


def write_pcm_wav(
    path: str, pcm_by_channel: list[bytes] | bytes, rate: int, sampwidth: int = 2
) -> None:
    """Write with the stdlib ``wave`` module; channels are interleaved here."""
    chans = [pcm_by_channel] if isinstance(pcm_by_channel, bytes) else pcm_by_channel
    if len(chans) == 1:
        data = chans[0]
    else:
        cols = [array("h", c) for c in chans]
        inter = array("h")
        for frame in zip(*cols):
            inter.extend(frame)
        data = inter.tobytes()
    if sampwidth == 1:
        from donkey.media._audioop import audioop

        data = audioop.bias(audioop.lin2lin(data, 2, 1), 1, 128)
    with wave.open(path, "wb") as w:
        w.setnchannels(len(chans))
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(data)


def write_g711_wav(path: str, payload: bytes, rate: int, fmt_tag: int, channels: int = 1) -> None:
    """``wave`` cannot write A-law/µ-law, so build the RIFF header by hand."""
    fmt = struct.pack("<HHIIHHH", fmt_tag, channels, rate, rate * channels, channels, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(payload) // channels)
    body += (
        b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
    )
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


class FakeCall:
    """A MediaSession on a fake UDP transport, with a fake clock."""

    def __init__(self, clock: MediaClock, port: int, wav_cache: WavCache | None = None) -> None:
        self.ep = RtpEndpoint()
        self.ep.local_port = port
        self.transport = FakeDatagramTransport()
        self.ep.makeConnection(self.transport)
        self.session = MediaSession(
            clock, endpoint=self.ep, local_ip="127.0.0.1", wav_cache=wav_cache
        )
        self.addr = ("127.0.0.1", port)

        self.delivered = 0

    def take_sent(self) -> list[tuple[bytes, tuple]]:
        """Packets sent since the last call (the transport keeps them all)."""
        out = self.transport.written[self.delivered :]
        self.delivered = len(self.transport.written)
        return out

    def all_sent(self) -> list[tuple[bytes, tuple]]:
        return self.transport.written[:]


class FakeNet:
    """Two fake calls negotiated with each other; ``step()`` = one tick + delivery."""

    def __init__(self, wav_cache: WavCache | None = None) -> None:
        self.time = Clock()
        self.clock = MediaClock(self.time)
        self.a = FakeCall(self.clock, 40000, wav_cache)
        self.b = FakeCall(self.clock, 40002, wav_cache)
        answer = self.b.session.answer(self.a.session.offer())
        self.a.session.apply_answer(answer)

    def deliver(self) -> None:
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            for pkt, addr in src.take_sent():
                if addr == dst.addr:
                    dst.ep.datagramReceived(pkt, src.addr)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.time.advance(0.02)
            self.deliver()

    def start(self) -> None:
        self.a.session.connect()
        self.b.session.connect()
        self.time.advance(0)  # first tick runs at t=0
        self.deliver()
