"""Pure-function pieces of the SIP glue: headers, session timers, SDP, DTMF."""

from twisted.trial import unittest

from donkey.media.sdp_text import answer_hold, bump_sdp_version
from donkey.sip.headers import (
    SipHeaders,
    capability_headers,
    make_headers,
    param_split,
    split_headers,
    tokens,
    warning_header,
)
from donkey.sip.in_dialog import parse_dtmf_info
from donkey.sip.session_timer import (
    SessionTimerConfig,
    negotiate_uac,
    negotiate_uas,
    uac_request_headers,
)
from test.sip.helpers import SDP


class HeaderTests(unittest.TestCase):
    def test_split(self):
        """App header text splits into (name, value) pairs, folded lines joined."""
        self.assertEqual(
            split_headers("A: 1\r\nB:2\n  cont\r\n\r\n"), [("A", "1"), ("B", "2 cont")]
        )
        self.assertEqual(split_headers(None), [])
        self.assertEqual(split_headers([("X", "y")]), [("X", "y")])

    def test_make_headers_verbatim(self):
        """A header the app gives goes out exactly as written, commas and all."""
        (h,) = make_headers("P-Asserted-Identity: <sip:a@b>, <tel:1>")
        self.assertEqual(str(h), "P-Asserted-Identity: <sip:a@b>, <tel:1>")

    def test_sipheaders(self):
        """Header lookup ignores case, keeps every value, and hdrs leaves out the core headers."""
        h = SipHeaders([("Via", "x"), ("X-Foo", "1"), ("x-foo", "2")])
        self.assertEqual(h["X-FOO"], "1")
        self.assertEqual(h.get_all("x-foo"), ["1", "2"])
        self.assertIn("via", h)
        self.assertEqual(h.raw, "X-Foo: 1\r\nx-foo: 2\r\n")

    def test_params_tokens(self):
        """Header parameters and comma-separated option tags parse as a peer wrote them."""
        self.assertEqual(param_split("90; refresher=uac"), ("90", {"refresher": "uac"}))
        self.assertEqual(tokens(["timer, 100rel", "Replaces"]), ["timer", "100rel", "replaces"])

    def test_capability_headers(self):
        """Allow names what we answer (no PRACK); Supported names timer only when it is on."""
        on, off = capability_headers(True), capability_headers(False)
        self.assertIn("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER", on)
        self.assertNotIn("PRACK", on)
        self.assertIn("Supported: timer\r\n", on)
        self.assertIn("Supported: \r\n", off)

    def test_warning_header_is_a_safe_quoted_string(self):
        """A Warning's text can carry no quote, backslash or control character out."""
        self.assertEqual(
            warning_header(305, 'no "codec"\r\nX: 1\\'), 'Warning: 305 donkey "no codec X: 1"\r\n'
        )


class SessionTimerNegotiation(unittest.TestCase):
    cfg = SessionTimerConfig(enabled=True, session_expires=600, min_se=90)

    def test_disabled(self):
        """With session timers off nothing is negotiated and no timer header is sent."""
        self.assertEqual(negotiate_uas(SessionTimerConfig(), SipHeaders()), (None, None))
        self.assertEqual(uac_request_headers(SessionTimerConfig()), "")

    def test_too_small_gets_422(self):
        """An interval below our Min-SE is refused with 422 naming our minimum."""
        st, min_se = negotiate_uas(
            self.cfg, SipHeaders([("Session-Expires", "30"), ("Supported", "timer")])
        )
        self.assertIsNone(st)
        self.assertEqual(min_se, 90)

    def test_peer_chooses_uac(self):
        """The caller's refresher=uac is honoured and we expire 32 s before the interval."""
        st, _ = negotiate_uas(
            self.cfg, SipHeaders([("Session-Expires", "300;refresher=uac"), ("Supported", "timer")])
        )
        self.assertEqual((st.interval, st.we_refresh), (300, False))
        self.assertEqual(st.header_value(True), "300;refresher=uac")
        self.assertEqual(st.expiry_delay(), 300 - 32)

    def test_capped_to_ours_and_we_refresh_when_left_to_us(self):
        """A longer interval is capped to ours, and we refresh when nobody was named."""
        st, _ = negotiate_uas(self.cfg, SipHeaders([("x", "3600"), ("k", "timer")]))
        self.assertEqual((st.interval, st.we_refresh), (600, True))
        self.assertEqual(st.refresh_delay(), 300)

    def test_no_support_means_we_refresh(self):
        """A peer without Supported: timer leaves the refreshing to us."""
        st, _ = negotiate_uas(self.cfg, SipHeaders([("Session-Expires", "300;refresher=uac")]))
        self.assertTrue(st.we_refresh)
        self.assertFalse(st.peer_supports)

    def test_uac(self):
        """Our INVITE asks for our interval and we take what the 2xx grants."""
        self.assertIn("Session-Expires: 600;refresher=uac", uac_request_headers(self.cfg))
        st = negotiate_uac(self.cfg, SipHeaders([("Session-Expires", "200;refresher=uas")]))
        self.assertEqual((st.interval, st.we_refresh), (200, False))
        st = negotiate_uac(self.cfg, SipHeaders())
        self.assertEqual((st.interval, st.we_refresh, st.peer_supports), (600, True, False))


class SdpTests(unittest.TestCase):
    def test_bump(self):
        """A refresh offer is our SDP with the origin version raised by one."""
        self.assertIn("o=donkey 1000 1001 IN", bump_sdp_version(SDP))

    def test_hold_answer(self):
        """A hold offer is answered with the mirrored direction on our last SDP."""
        offer = SDP.replace("a=sendrecv", "a=sendonly")
        ans = answer_hold(offer, SDP)
        self.assertIn("a=recvonly", ans)
        self.assertNotIn("a=sendrecv", ans)
        self.assertIn("m=audio 40000 RTP/AVP 0 101", ans)
        self.assertIn("a=inactive", answer_hold(SDP.replace("a=sendrecv", "a=inactive"), SDP))
        self.assertIn(
            "a=recvonly", answer_hold(SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"), SDP)
        )
        self.assertIn("a=sendrecv", answer_hold(SDP, ans))
        self.assertIsNone(answer_hold(SDP, None))


class DtmfTests(unittest.TestCase):
    def test_relay(self):
        """INFO application/dtmf-relay gives the key and duration; garbage gives no key."""
        self.assertEqual(
            parse_dtmf_info("application/dtmf-relay", "Signal=#\r\nDuration=250\r\n"), (11, 250)
        )
        self.assertEqual(
            parse_dtmf_info("application/dtmf-relay", "Signal= 7\nDuration= 90"), (7, 90)
        )
        self.assertEqual(parse_dtmf_info("application/dtmf-relay", "garbage"), (None, 250))

    def test_dtmf(self):
        """INFO application/dtmf gives the key with the default duration."""
        self.assertEqual(parse_dtmf_info("application/dtmf", "5"), (5, 250))
        self.assertEqual(parse_dtmf_info("application/dtmf", "*"), (10, 250))
