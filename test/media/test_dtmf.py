import random
from array import array

from twisted.trial import unittest

from donkey.media.dtmf import (
    GoertzelDetector,
    Rfc4733Receiver,
    Rfc4733Sender,
    build_event,
    key_from_char,
    key_to_char,
)
from test.media.helpers import tone

ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
LAYOUT = ("123A", "456B", "789C", "*0#D")


def key_tone(ch, ms, amp=6000.0):
    r = next(i for i, row in enumerate(LAYOUT) if ch in row)
    return tone([ROWS[r], COLS[LAYOUT[r].index(ch)]], ms, amp=amp)


def frames(pcm):
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


class KeyTests(unittest.TestCase):
    def test_mapping(self):
        """Key characters 0-9, *, # and A-D (any case) map to SEMS key codes 0-15; others are refused."""
        self.assertEqual(
            [key_from_char(c) for c in "0129*#AbCD"], [0, 1, 2, 9, 10, 11, 12, 13, 14, 15]
        )
        self.assertRaises(ValueError, key_from_char, "E")

    def test_key_numbers_back_to_characters(self):
        """Key numbers turn back into the characters a script sees; no number wraps around."""
        self.assertEqual("".join(key_to_char(k) for k in range(16)), "0123456789*#ABCD")
        self.assertRaises(ValueError, key_to_char, 16)
        self.assertRaises(ValueError, key_to_char, -1)


class Rfc4733Tests(unittest.TestCase):
    def test_retransmitted_end_counts_once(self):
        """An RFC 4733 event whose end packet comes three times is one key with its duration."""
        rx = Rfc4733Receiver()
        got = []
        ts = 1000
        for d in range(160, 1601, 160):
            got.append(rx.feed(ts, build_event(5, False, d)))
        for _ in range(3):
            got.append(rx.feed(ts, build_event(5, True, 1760)))
        got.append(rx.tick())
        self.assertEqual([g for g in got if g], [(5, 220)])

    def test_two_presses_of_same_key(self):
        """Two presses of the same key (new timestamps) are two keys."""
        rx = Rfc4733Receiver()
        out = []
        for ts in (8000, 16000):
            out.append(rx.feed(ts, build_event(11, False, 160)))
            for _ in range(3):
                out.append(rx.feed(ts, build_event(11, True, 800)))
        self.assertEqual([o for o in out if o], [(11, 100), (11, 100)])

    def test_lost_end_packets_still_reported(self):
        """A key whose end packets are lost is reported after a timeout or when the next key starts."""
        rx = Rfc4733Receiver(timeout_ticks=5)
        self.assertIsNone(rx.feed(100, build_event(3, False, 400)))
        self.assertEqual([rx.tick() for _ in range(5)], [None] * 4 + [(3, 50)])
        self.assertIsNone(rx.feed(100, build_event(3, True, 480)))  # late end: already reported
        # next press starting also flushes an unfinished one
        rx.feed(900, build_event(4, False, 160))
        self.assertEqual(rx.feed(2000, build_event(6, False, 160)), (4, 20))

    def test_malformed_and_non_key_events_ignored(self):
        """Truncated event payloads and non-key events (flash hook) are no keys."""
        rx = Rfc4733Receiver()
        self.assertIsNone(rx.feed(1, b"\x01"))
        self.assertIsNone(rx.feed(2, build_event(16, True, 800)))  # flash hook

    def test_sender_packet_train(self):
        """Queued keys go out as RFC 4733 trains (marker first, end packet three times) a receiver decodes."""
        tx = Rfc4733Sender()
        tx.queue(7, 100)
        tx.queue(8, 60)
        pkts = []
        ts = 0
        while tx.busy:
            pkts.append(tx.next_packet(ts))
            ts += 160
        rx = Rfc4733Receiver()
        keys = [rx.feed(p[2], p[0]) for p in pkts if p]
        self.assertEqual([k for k in keys if k], [(7, 100), (8, 60)])
        first = [p for p in pkts if p][0]
        self.assertTrue(first[1])  # marker on the first packet of an event
        ends = [p for p in pkts if p and p[0][1] & 0x80]
        self.assertEqual(len(ends), 6)  # 3 end packets per key
        self.assertIn(None, pkts)  # inter-digit pause: audio resumes between keys


class GoertzelTests(unittest.TestCase):
    def detect(self, pcm):
        det = GoertzelDetector()
        out = [det.process(f) for f in frames(pcm) + frames(bytes(3200))]
        return [o for o in out if o]

    def test_detects_all_keys(self):
        """Each of the 16 DTMF tones in audio is detected once as its key, about 100 ms long."""
        for ch in "0123456789*#ABCD":
            got = self.detect(key_tone(ch, 100))
            self.assertEqual(len(got), 1, ch)
            self.assertEqual(got[0][0], key_from_char(ch), ch)
            self.assertApproximates(got[0][1], 100, 20)

    def test_sequence_with_gaps_and_quiet_tones(self):
        """Quiet tones with pauses between them are detected in order."""
        pcm = b"".join(key_tone(ch, 80, amp=1500) + bytes(1280) for ch in "19#")
        self.assertEqual([k for k, _ in self.detect(pcm)], [1, 9, 11])

    def test_survives_g711(self):
        """A DTMF tone still detects after an A-law round trip."""
        from donkey.media._audioop import audioop

        pcm = audioop.alaw2lin(audioop.lin2alaw(key_tone("5", 100), 2), 2)
        self.assertEqual([k for k, _ in self.detect(pcm)], [5])

    def test_no_false_positives(self):
        """Silence, noise, speech-like audio and single tones are never taken for keys."""
        rng = random.Random(1)
        noise = array("h", [int(rng.gauss(0, 3000)) for _ in range(8000)]).tobytes()
        # speech-like: 120 Hz voice with harmonics, slowly changing pitch
        speech = b"".join(
            tone([f * h for h in range(1, 12)], 100, amp=1500)
            for f in (110, 120, 135, 150, 140, 125, 115, 118, 122, 130)
        )
        for pcm in (bytes(8000), noise, speech, tone([1000], 1000), tone([697], 500)):
            self.assertEqual(self.detect(pcm), [])

    def test_too_short_is_ignored(self):
        """A 20 ms tone burst is too short to be a key."""
        self.assertEqual(self.detect(key_tone("7", 20)), [])
