"""Media end to end through the daemon: ``twistd donkeysm``, sipp as the caller's
SIP, and the test itself as the caller's RTP (:class:`RtpPeer`).

Each test writes a small DSM bundle, starts the daemon on it, places calls
with sipp whose SDP offers the test's own UDP port, and checks what the caller
hears (decoded RTP) and what the script saw (attributes it wrote to the
monitoring store, read over XML-RPC).
"""

from __future__ import annotations

import os
import struct
import time

from twisted.internet import defer
from twisted.trial import unittest

from test.daemon import Daemon, free_rtp_range, sipp_available, wait_for
from test.media.e2e_helpers import (
    DECODERS,
    RtpPeer,
    chirp,
    frames_of,
    g711_round_trip,
    heard_until,
    power,
    read_pcap_rtp,
    read_wav,
    rms,
    sine,
    uac_scenario,
    write_daemon_config,
    write_wav,
)
from test.sip.helpers import Sipp, free_udp_port, scenario
from test.sipp import Uac, sdp
from test.util import pause, wait_until

SIPP_PCAPS = "/usr/share/sip-tester"


def error_tail(states: str) -> str:
    """Every test script ends the same way: any exception is reported to the test
    through monitoring (``errors``) and the call is ended."""
    return (
        f'transition "error" ({states}) - exception / {{\n'
        "  monitoring.add(errors, #type);\n  monitoring.add(errors, #path);\n"
        "  monitoring.add(errors, #text);\n  monitoring.add(errors, #cause);\n"
        "  stop(true);\n} -> END;\nstate END;\n"
    )


PLAY = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / {
  playFile($config.wav_a);
  playFile($config.wav_b);
} -> PLAYING;
state PLAYING;
transition "file done" PLAYING - noAudio / {
  monitoring.add(events, noAudio);
  stop(true);
} -> END;
transition "bye" (START, PLAYING) - hangup / stop(false) -> END;
""" + error_tail("START, PLAYING")

# noAudio after one file: the script answers it with a second file, whose
# start therefore shows (to the caller) when the event came.
NOAUDIO = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / playFile($config.wav_a) -> FIRST;
state FIRST;
transition "first done" FIRST - noAudio / {
  monitoring.add(events, noAudio1);
  playFile($config.wav_b);
} -> SECOND;
state SECOND;
transition "second done" SECOND - noAudio / {
  monitoring.add(events, noAudio2);
  stop(true);
} -> END;
transition "bye" (START, FIRST, SECOND) - hangup / stop(false) -> END;
""" + error_tail("START, FIRST, SECOND")

