"""donkey called from baresip, a real softphone (Debian ``baresip``, via ``ctrl_tcp``).

What donkey sends must be right for a phone, not just for sipp: the prompt
is heard after G.711, RFC 4733 keys reach the script, hold and resume
work, early media is heard, and a CANCEL during early media is answered
with the 487 in the same early dialog (the 183's To-tag).
"""

from __future__ import annotations

import array
import os
import re

from twisted.trial import unittest

from test.baresip import Baresip
from test.daemon import Daemon
from test.media.e2e_helpers import (
    frames_of,
    g711_round_trip,
    read_wav,
    rms,
    sine,
    write_daemon_config,
)
from test.util import pause, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = os.path.join(ROOT, "conf", "dsm", "quizconnect", "prompts", "welcome_callee.wav")

EARLY = (
    """
import(mod_dlg);
initial state START;
transition "invite" START - invite / {
  set($connect_session=0);
  dlg.acceptInvite(183, "Session Progress");
} -> START;
transition "early media" START - sessionStart / {
  playFile(%s);
  setTimer(1, 40);
} -> EARLY;
state EARLY;
transition "give up" EARLY - timer(#id == 1) / {
  dlg.reply(480, "Temporarily Unavailable");
  stop(false);
} -> END;
transition "cancelled" (START, EARLY) - hangup / stop(false) -> END;
state END;
"""
    % PROMPT
)


LOOP = (
    """
initial state START;
transition "answered" START - sessionStart / playFile(%s, true) -> TALK;
state TALK;
transition "bye" (START, TALK) - hangup / stop(false) -> END;
state END;
"""
    % PROMPT
)


def prompt_frames() -> list[bytes]:
    """The prompt as a PCMU listener decodes it, 20 ms a frame."""
    channels, width, rate, pcm = read_wav(PROMPT)
    assert (channels, width, rate) == (1, 2, 8000)
    return [g711_round_trip(f, 0) for f in frames_of(pcm)]


#: baresip's G.711 decoder rounds a few codes differently from ours (by 2 at most)
TOLERANCE = 4


def _close(a: array.array, b: array.array) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= TOLERANCE for x, y in zip(a, b, strict=True))


def heard_prompt(pcm: bytes, prompt: list[bytes]) -> int:
    """How many of the prompt's frames, in order, are in what baresip decoded."""
    got = [array.array("h", f) for f in frames_of(pcm)]
    want = [array.array("h", f) for f in prompt]
    anchor = next(i for i, f in enumerate(prompt) if rms(f) > 200)
    for i in range(anchor, len(got)):
        if _close(got[i], want[anchor]):
            start = i - anchor
            return sum(
                1 for k, f in enumerate(want) if start + k < len(got) and _close(got[start + k], f)
            )
    return 0


def received_rate(output: str) -> int:
    """The received bit rate in baresip's last status line (0 without one)."""
    rates = re.findall(r"audio=\d+/(\d+) \(bit/s\)", output)
    return int(rates[-1]) if rates else 0


def to_tag(message: str) -> str:
    match = re.search(r"^(?:To|t):.*;tag=([^;\s>]+)", message, re.M | re.I)
    return match.group(1) if match else ""


