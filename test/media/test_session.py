import os
import wave

from twisted.trial import unittest

from donkey.media.codecs import by_name
from donkey.media.dtmf import build_event
from donkey.media.rtp import RtpPacket
from donkey.media.sources import PcmSource
from donkey.media.wav import MediaFileError, WavCache
from test.media.helpers import FakeNet, rms, tone, write_pcm_wav
from test.media.test_dtmf import key_tone


class Recording:
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append(frame)


class SessionSendTests(unittest.TestCase):
    def setUp(self):
        self.net = FakeNet()
        self.a, self.b = self.net.a, self.net.b
        self.events = []
        s = self.a.session
        s.on_no_audio = lambda: self.events.append("noAudio")
        s.on_separator = lambda i: self.events.append(("sep", i))
        s.on_dtmf = lambda k, ms: self.events.append(("key", k, ms))

    def sent(self):
        """Everything a has sent so far (delivered or not)."""
        return [RtpPacket.parse(p) for p, _ in self.a.all_sent()]

    def test_playlist_audio_is_sent_continuous_across_items(self):
        """Files, separators, silence and sources go out as one RTP stream: one SSRC, no gaps in sequence or time."""
        d = self.mktemp()
        os.makedirs(d)
        p = os.path.join(d, "x.wav")
        pcm = tone([600], 100, 16000)
        write_pcm_wav(p, pcm, 16000)
        s = self.a.session
        s.play_file(p)
        s.add_separator(3)
        s.play_silence(40)
        s.play_source(PcmSource(tone([900], 60)))
        s.connect()
        self.net.time.advance(0)
        for _ in range(14):
            self.net.time.advance(0.02)
        pkts = self.sent()
        self.assertEqual(len(pkts), 15)
        self.assertEqual(len({p.ssrc for p in pkts}), 1)
        for prev, cur in zip(pkts, pkts[1:]):
            self.assertEqual(cur.sequence, (prev.sequence + 1) & 0xFFFF)
            self.assertEqual(cur.timestamp, (prev.timestamp + 160) & 0xFFFFFFFF)
        self.assertEqual([p.marker for p in pkts[:2]], [True, False])
        pcmu = by_name("PCMU")
        audio = [pcmu.decode(p.payload) for p in pkts]
        self.assertGreater(rms(audio[0]), 3000)
        self.assertEqual(audio[5:7], [bytes(320)] * 2)  # the silence item
        self.assertGreater(rms(audio[7]), 3000)
        self.assertEqual(audio[10:], [bytes(320)] * 5)  # list empty: silence keeps flowing
        self.assertEqual(self.events, [("sep", 3), "noAudio"])

    def test_missing_file_raises_media_file_error(self):
        """Playing a missing file is a MediaFileError carrying its path."""
        e = self.assertRaises(MediaFileError, self.a.session.play_file, "/no/such.wav")
        self.assertEqual(e.path, "/no/such.wav")

    def test_mute_stops_packets_but_time_runs(self):
        """While muted no packets go out, and after unmute the RTP timestamp has moved on with time."""
        s = self.a.session
        s.connect()
        self.net.time.advance(0)
        s.mute()
        self.net.step(5)
        s.unmute()
        self.net.step(1)
        pkts = self.sent()
        self.assertEqual(len(pkts), 2)
        self.assertEqual(pkts[1].timestamp - pkts[0].timestamp, 6 * 160)
        self.assertEqual(pkts[1].sequence - pkts[0].sequence, 1)

    def test_held_by_peer_sends_nothing(self):
        """While the peer holds us (sendonly) we send nothing; after resume we send to its address."""
        s = self.a.session
        s.answer(self.b.session.offer("sendonly"))
        s.connect()
        self.net.step(5)
        self.assertEqual(self.sent(), [])
        s.answer(self.b.session.offer("sendrecv"))  # resumed
        self.net.step(2)
        self.assertEqual(len(self.sent()), 2)
        self.assertEqual(self.a.all_sent()[0][1], self.b.addr)

    def test_send_dtmf_reaches_peer_once_per_key(self):
        """send_dtmf_sequence delivers each key once to the peer; an invalid key character is refused."""
        got = []
        self.b.session.on_dtmf = lambda k, ms: got.append((k, ms))
        self.net.start()
        self.a.session.send_dtmf_sequence("1#", 100)
        self.net.step(40)
        self.assertEqual(got, [(1, 100), (11, 100)])
        self.assertRaises(ValueError, self.a.session.send_dtmf_sequence, "12x")

    def test_rfc4733_receive_and_detection_switch(self):
        """RFC 4733 keys are reported only while DTMF detection is on."""
        s = self.a.session
        s.connect()
        self.net.time.advance(0)

        def press(ts, key):
            for d in (160, 320, 480):
                s.rtp.datagramReceived(
                    RtpPacket(101, ts // 160, ts, 9, build_event(key, False, d)).build(),
                    self.b.addr,
                )
            for i in range(3):
                s.rtp.datagramReceived(
                    RtpPacket(101, ts // 160 + 3 + i, ts, 9, build_event(key, True, 640)).build(),
                    self.b.addr,
                )
            self.net.step(1)

        press(1600, 7)
        s.disable_dtmf_detection()
        press(16000, 8)
        s.enable_dtmf_detection()
        s.disable_receiving()
        press(32000, 9)  # not processed while receiving is off
        s.enable_force_dtmf_receiving()
        press(48000, 4)  # ... unless forced
        self.assertEqual(self.events, [("key", 7, 80), ("key", 4, 80)])

    def test_inband_detection_only_without_rfc4733(self):
        # a and b negotiated telephone-event: in-band tones are not reported.
        """In-band tones are keys only when telephone-event was not negotiated."""
        a, b = self.a.session, self.b.session
        b.play_source(PcmSource(key_tone("3", 120)))
        self.net.start()
        self.net.step(12)
        self.assertEqual(self.events, [])
        # Renegotiate without telephone-event: now the tone is detected.
        offer = a.offer().replace(" 101\r\n", "\r\n")
        b.apply_answer(a.answer(offer))
        b.play_source(PcmSource(key_tone("#", 120)))
        self.net.step(12)
        self.assertEqual(self.events, [("key", 11, 120)])

    def test_send_dtmf_inband_without_rfc4733(self):
        """Without telephone-event our DTMF goes in-band and the peer still detects the key."""
        a, b = self.a.session, self.b.session
        offer = a.offer().replace(" 101\r\n", "\r\n")
        b.apply_answer(a.answer(offer))
        got = []
        b.on_dtmf = lambda k, ms: got.append((k, ms))
        self.net.start()
        a.send_dtmf(2, 100)
        self.net.step(15)
        self.assertEqual(got, [(2, 100)])

    def test_output_receives_decoded_audio(self):
        """The output sink gets the peer's audio decoded, frame by frame, then silence."""
        sink = Recording()
        self.a.session.set_output(sink)
        self.b.session.play_source(PcmSource(tone([500], 100)))
        self.net.start()
        self.net.step(6)
        pcmu = by_name("PCMU")
        expect = pcmu.decode(pcmu.encode(tone([500], 100)))
        # b's 5 frames arrive one tick later, then b's empty playlist sends silence.
        self.assertEqual(len(sink.frames), 6)
        self.assertEqual(b"".join(sink.frames[:5]), expect)
        self.assertEqual(sink.frames[5], bytes(320))

    def test_30ms_packets_play_out_without_gaps(self):
        # A peer sending 30 ms packets gives 1.5 frames at a time: playout
        # waits for 2 frames, or every third tick would find nothing and
        # record (or feed the conference) 20 ms of silence.
        """A peer's 30 ms packets are recorded as seamless 20 ms frames, no silent gaps."""
        d = self.mktemp()
        os.makedirs(d)
        path = os.path.join(d, "rec.wav")
        s = self.a.session
        s.record_file(path)
        self.b.session.mute()  # only our 30 ms packets reach a
        self.net.start()
        pcmu = by_name("PCMU")
        pcm = b"".join(tone([300 + 40 * i], 20) for i in range(30))  # every frame differs
        payloads = [pcmu.encode(pcm[i : i + 480]) for i in range(0, len(pcm), 480)]
        t = 0
        for tick in range(40):  # 20 ms ticks; a packet every 30 ms, just before the tick
            while payloads and t <= tick * 20:
                s._on_packet(0, False, t // 30, t * 8, payloads.pop(0))
                t += 30
            self.net.step(1)
        s.stop_record()
        with wave.open(path, "rb") as w:
            data = w.readframes(w.getnframes())
        expect = pcmu.decode(pcmu.encode(pcm))
        start = data.index(expect[:320])
        self.assertEqual(data[start : start + len(expect)], expect)  # no silence inside

    def test_no_input_sends_silence(self):
        """With no input the session still sends RTP, all silence."""
        s = self.a.session
        s.play_source(PcmSource(tone([500], 100)))
        s.set_input(None)
        self.net.start()
        self.net.step(3)
        pkts = self.sent()
        self.assertGreater(len(pkts), 2)
        self.assertEqual({p.payload for p in pkts}, {by_name("PCMU").encode(bytes(320))})

    def test_received_audio_is_not_decoded_when_nothing_listens(self):
        """Received audio is only decoded once something listens to it."""
        s = self.b.session
        self.assertFalse(s._rx_on)  # playlist output, no recorder, RFC 4733 negotiated
        self.a.session.play_source(PcmSource(tone([500], 100)))
        self.net.start()
        self.net.step(3)
        self.assertEqual(len(s._rxq), 0)
        sink = Recording()
        s.set_output(sink)
        self.assertTrue(s._rx_on)
        self.net.step(3)  # (the packet sent in a tick is popped in the next one)
        self.assertEqual(len(sink.frames), 2)


class SessionTimeoutAndRecordTests(unittest.TestCase):
    def test_rtp_timeout_fires_once_and_not_on_hold(self):
        """rtpTimeout fires once after the set seconds without RTP, again after RTP resumes and stops, never on hold."""
        net = FakeNet()
        s = net.a.session
        fired = []
        s.on_rtp_timeout = lambda: fired.append(net.time.seconds())
        s.monitor_rtp_timeout(True, 1)
        s.connect()  # b is not connected: a gets nothing
        net.time.advance(0)
        net.step(49)
        self.assertEqual(fired, [])
        net.step(1)
        self.assertEqual(len(fired), 1)
        net.step(100)
        self.assertEqual(len(fired), 1)
        # RTP comes back, then stops again: fires again
        net.b.session.connect()
        net.step(5)
        net.b.session.disconnect()
        net.step(52)
        self.assertEqual(len(fired), 2)
        # held by the peer: no RTP expected, no timeout
        s.answer(net.b.session.offer("sendonly"))
        net.step(200)
        self.assertEqual(len(fired), 2)

    def test_record_file_complete_after_stop_and_close(self):
        """A recording ended by closing the call is a complete WAV with the audio heard and its length."""
        net = FakeNet()
        d = self.mktemp()
        os.makedirs(d)
        path = os.path.join(d, "rec.wav")
        said = tone([440], 1000)
        net.b.session.play_source(PcmSource(said))
        net.a.session.record_file(path)
        net.start()
        net.step(50)
        self.assertEqual(net.a.session.record_length_ms, 1020)
        self.assertEqual(net.a.session.record_data_size, 51 * 320)
        net.a.session.close()  # call ends while recording
        self.assertEqual(net.a.session.record_length_ms, 1020)
        with wave.open(path) as w:
            self.assertEqual((w.getframerate(), w.getnchannels(), w.getsampwidth()), (8000, 1, 2))
            self.assertEqual(w.getnframes(), 51 * 160)
            data = w.readframes(w.getnframes())
        pcmu = by_name("PCMU")
        # first frame is silence (nothing received yet), then what b said
        self.assertEqual(data[:320], bytes(320))
        self.assertEqual(data[320 : 320 * 51], pcmu.decode(pcmu.encode(said)))
        net.b.session.close()
        self.assertFalse(net.clock.running)

    def test_record_to_bad_path(self):
        """Recording into a missing directory is a MediaFileError and nothing records."""
        net = FakeNet()
        self.assertRaises(MediaFileError, net.a.session.record_file, "/nonexistent/dir/r.wav")
        self.assertFalse(net.a.session.recording)


class SessionWavCacheTests(unittest.TestCase):
    def _prompt(self):
        d = self.mktemp()
        os.makedirs(d)
        path = os.path.join(d, "hello.wav")
        write_pcm_wav(path, tone([600], 100), 8000)
        return path

    def test_calls_given_one_cache_share_the_decoded_prompt(self):
        """Two calls playing one prompt through the server's cache decode it once and share it."""
        path = self._prompt()
        shared = WavCache()
        net = FakeNet(shared)
        net.a.session.play_file(path)
        frames = shared.get(path)
        self.assertIsNotNone(frames)
        net.b.session.play_file(path)
        self.assertIs(shared.get(path), frames)
        self.assertIs(net.a.session.wav_cache, shared)
        self.assertIs(net.b.session.playlist.wav_cache, shared)

    def test_session_without_a_cache_keeps_its_own(self):
        """A session built without a cache (a test, a tool) decodes into a private one only."""
        path = self._prompt()
        net = FakeNet()
        net.a.session.play_file(path)
        self.assertIsNotNone(net.a.session.wav_cache.get(path))
        self.assertIsNone(net.b.session.wav_cache.get(path))
        self.assertIsNot(net.a.session.wav_cache, net.b.session.wav_cache)
