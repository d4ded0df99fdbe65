"""Helpers for the daemon media end-to-end tests (test/media/test_e2e.py).

* :func:`write_daemon_config` writes a sems.conf / dsm.conf / xmlrpc2di.conf /
  monitoring.conf set whose main bundle holds the given DSM scripts;
* :func:`uac_scenario` writes a sipp caller scenario whose SDP offers the port
  of an :class:`RtpPeer` (so the test itself is the caller's media);
* :class:`RtpPeer` is the caller's RTP endpoint: it records every packet
  donkey sends and sends paced G.711 frames back (symmetric RTP);
* small signal tools: G.711 round trip, Goertzel power, pcap reading.
"""

from __future__ import annotations

import math
import os
import struct
import time
from array import array

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import DatagramProtocol

from donkey.media._audioop import audioop
from test.sipp import Uac, sdp

FRAME = 320  # bytes of 16-bit PCM per 20 ms

ENCODERS = {0: audioop.lin2ulaw, 8: audioop.lin2alaw}
DECODERS = {0: audioop.ulaw2lin, 8: audioop.alaw2lin}
CODEC_NAMES = {0: "PCMU", 8: "PCMA"}


# ------------------------------------------------------------------ signals
def g711_round_trip(pcm: bytes, pt: int = 0) -> bytes:
    return DECODERS[pt](ENCODERS[pt](pcm, 2), 2)


def frames_of(pcm: bytes) -> list[bytes]:
    """20 ms frames, the last one zero-padded (as the playlist cuts files)."""
    out = [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]
    if out and len(out[-1]) < FRAME:
        out[-1] += bytes(FRAME - len(out[-1]))
    return out


def sine(freqs, ms: int, amp: float = 6000.0, rate: int = 8000, phase: int = 0) -> bytes:
    n = rate * ms // 1000
    w = [2 * math.pi * f / rate for f in freqs]
    return array(
        "h", [int(sum(amp * math.sin(x * (i + phase)) for x in w)) for i in range(n)]
    ).tobytes()


def chirp(ms: int, f0: float, f1: float, amp: float = 6000.0, rate: int = 8000) -> bytes:
    """A sweep: every frame differs, so misplaced or repeated frames show."""
    n = rate * ms // 1000
    k = (f1 - f0) / (n / rate)
    return array(
        "h",
        [
            int(amp * math.sin(2 * math.pi * (f0 * t + 0.5 * k * t * t)))
            for t in (i / rate for i in range(n))
        ],
    ).tobytes()


def power(pcm: bytes, freq: float, rate: int = 8000) -> float:
    """Goertzel power of *freq* in *pcm*, normalised to (amplitude/2)^2."""
    s = array("h", pcm)
    n = len(s)
    if not n:
        return 0.0
    c = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in s:
        s1, s2 = x + c * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * n / 4.0)


def rms(pcm: bytes) -> float:
    return float(audioop.rms(pcm, 2)) if pcm else 0.0


def write_wav(path: str, pcm: bytes, rate: int = 8000) -> None:
    import wave

    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def read_wav(path: str) -> tuple[int, int, int, bytes]:
    """(channels, width, rate, frames) with the stdlib reader."""
    import wave

    with wave.open(path, "rb") as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.readframes(w.getnframes())


