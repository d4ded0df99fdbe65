from twisted.trial import unittest

from donkey.media.sdp import SdpError, SdpNegotiator, SessionDescription, UnsupportedOffer

LINPHONE_OFFER = """v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=call
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 96 8 0 18 101
a=rtpmap:96 opus/48000/2
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
"""


def offer(formats="0 8 101", direction="", conn="192.0.2.10", extra=""):
    lines = [
        "v=0",
        "o=x 1 1 IN IP4 %s" % conn,
        "s=-",
        "c=IN IP4 %s" % conn,
        "t=0 0",
        "m=audio 30000 RTP/AVP %s" % formats,
        "a=rtpmap:101 telephone-event/8000",
    ]
    if direction:
        lines.append("a=" + direction)
    return "\r\n".join(lines) + "\r\n" + extra


class AnswerTests(unittest.TestCase):
    def setUp(self):
        self.neg = SdpNegotiator("127.0.0.1", 10000)

    def test_picks_first_common_codec_in_offer_order(self):
        """Answering a Linphone offer picks its first codec we support, keeps telephone-event and rejects video with port 0."""
        text, n = self.neg.make_answer(LINPHONE_OFFER)
        self.assertEqual(n.codec.name, "PCMA")
        self.assertEqual(n.payload_type, 8)
        self.assertEqual(n.telephone_event_pt, 101)
        self.assertEqual(n.remote_addr, ("192.0.2.10", 49170))
        self.assertEqual(n.direction, "sendrecv")
        ans = SessionDescription.parse(text)
        self.assertEqual(len(ans.media), 2)  # one answer line per offered m=
        audio, video = ans.media
        self.assertEqual((audio.port, audio.formats), (10000, ["8", "101"]))
        self.assertEqual(video.port, 0)  # rejected
        self.assertIn(("rtpmap", "101 telephone-event/8000"), audio.attributes)
        self.assertIn(("fmtp", "101 0-15"), audio.attributes)
        self.assertEqual(audio.ptime, 20)
        self.assertEqual(ans.connection, "127.0.0.1")

    def test_static_payload_without_rtpmap(self):
        """A static payload type without rtpmap is understood; no telephone-event unless offered."""
        _, n = self.neg.make_answer(offer("0"))
        self.assertEqual(n.codec.name, "PCMU")
        self.assertIsNone(n.telephone_event_pt)  # 101 not in the m= line

    def test_no_common_codec_is_unsupported(self):
        """An offer with no codec we support, or no audio at all, is UnsupportedOffer naming the formats."""
        e = self.assertRaises(UnsupportedOffer, self.neg.make_answer, offer("18 96"))
        self.assertIn("18 96", str(e))
        self.assertRaises(UnsupportedOffer, self.neg.make_answer, "v=0\r\ns=-\r\nt=0 0\r\n")

    def test_garbage_is_sdp_error(self):
        """Text that is not SDP, or a broken m= line, is an SdpError."""
        self.assertRaises(SdpError, self.neg.make_answer, "hello world")
        self.assertRaises(SdpError, self.neg.make_answer, "v=0\r\nm=audio\r\n")

    def test_hold_directions(self):
        """Each offered direction gets its mirror in the answer and sets whether we send and receive."""
        cases = {
            "sendonly": ("recvonly", False, True),
            "recvonly": ("sendonly", True, False),
            "inactive": ("inactive", False, False),
            "sendrecv": ("sendrecv", True, True),
        }
        for offered, (ours, sending, receiving) in cases.items():
            text, n = self.neg.make_answer(offer(direction=offered))
            self.assertEqual(n.direction, ours, offered)
            self.assertEqual((n.sending, n.receiving), (sending, receiving), offered)
            self.assertEqual(SessionDescription.parse(text).media[0].direction, ours)

    def test_old_style_hold_zero_address(self):
        """An offer with c=0.0.0.0 is an old-style hold: we answer recvonly and send nothing."""
        text, n = self.neg.make_answer(offer(conn="0.0.0.0"))
        self.assertIsNone(n.remote_addr)
        self.assertFalse(n.sending)
        self.assertEqual(n.direction, "recvonly")
        self.assertTrue(n.on_hold)

    def test_local_hold_in_answer(self):
        """We can answer with our own hold (sendonly)."""
        _, n = self.neg.make_answer(offer(), direction="sendonly")
        self.assertEqual(n.direction, "sendonly")


class OfferTests(unittest.TestCase):
    def test_offer_answer_round_trip_and_versioning(self):
        """Our offer and a peer's answer agree on the codec; a repeated offer keeps o= version, a changed one bumps it."""
        a = SdpNegotiator("127.0.0.1", 10000)
        b = SdpNegotiator("127.0.0.1", 10002, codec_names=("PCMA",))
        o1 = a.make_offer()
        m = SessionDescription.parse(o1).media[0]
        self.assertEqual(m.formats, ["0", "8", "101"])
        self.assertEqual(m.direction, "sendrecv")
        ans, nb = b.make_answer(o1)
        na = a.apply_answer(ans)
        self.assertEqual((na.codec.name, nb.codec.name), ("PCMA", "PCMA"))
        self.assertEqual(na.remote_addr, ("127.0.0.1", 10002))
        self.assertEqual(na.telephone_event_pt, 101)
        # Same offer again: same o= version; a hold re-offer bumps it.
        v1 = SessionDescription.parse(o1).origin.split()[2]
        self.assertEqual(SessionDescription.parse(a.make_offer()).origin.split()[2], v1)
        hold = a.make_offer("sendonly")
        self.assertEqual(int(SessionDescription.parse(hold).origin.split()[2]), int(v1) + 1)
        _, nb2 = b.make_answer(hold)
        self.assertEqual(nb2.direction, "recvonly")
        self.assertEqual(a.apply_answer(b.make_answer(hold)[0]).direction, "sendonly")

    def test_zero_connection_hold_offer(self):
        """A hold offer may use c=0.0.0.0 when asked to."""
        a = SdpNegotiator("127.0.0.1", 10000)
        sd = SessionDescription.parse(a.make_offer("sendonly", zero_connection_hold=True))
        self.assertEqual(sd.connection, "0.0.0.0")

    def test_answer_without_our_codecs(self):
        """An answer choosing a codec we did not offer is UnsupportedOffer."""
        a = SdpNegotiator("127.0.0.1", 10000)
        a.make_offer()
        self.assertRaises(UnsupportedOffer, a.apply_answer, offer("18"))
