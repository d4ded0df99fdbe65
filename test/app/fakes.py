"""Fakes for the app room's unit tests: a SIP leg and a media session that record."""

from __future__ import annotations

from donkey.media.sdp import SdpError
from donkey.sip.headers import SipHeaders


class FakeLeg:
    """What :class:`donkey.app.call.DSMCall` uses of a :class:`donkey.sip.leg.CallLeg`."""

    def __init__(self, direction: str = "in", remote_sdp: str | None = "v=0 offer", user="35"):
        self.direction = direction
        self.local_tag = ""
        self.remote_sdp = remote_sdp
        self.callid = "call-1@h"
        self.remote_tag = "rt"
        self.user = user
        self.domain = "127.0.0.1"
        self.local_uri = f"sip:{user}@127.0.0.1"
        self.local_party = f"<{self.local_uri}>"
        self.remote_uri = "sip:caller@127.0.0.1"
        self.remote_party = '"caller" <sip:caller@127.0.0.1>'
        self.ruri = self.local_uri
        self.from_hdr = self.remote_party + ";tag=rt"
        self.to_hdr = self.local_party
        self.request_headers = SipHeaders([("P-App-Param", "a=1;b=2"), ("X-Thing", "yes")])
        self.sent: list[tuple] = []
        self.listener = None
        self.connected = False  # the dialog is confirmed (2xx and ACK)
        self.ended = False

    def ring(self, code, reason, sdp, headers=""):
        self.sent.append(("ring", code, reason, sdp))

    def accept(self, code, reason, sdp, headers=""):
        self.sent.append(("accept", code, reason, sdp))

    def reply(self, code, reason, headers=""):
        self.sent.append(("reply", code, reason))
        self.reply_headers = headers

    def bye(self, headers=""):
        self.sent.append(("bye", headers))

    def refer(self, target, expires=0):
        self.sent.append(("refer", target, expires))

    def send_request(self, method, headers="", body=None, content_type=None):
        self.sent.append(("request", method, body, content_type))

    def reply_request(self, cseq, code, reason, headers=""):
        self.sent.append(("reply_request", cseq, code, reason))


class FakeMediaSession:
    """What DSMCall and DSMMedia use of a :class:`donkey.media.session.MediaSession`."""

    def __init__(self, refuse_offer: bool = False):
        self.refuse_offer = refuse_offer
        self.calls: list[tuple] = []
        self.connected = False
        self.closed = False
        self.rtp_timeout_seconds = 0.0
        self.record_length_ms = 0
        self.record_data_size = 0
        self.input = None
        self.output = None
        self.on_dtmf = self.on_no_audio = self.on_separator = self.on_rtp_timeout = None

    def answer(self, offer):
        if self.refuse_offer:
            raise SdpError("no common codec")
        return "v=0 answer"

    def offer(self):
        return "v=0 our offer"

    def apply_answer(self, sdp):
        self.calls.append(("apply_answer", sdp))

    def connect(self):
        self.connected = True
        self.calls.append(("connect",))

    def disconnect(self):
        self.connected = False
        self.calls.append(("disconnect",))

    def close(self):
        self.closed = True

    # the plain delegations of DSMMedia the tests use
    def play_source(self, source, front=False):
        self.calls.append(("play_source", source, front))

    def play_silence(self, ms, front=False):
        self.calls.append(("play_silence", ms, front))

    def add_separator(self, id, front=False):
        self.calls.append(("add_separator", id, front))

    def mute(self):
        self.calls.append(("mute",))

    def monitor_rtp_timeout(self, enabled, seconds=30.0):
        self.calls.append(("monitor_rtp_timeout", enabled, seconds))


class FakeController:
    """What DSMCall needs of its :class:`donkey.app.controller.CallController`."""

    def __init__(self, runtime, dead_rtp_time=None):
        self.runtime = runtime
        self.dead_rtp_time = dead_rtp_time
        self.max_early_media_time = 0.0
        self.max_ringing_time = 0.0
        self.ended: list = []

    def call_ended(self, call):
        self.ended.append(call)