class BaresipCalls(unittest.TestCase):
    timeout = 120

    async def start(self, config: str | None = None) -> tuple[Daemon, Baresip]:
        # a quiet microphone: a low tone, long enough that aufile never hits its end
        phone = Baresip(self, sine([300], 60_000, amp=300.0))
        self.daemon = Daemon(self, config=config)
        await self.daemon.ready()
        await phone.ready()
        self.phone = phone
        return self.daemon, phone

    async def dial(self, user: str) -> None:
        await self.phone.command("dial", f"sip:{user}@127.0.0.1:{self.daemon.sip_port}")

    def config(self, scripts: dict[str, str]) -> str:
        base = os.path.abspath(self.mktemp())
        return write_daemon_config(base, scripts)

    def early_config(self) -> str:
        return self.config({"early": EARLY})

    async def test_plain_call_hears_the_prompt(self):
        """baresip calls hello and what it decodes is the welcome prompt after G.711."""
        daemon, phone = await self.start()
        await self.dial("hello")
        await phone.event("CALL_ESTABLISHED")
        prompt = prompt_frames()
        await wait_until(
            lambda: heard_prompt(phone.decoded(), prompt) >= len(prompt) * 0.95,
            30,
            "baresip heard the whole prompt",
            interval=0.2,
        )
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")
        (ok,) = [
            m for m in phone.received("SIP/2.0 200 OK") if "INVITE" in m.split("CSeq")[1][:30]
        ][:1]
        self.assertRegex(ok, r"(?mi)^Contact: <sip:hello@127\.0\.0\.1:%d>" % daemon.sip_port)
        self.assertRegex(ok, r"(?mi)^Allow: .*INVITE.*BYE.*UPDATE")
        self.assertRegex(ok, r"(?mi)^Supported:")
        await wait_until(
            lambda: "call_counter: 1 calls, 0 active" in daemon.output(), 10, "the call counted"
        )

    async def test_rfc4733_keys_reach_the_script(self):
        """Keys baresip sends as RFC 4733 events are the script's key events."""
        daemon, phone = await self.start()
        await self.dial("hello")
        await phone.event("CALL_ESTABLISHED")
        await phone.event("CALL_RTPESTAB")
        for key in "358":
            await phone.command("sndcode", key)
            await pause(0.4)
        await wait_until(
            lambda: "hello: keys so far: 358" in daemon.output(), 15, "the keys in the script"
        )
        # the script's log line names the call by its Call-ID, as baresip's trace does
        invite = phone.received("SIP/2.0 200 OK")[0]
        callid = re.search(r"(?mi)^Call-ID: (\S+)", invite).group(1)
        self.assertIn(callid + ": FSM: 'hello: keys so far: 358'", daemon.output())
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")

    async def test_hold_and_resume_from_baresip(self):
        """baresip's hold re-INVITE is answered recvonly, its resume sendrecv, and audio flows again."""
        daemon, phone = await self.start(self.config({"loop": LOOP}))
        await self.dial("loop")
        await phone.event("CALL_ESTABLISHED")
        await wait_until(lambda: len(phone.decoded()) > 8000, 10, "audio before hold")
        await phone.command("hold")

        def answered(direction: str, count: int) -> bool:
            oks = [m for m in phone.received("SIP/2.0 200 OK") if "INVITE" in m]
            return sum(1 for m in oks if "a=" + direction in m) >= count

        await wait_until(lambda: answered("recvonly", 1), 10, "hold answered recvonly")
        await phone.command("resume")
        await wait_until(lambda: answered("sendrecv", 2), 10, "resume answered sendrecv")
        # baresip's status line after the resume: audio=<sent>/<received> bit/s
        mark = len(phone.output())
        await wait_until(
            lambda: received_rate(phone.output()[mark:]) > 32000, 10, "audio after resume"
        )
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")

    async def test_early_media_is_heard(self):
        """A script that answers 183 and plays a prompt is heard before any 200."""
        daemon, phone = await self.start(self.early_config())
        await self.dial("early")
        await phone.event("CALL_PROGRESS")
        prompt = prompt_frames()
        await wait_until(
            lambda: heard_prompt(phone.decoded(), prompt) >= len(prompt) * 0.95,
            30,
            "baresip heard the prompt in early media",
            interval=0.2,
        )
        self.assertEqual(phone.received("SIP/2.0 200 OK"), [])
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")

    async def test_cancel_during_early_media_keeps_the_tag(self):
        """baresip's CANCEL after a 183 gets a 487 with the 183's To-tag."""
        daemon, phone = await self.start(self.early_config())
        await self.dial("early")
        await phone.event("CALL_PROGRESS")
        await wait_until(lambda: len(phone.decoded()) > 1600, 10, "early media")
        await phone.command("hangup")
        await wait_until(
            lambda: phone.received("SIP/2.0 487"), 10, "the 487 to the INVITE", interval=0.1
        )
        (p183,) = phone.received("SIP/2.0 183")[:1]
        (r487,) = phone.received("SIP/2.0 487")[:1]
        self.assertTrue(to_tag(p183))
        self.assertEqual(to_tag(r487), to_tag(p183))