def read_pcap_rtp(path: str) -> list[tuple[float, int, bool, int, int, int, bytes]]:
    """RTP packets of an Ethernet/IPv4/UDP pcap: (time, pt, marker, seq, ts, ssrc, payload)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B2C3D4 and link == 1, "only little-endian Ethernet pcaps"
    pos, out = 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, pos)
        pkt = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ihl = (pkt[14] & 15) * 4
        rtp = pkt[14 + ihl + 8 :]
        seq, ts, ssrc = struct.unpack_from("!HII", rtp, 2)
        out.append((sec + usec / 1e6, rtp[1] & 0x7F, bool(rtp[1] & 0x80), seq, ts, ssrc, rtp[12:]))
    return out


# ------------------------------------------------------------------- config
def write_daemon_config(
    base: str,
    scripts: dict[str, str],
    bundle: dict[str, str] | None = None,
    sems: dict[str, str] | None = None,
) -> str:
    """A configuration whose main bundle registers every script in *scripts*.

    Returns the path of sems.conf (pass it as ``Daemon(..., config=...)``);
    SIP, XML-RPC and RTP ports come from the Daemon's command line.
    """
    etc = os.path.join(base, "etc")
    dsm_dir = os.path.join(base, "dsm")
    os.makedirs(etc, exist_ok=True)
    os.makedirs(dsm_dir, exist_ok=True)
    for name, text in scripts.items():
        with open(os.path.join(dsm_dir, name + ".dsm"), "w") as f:
            f.write(text)
    names = ",".join(scripts)
    main = {
        "sip_ip": "127.0.0.1",
        "media_ip": "127.0.0.1",
        "plugin_config_path": "etc",
        "application": "$(ruri.user)",
        "loglevel": "2",
    }
    main.update(sems or {})
    dsm = {
        "diag_path": dsm_dir,
        "load_diags": names,
        "register_apps": names,
        "mod_path": "",
        "run_invite_event": "yes",
        "set_param_variables": "no",
        "monitoring_full_stategraph": "yes",
        "monitoring_full_transitions": "yes",
    }
    dsm.update(bundle or {})
    files = {
        os.path.join(base, "sems.conf"): main,
        os.path.join(etc, "dsm.conf"): dsm,
        os.path.join(etc, "xmlrpc2di.conf"): {
            "server_ip": "127.0.0.1",
            "export_di": "yes",
            "direct_export": "dsm;monitoring",
        },
        os.path.join(etc, "monitoring.conf"): {"gcinterval": "600"},
    }
    for path, values in files.items():
        with open(path, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in values.items()))
    return os.path.join(base, "sems.conf")


# -------------------------------------------------------------------- sipp
def uac_scenario(
    path: str, media_port: int, pts=(0, 101), steps=(), end: str = "bye", wait_bye_ms: int = 20000
) -> str:
    """A sipp caller scenario offering ``media_port`` with payload types *pts*.

    *steps* run after the ACK: ``("pause", ms)``, ``("pcap", file)`` (sipp
    plays that pcap's RTP to donkey).
    *end* is ``"bye"`` (the caller hangs up) or ``"wait_bye"`` (donkey does).
    """
    uac = Uac("donkey media e2e")
    uac.invite(sdp(media_port, pts, "sendrecv", fmtp=True), headers=()).answered()
    for kind, arg in steps:
        if kind == "pause":
            uac.pause(int(arg))
        elif kind == "pcap":
            uac.play_pcap(arg)
        else:
            raise ValueError(kind)
    if end == "bye":
        uac.bye(headers=())
    else:
        uac.wait_bye(wait_bye_ms, headers=["Contact: <sip:sipp@[local_ip]:[local_port]>"])
    return uac.write(path)


# --------------------------------------------------------------------- RTP
class RtpPeer(DatagramProtocol):
    """The caller's RTP socket: records what donkey sends, sends paced frames back."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, int, bool, int, int, int, bytes]] = []
        self.remote: tuple[str, int] | None = None
        self._first: list[defer.Deferred] = []
        self.seq = 1000
        self.ts = 50000
        self.ssrc = 0x1234ABCD
        self.sent = 0
        self.port_obj = None
        self._sender: task.LoopingCall | None = None

    # -- lifecycle
    @classmethod
    def listen(cls, testcase) -> RtpPeer:
        peer = cls()
        peer.port_obj = reactor.listenUDP(0, peer, interface="127.0.0.1")
        testcase.addCleanup(peer.close)
        return peer

    @property
    def port(self) -> int:
        return self.port_obj.getHost().port

    def close(self):
        self.stop_sending()
        if self.port_obj is not None:
            p, self.port_obj = self.port_obj, None
            return p.stopListening()

    # -- receiving
    def datagramReceived(self, data: bytes, addr) -> None:  # type: ignore[override]
        if len(data) < 12:
            return
        seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
        self.packets.append(
            (time.monotonic(), data[1] & 0x7F, bool(data[1] & 0x80), seq, ts, ssrc, data[12:])
        )
        if self.remote is None:
            self.remote = addr
            waiters, self._first = self._first, []
            for d in waiters:
                d.callback(addr)

    def first_packet(self, timeout: float = 10.0) -> defer.Deferred:
        """Fires with donkey's RTP address once its first packet arrived."""
        if self.remote is not None:
            return defer.succeed(self.remote)
        d = defer.Deferred()
        self._first.append(d)
        return d.addTimeout(timeout, reactor)

    def audio(self, pt: int | None = None) -> list[tuple[float, int, bool, int, int, int, bytes]]:
        return [p for p in self.packets if pt is None or p[1] == pt]

    def decoded(self, pt: int) -> list[bytes]:
        dec = DECODERS[pt]
        return [dec(p[6], 2) for p in self.packets if p[1] == pt]

    # -- sending
    def send_packet(
        self,
        pt: int,
        payload: bytes,
        marker: bool = False,
        ts: int | None = None,
        advance: int = 160,
    ) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        stamp = self.ts if ts is None else ts
        hdr = struct.pack(
            "!BBHII", 0x80, pt | (0x80 if marker else 0), self.seq, stamp & 0xFFFFFFFF, self.ssrc
        )
        self.transport.write(hdr + payload, self.remote)
        if ts is None:
            self.ts = (self.ts + advance) & 0xFFFFFFFF
        self.sent += 1

    def send_frames(
        self, frames, pt: int = 0, loop: bool = False, ptime: int = 20
    ) -> defer.Deferred:
        """Send 20 ms PCM frames G.711-encoded, paced by the wall clock.

        With ``ptime=30`` (or 40, ...) the audio is re-cut into packets of
        that length.  Fires when all were sent (never, with *loop*, until
        stop_sending()).
        """
        assert self.remote is not None, "no address to send to yet"
        enc = ENCODERS[pt]
        pcm = b"".join(frames)
        size = ptime * 16
        payloads = [enc(pcm[i : i + size], 2) for i in range(0, len(pcm), size)]
        advance = ptime * 8
        state = {"i": 0}

        def tick(count: int) -> None:
            for _ in range(count):  # catch up after a late wake-up: keep real time
                i = state["i"]
                if i >= len(payloads):
                    if not loop:
                        self.stop_sending()
                        return
                    i = 0
                self.send_packet(pt, payloads[i], marker=(self.sent == 0), advance=advance)
                state["i"] = i + 1

        self.stop_sending()
        self._sender = task.LoopingCall.withCount(tick)
        return self._sender.start(ptime / 1000.0, now=True)

    def stop_sending(self) -> None:
        s, self._sender = self._sender, None
        if s is not None and s.running:
            s.stop()


def heard_until(peers, t: float):
    """A :func:`test.util.wait_until` predicate: every peer got a packet sent at or after *t*."""
    return lambda: all(p.packets and p.packets[-1][0] >= t for p in peers)