KEYS = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / monitoring.set(ready, yes) -> LISTEN;
state LISTEN;
transition "key" LISTEN - key / {
  monitoring.add(keys, #key);
  monitoring.add(durations, #duration);
} -> LISTEN;
transition "bye" (START, LISTEN) - hangup / stop(false) -> END;
""" + error_tail("START, LISTEN")

RECORD = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / recordFile($config.rec_path) -> REC;
state REC;
transition "hash: done" REC - keyPress(11) / {
  stopRecord();
  getRecordLength(len);
  monitoring.set(record_length, $len);
  stop(true);
} -> END;
transition "bye" (START, REC) - hangup / stop(false) -> END;
""" + error_tail("START, REC")

CONF = """
import(mod_conference);
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / {
  conference.join($config.room);
  monitoring.set(joined, yes);
} -> IN;
state IN;
transition "bye" (START, IN) - hangup / {
  conference.leave();
  stop(false);
} -> END;
""" + error_tail("START, IN")

RTPTIMEOUT = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / monitorRTPTimeout(true) -> WAIT;
state WAIT;
transition "rtp timeout" WAIT - rtpTimeout / {
  monitoring.add(events, rtpTimeout);
  monitoring.set(timeout_value, #timeout_value);
  monitoring.set(type, #type);
} -> END;
transition "bye" (START, WAIT) - hangup / stop(false) -> END;
""" + error_tail("START, WAIT")

HOLD = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / playFile($config.wav_a, true) -> TALK;
state TALK;
transition "bye" (START, TALK) - hangup / stop(false) -> END;
""" + error_tail("START, TALK")

SCRIPTS = {
    "play": PLAY,
    "noaudio": NOAUDIO,
    "keys": KEYS,
    "record": RECORD,
    "conf": CONF,
    "rtpto": RTPTIMEOUT,
    "hold": HOLD,
}

# Test audio: every frame different (sweeps), so a lost, repeated or shifted
# frame shows.  A is 310 ms (the playlist pads its last frame), B 400 ms.
PCM_A = chirp(310, 300.0, 1500.0)
PCM_B = chirp(400, 2500.0, 600.0, amp=4000.0)

DTMF = {
    "0": (941, 1336),
    "1": (697, 1209),
    "5": (770, 1336),
    "9": (852, 1477),
    "*": (941, 1209),
    "#": (941, 1477),
}


def heard(pcm: bytes, pt: int = 0) -> list[bytes]:
    """The frames a caller decodes when *pcm* is sent as G.711 *pt*."""
    return [g711_round_trip(f, pt) for f in frames_of(pcm)]


def _index_of(frames: list[bytes], frame: bytes) -> int:
    try:
        return frames.index(frame)
    except ValueError:
        return -1


class MediaE2E(unittest.TestCase):
    timeout = 60

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.files = os.path.abspath(self.mktemp())
        os.makedirs(self.files)
        self.wav_a = os.path.join(self.files, "a.wav")
        self.wav_b = os.path.join(self.files, "b.wav")
        write_wav(self.wav_a, PCM_A)
        write_wav(self.wav_b, PCM_B)
        self.rec_path = os.path.join(self.files, "rec.wav")

    async def start_daemon(self, sems=None, extra_args=()):
        cfg = write_daemon_config(
            os.path.join(self.files, "conf"),
            SCRIPTS,
            bundle={
                "wav_a": self.wav_a,
                "wav_b": self.wav_b,
                "rec_path": self.rec_path,
                "room": "room1",
            },
            sems=sems,
        )
        self.daemon = Daemon(self, config=cfg, extra_args=list(extra_args))
        await self.daemon.ready()
        return self.daemon

    def call(
        self,
        app: str,
        peer: RtpPeer | None = None,
        pts=(0, 101),
        steps=(),
        end: str = "bye",
        scen: str | None = None,
        timeout: float = 30.0,
        wait_bye_ms: int = 20000,
    ) -> Sipp:
        """One sipp caller to *app*; its SDP names *peer*'s port."""
        if scen is None:
            scen = uac_scenario(
                os.path.join(self.files, f"{app}-{free_udp_port()}.xml"),
                peer.port if peer else 9,
                pts,
                steps,
                end,
                wait_bye_ms,
            )
        media_port = (free_udp_port() // 2) * 2
        args = [
            "-sf",
            scen,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_port()),
            "-mp",
            str(media_port),
            "-s",
            app,
            f"127.0.0.1:{self.daemon.sip_port}",
        ]
        s = Sipp(args, self.mktemp(), timeout)
        self.addCleanup(s.stop)
        return s

    async def finished(self, sipp: Sipp) -> None:
        code, out, err = await sipp.result()
        self.assertEqual(
            code, 0, f"sipp failed: {out[-2000:]}{err[-2000:]}\n" + self.daemon.output()[-3000:]
        )

    async def attributes(self) -> dict:
        """Monitoring attributes of the (only) call."""
        ids = await self.daemon.call_xmlrpc("list")
        self.assertEqual(len(ids), 1, ids)
        (props,) = await self.daemon.call_xmlrpc("get", ids[0])
        # monitoring.add lists start with SEMS's 0
        out = {k: (v[1:] if isinstance(v, list) and v[:1] == [0] else v) for k, v in props.items()}
        self.assertNotIn("errors", out, out)
        return out

    async def no_calls_left(self) -> None:
        async def none_left():
            return await self.daemon.call_xmlrpc("calls") == 0

        await wait_for(none_left, what="all calls gone")
        self.assertNotIn("Traceback", self.daemon.output())

    # 1 + 6 ------------------------------------------------------------------
    async def _check_playback(self, pt: int):
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("play", peer, pts=(pt, 101), end="wait_bye")
        await self.finished(sipp)
        props = await self.attributes()
        self.assertEqual(props.get("events"), ["noAudio"])

        audio = peer.audio(pt)
        self.assertEqual([p for p in peer.packets if p[1] != pt], [])
        # The caller hears A then B, exactly (after the G.711 round trip), no gap.
        expected = heard(PCM_A, pt) + heard(PCM_B, pt)
        got = [DECODERS[pt](p[6], 2) for p in audio]
        start = _index_of(got, expected[0])
        self.assertGreaterEqual(start, 0, "the first frame of a.wav never arrived")
        self.assertEqual(len(got[start : start + len(expected)]), len(expected))
        for i, (g, e) in enumerate(zip(got[start:], expected)):
            self.assertEqual(g, e, f"frame {i} of the playlist differs")
        # Before the file and after noAudio: silence only (nothing else leaks in).
        for g in got[:start] + got[start + len(expected) :]:
            self.assertLess(rms(g), 10)
        # One RTP stream: seq +1 and timestamp +160 per packet, one marker.
        for prev, cur in zip(audio, audio[1:]):
            self.assertEqual(cur[3], (prev[3] + 1) & 0xFFFF)
            self.assertEqual(cur[4], (prev[4] + 160) & 0xFFFFFFFF)
            self.assertEqual(cur[5], prev[5])
        self.assertEqual([p[2] for p in audio].count(True), 1)
        self.assertTrue(audio[0][2])
        # Real-time pacing: 20 ms a frame (loosely, the box may be busy).
        span = audio[-1][0] - audio[0][0]
        self.assertLess(abs(span - 0.02 * (len(audio) - 1)), 0.25)
        await self.no_calls_left()

    async def test_play_two_files_pcmu(self):
        """1. playFile audio arrives exactly, PCMU, continuous across items."""
        await self._check_playback(0)

    async def test_play_two_files_pcma(self):
        """1. The same with PCMA."""
        await self._check_playback(8)

    async def test_no_audio_follows_end_of_file(self):
        """6. noAudio comes right after the last frame of the file, not before."""
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("noaudio", peer, pts=(0,), end="wait_bye")
        await self.finished(sipp)
        props = await self.attributes()
        self.assertEqual(props.get("events"), ["noAudio1", "noAudio2"])
        got = peer.decoded(0)
        fa = heard(PCM_A)
        fb = heard(PCM_B)
        a0 = _index_of(got, fa[0])
        b0 = _index_of(got, fb[0])
        self.assertGreaterEqual(a0, 0)
        self.assertEqual(got[a0 : a0 + len(fa)], fa)  # all of A was heard before noAudio
        self.assertEqual(got[b0 : b0 + len(fb)], fb)  # B, queued by the noAudio handler
        gap = b0 - (a0 + len(fa))
        # The gap is the event's round trip through the session: a few frames.
        self.assertGreaterEqual(gap, 0)
        self.assertLessEqual(gap, 5, f"noAudio came {gap * 20} ms after the file ended")
        await self.no_calls_left()

    # 2 ----------------------------------------------------------------------
    async def test_rfc4733_keys_from_sipp(self):
        """2. sipp's RFC 4733 pcaps give one key event each, despite 3 end packets."""
        if not os.path.exists(os.path.join(SIPP_PCAPS, "dtmf_2833_1.pcap")):
            raise unittest.SkipTest(f"sipp's DTMF pcaps are not in {SIPP_PCAPS}")
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        pcaps = ["dtmf_2833_1.pcap", "dtmf_2833_pound.pcap", "dtmf_2833_9.pcap"]
        steps = [("pause", 300)]
        for name in pcaps:
            steps += [("pcap", os.path.join(SIPP_PCAPS, name)), ("pause", 600)]
        sipp = self.call("keys", peer, pts=(0, 101), steps=steps)
        await self.finished(sipp)
        props = await self.attributes()
        self.assertEqual(props.get("keys"), ["1", "11", "9"])
        # Each pcap's event lasts 0x08c0 = 2240 samples = 280 ms.
        self.assertEqual(props.get("durations"), ["280", "280", "280"])
        for name in pcaps:  # (the pcaps do repeat their end packet three times)
            ends = [p for p in read_pcap_rtp(os.path.join(SIPP_PCAPS, name)) if p[6][1] & 0x80]
            self.assertEqual(len(ends), 3)
        await self.no_calls_left()

    async def test_rfc4733_keys_end_packets_with_own_sequence_numbers(self):
        """2. End packets repeated with new sequence numbers still make one key each."""
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("keys", peer, pts=(0, 101), steps=[("pause", 1500)])
        await peer.first_packet()
        await self._send_event(peer, 7, ms=100)
        await pause(0.1)  # the gap a phone leaves between two keys
        await self._send_event(peer, 11, ms=160)
        await self.finished(sipp)
        props = await self.attributes()
        self.assertEqual(props.get("keys"), ["7", "11"])
        self.assertEqual(props.get("durations"), ["100", "160"])
        await self.no_calls_left()

    # 3 ----------------------------------------------------------------------
    async def test_inband_dtmf(self):
        """3. DTMF tones inside PCMU audio (no telephone-event offered) are keys."""
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("keys", peer, pts=(0,), steps=[("pause", 3000)])
        await peer.first_packet()
        silence = bytes(320 * 5)
        pcm = silence
        for key in "5", "9", "*", "0", "#":
            pcm += sine(DTMF[key], 100, amp=5000.0) + silence
        await peer.send_frames(frames_of(pcm), pt=0)
        await self.finished(sipp)
        props = await self.attributes()
        self.assertEqual(props.get("keys"), ["5", "9", "10", "0", "11"])
        for d in props.get("durations"):
            self.assertIn(int(d), range(80, 121))
        await self.no_calls_left()

    # 4 ----------------------------------------------------------------------
    async def test_record_file_holds_what_the_caller_sent(self):
        """4. recordFile writes exactly the audio the caller sent (after G.711)."""
        await self._check_recording(8, 20)

    async def test_record_file_ptime_30(self):
        """4. The same for a caller sending 30 ms packets (re-cut into 20 ms frames)."""
        await self._check_recording(0, 30)

    async def _check_recording(self, pt: int, ptime: int):
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("record", peer, pts=(pt, 101), end="wait_bye")
        await peer.first_packet()
        speech = chirp(1200, 200.0, 3000.0, amp=7000.0)
        await peer.send_frames(frames_of(speech), pt=pt, ptime=ptime)
        # '#' as RFC 4733 ends the recording: the script hangs up.
        await self._send_event(peer, 11)
        await self.finished(sipp)
        props = await self.attributes()
        channels, width, rate, data = read_wav(self.rec_path)
        self.assertEqual((channels, width, rate), (1, 2, 8000))
        rec = frames_of(data)
        self.assertEqual(int(props["record_length"]), 20 * len(rec))
        expected = heard(speech, pt)
        start = _index_of(rec, expected[0])
        self.assertGreaterEqual(start, 0, "the first frame sent is not in the recording")
        self.assertEqual(len(rec[start : start + len(expected)]), len(expected))
        for i, (r, e) in enumerate(zip(rec[start:], expected)):
            self.assertEqual(r, e, f"recorded frame {i} differs from the one sent")
        for r in rec[:start]:
            self.assertEqual(r, bytes(320))
        await self.no_calls_left()

    async def _send_event(self, peer: RtpPeer, key: int, ms: int = 100) -> None:
        ts = peer.ts
        dur = 0
        for i in range(ms // 20):
            dur += 160
            peer.send_packet(101, struct.pack("!BBH", key, 10, dur), marker=(i == 0), ts=ts)
            await pause(0.02)  # one packet per 20 ms, as a phone sends them
        for _ in range(3):
            peer.send_packet(101, struct.pack("!BBH", key, 0x80 | 10, dur), ts=ts)
        peer.ts = (ts + dur) & 0xFFFFFFFF

    # 5 ----------------------------------------------------------------------
    async def test_conference_legs_hear_each_other_not_themselves(self):
        """5. Two calls in conference.join(room) hear the other's tone, not their own."""
        await self.start_daemon()
        a, b = RtpPeer.listen(self), RtpPeer.listen(self)
        fa, fb = 600.0, 1400.0
        sipp_a = self.call("conf", a, pts=(0, 101), steps=[("pause", 4000)])
        await a.first_packet()
        a.send_frames(frames_of(sine([fa], 1000)), pt=0, loop=True)
        t_alone = time.monotonic()
        await wait_for(heard_until([a], t_alone + 0.6), what="0.6 s of A alone in the room")
        alone_until = time.monotonic()
        sipp_b = self.call("conf", b, pts=(0, 101), steps=[("pause", 2500)])
        await b.first_packet()
        b.send_frames(frames_of(sine([fb], 1000)), pt=0, loop=True)
        both = time.monotonic()
        await wait_for(heard_until([a, b], both + 1.5), what="1.5 s of A and B together")
        a.stop_sending()
        b.stop_sending()
        await self.finished(sipp_b)
        await self.finished(sipp_a)

        def window(peer, t0, t1):
            return b"".join(DECODERS[0](p[6], 2) for p in peer.packets if t0 <= p[0] < t1)

        alone = window(a, alone_until - 0.4, alone_until)
        self.assertGreater(len(alone), 320 * 10)
        self.assertLess(rms(alone), 10, "alone in the room, A hears something")
        hear_a = window(a, both + 0.4, both + 1.4)
        hear_b = window(b, both + 0.4, both + 1.4)
        self.assertGreater(len(hear_a), 320 * 30)
        self.assertGreater(len(hear_b), 320 * 30)
        amp2 = (6000.0 / 2) ** 2  # power of the other's tone at full level
        self.assertGreater(power(hear_a, fb), 0.5 * amp2)
        self.assertGreater(power(hear_b, fa), 0.5 * amp2)
        self.assertLess(power(hear_a, fa), 1e-3 * amp2, "A hears itself")
        self.assertLess(power(hear_b, fb), 1e-3 * amp2, "B hears itself")
        await self.no_calls_left()

    # 7 ----------------------------------------------------------------------
    async def test_rtp_timeout_when_caller_stops_sending(self):
        """7. monitorRTPTimeout(true): rtpTimeout once the caller's RTP stops."""
        await self.start_daemon(sems={"dead_rtp_time": "1"})
        peer = RtpPeer.listen(self)
        sipp = self.call("rtpto", peer, pts=(0, 101), end="wait_bye", wait_bye_ms=8000)
        await peer.first_packet()
        await peer.send_frames(frames_of(sine([800], 1500)), pt=0)
        stopped = time.monotonic()
        await self.finished(sipp)
        waited = time.monotonic() - stopped
        props = await self.attributes()
        # the script did not set #processed=true: donkey ended the call (BYE) itself
        self.assertEqual(props.get("events"), ["rtpTimeout"])
        self.assertEqual((props.get("type"), props.get("timeout_value")), ("rtp_timeout", "1"))
        self.assertGreater(waited, 0.9)  # not while RTP was still flowing
        self.assertLess(waited, 3.0)
        await self.no_calls_left()

    async def test_vanished_caller_is_hung_up_and_its_recording_ends(self):
        """Finding 7: a recorded caller who stops sending without BYE gets a BYE after dead_rtp_time; the file stops growing."""
        await self.start_daemon(sems={"dead_rtp_time": "1"})
        peer = RtpPeer.listen(self)
        sipp = self.call("record", peer, pts=(0, 101), end="wait_bye", wait_bye_ms=8000)
        await peer.first_packet()
        await peer.send_frames(frames_of(sine([800], 1000)), pt=0)
        await self.finished(sipp)  # sipp got the BYE (and answered it)
        props = await self.attributes()
        self.assertEqual(props.get("end_reason"), "rtp_timeout")
        size = os.path.getsize(self.rec_path)
        channels, width, rate, data = read_wav(self.rec_path)
        self.assertEqual(len(data), size - 44)  # closed: the header is final
        self.assertLess(len(data), 16000 * 4)  # 1 s talked, ~1 s of silence, not forever
        await pause(1.0)
        self.assertEqual(os.path.getsize(self.rec_path), size)
        await self.no_calls_left()

    async def test_recording_survives_kill_9(self):
        """A daemon killed with SIGKILL mid-recording leaves a valid WAV short of at most a second."""
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        sipp = self.call("record", peer, pts=(0, 101), end="wait_bye", wait_bye_ms=20000)
        await peer.first_packet()
        sending = peer.send_frames(frames_of(sine([800], 6000)), pt=0)
        sending.addErrback(lambda failure: failure.trap(defer.CancelledError))
        self.addCleanup(sending.cancel)

        def recorded() -> bool:
            return os.path.exists(self.rec_path) and os.path.getsize(self.rec_path) > 44 + 16000 * 3

        await wait_until(recorded, 15.0, "3 s recorded")
        self.daemon.process.kill()
        self.daemon.process.wait(10)
        sipp.stop()
        with open(self.rec_path, "rb") as f:
            raw = f.read()
        riff, wave_id, data_id = raw[0:4], raw[8:12], raw[36:40]
        riff_size, data_size = (
            struct.unpack_from("<I", raw, 4)[0],
            struct.unpack_from("<I", raw, 40)[0],
        )
        self.assertEqual((riff, wave_id, data_id), (b"RIFF", b"WAVE", b"data"))
        self.assertEqual(riff_size, 36 + data_size)
        on_disk = len(raw) - 44
        self.assertLessEqual(data_size, on_disk)  # the header never claims more than is there
        self.assertLessEqual(on_disk - data_size, 16000)  # at most one second not in the header
        self.assertGreaterEqual(data_size, 16000 * 2)
        channels, width, rate, data = read_wav(self.rec_path)
        self.assertEqual((channels, width, rate, len(data)), (1, 2, 8000, data_size))

    # 8 ----------------------------------------------------------------------
    async def test_port_exhaustion_gives_503_and_daemon_goes_on(self):
        """8. One RTP port pair: a second call gets 503, later calls work again."""
        low, _ = free_rtp_range(2)
        await self.start_daemon(extra_args=["--rtp-ports", f"{low}-{low + 1}"])
        first = RtpPeer.listen(self)
        sipp1 = self.call("hold", first, pts=(0, 101), steps=[("pause", 1500)])
        await first.first_packet()
        self.assertEqual(first.remote, ("127.0.0.1", low))
        refused = self.call("hold", scen=scenario("uac_expect_503.xml", self.files))
        await self.finished(refused)
        n_before = len(first.packets)
        await self.finished(sipp1)
        self.assertGreater(len(first.packets), n_before)  # call 1 played on meanwhile
        third = RtpPeer.listen(self)
        sipp3 = self.call("hold", third, pts=(0, 101), steps=[("pause", 500)])
        await third.first_packet()
        await self.finished(sipp3)
        self.assertEqual(third.remote, ("127.0.0.1", low))
        self.assertGreater(len(third.audio(0)), 10)
        await self.no_calls_left()

    # SDP without a common codec --------------------------------------------
    async def test_offer_without_common_codec_gets_488(self):
        """An offer with only G.729 is refused with 488; its RTP port is freed."""
        low, _ = free_rtp_range(2)
        await self.start_daemon(extra_args=["--rtp-ports", f"{low}-{low + 1}"])
        g729_only = Uac("uac offers G.729 only, expects 488").invite(sdp(pts=(18,))).rejected(488)
        await self.finished(self.call("hold", scen=scenario(g729_only, self.files)))
        # the only port pair is free again: a normal call gets media
        peer = RtpPeer.listen(self)
        sipp = self.call("hold", peer, pts=(0, 101), steps=[("pause", 300)])
        await peer.first_packet()
        await self.finished(sipp)
        await self.no_calls_left()
