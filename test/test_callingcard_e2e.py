"""The calling-card demo end to end: ``twistd donkeysm``, sipp as A and B, RTP.

The bundle is ``conf/dsm/callingcard.conf`` as shipped, with its
``outbound_domain`` set to one sipp UAS (B, the dialled number) and a short
call-time limit.  The caller is sipp too (``-s 36``); both parties' RTP are
the test's own UDP sockets (:class:`RtpPeer`), so the test hears what each
hears and keys the PIN and the number as RFC 4733 events itself.

1. the caller hears the PIN prompt (frame-exact after the G.711 round trip),
   keys a wrong PIN and hears "sorry", keys 1234 and hears "enter the
   number", keys 42;
2. B is dialled (sip:42@outbound_domain) with the caller's SDP; after B's 200
   the caller is re-INVITEd with B's SDP and B with the caller's answer, and
   A and B hear each other directly;
3. either the time limit: the caller is re-INVITEd back to donkey's media and
   hears the warning, then both get BYE at the limit; or B hangs up first:
   the caller is re-INVITEd back to donkey's media, hears "thank you for
   calling", then gets BYE.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from twisted.trial import unittest

from test.daemon import ROOT, Daemon, sipp_available
from test.media.e2e_helpers import DECODERS, RtpPeer, chirp, frames_of, g711_round_trip, read_wav
from test.sip.helpers import Sipp, free_udp_port, sipp_uas
from test.sipp import Check, Uac, Uas, _message, reply_lines, sdp
from test.test_quizconnect_e2e import find_prompt, key_in
from test.util import wait_until

APP_DIR = os.path.join(ROOT, "conf", "dsm", "callingcard")
BUNDLE = os.path.join(ROOT, "conf", "dsm", "callingcard.conf")
PROMPTS = os.path.join(APP_DIR, "prompts")
#: the call-time limit of these tests, and the warning before it (seconds)
LIMIT, WARNING = 10, 5
#: in-dialog waits of the sipp scenarios (PIN and number entry come first)
WAIT_MS = 60000


def write_config(base: str, outbound_domain: str) -> str:
    """sems.conf + etc/ + dsm/callingcard.conf (as shipped, paths and limits set); sems.conf."""
    etc, dsm = os.path.join(base, "etc"), os.path.join(base, "dsm")
    os.makedirs(etc)
    os.makedirs(dsm)
    files = {
        "sems.conf": "sip_ip=127.0.0.1\nmedia_ip=127.0.0.1\nplugin_config_path=etc\n"
        "application=$(mapping)\napp_mapping=etc/app_mapping.conf\nloglevel=3\n",
        "etc/app_mapping.conf": "^sip:36@=>callingcard\n",
        "etc/dsm.conf": "diag_path=.\nload_diags=\nregister_apps=\nmod_path=\n"
        f"run_invite_event=yes\nconf_dir={dsm}\nmonitoring_full_stategraph=yes\n",
        "etc/xmlrpc2di.conf": "server_ip=127.0.0.1\nexport_di=yes\ndirect_export=dsm;monitoring\n",
        "etc/monitoring.conf": "gcinterval=600\n",
    }
    for name, text in files.items():
        with open(os.path.join(base, name), "w") as f:
            f.write(text)
    values = {
        "diag_path": APP_DIR + "/",
        "prompt_path": PROMPTS + "/",
        "outbound_domain": outbound_domain,
        "max_call_seconds": str(LIMIT),
        "warning_seconds": str(WARNING),
    }
    out = []
    with open(BUNDLE) as f:
        for line in f.read().splitlines():
            key = line.split("=", 1)[0].strip()
            if not line.startswith("#") and key in values:
                line = f"{key}={values.pop(key)}"
            out.append(line)
    assert not values, f"not in the shipped bundle: {values}"
    with open(os.path.join(dsm, "callingcard.conf"), "w") as f:
        f.write("\n".join(out) + "\n")
    return os.path.join(base, "sems.conf")


def prompt_frames(name: str) -> list[bytes]:
    """What a PCMU listener decodes from a prompt, 20 ms a frame."""
    channels, width, rate, pcm = read_wav(os.path.join(PROMPTS, name + ".wav"))
    assert (channels, width, rate) == (1, 2, 8000), name
    return [g711_round_trip(f, 0) for f in frames_of(pcm)]


def m_audio(port: int) -> Check:
    return Check(f"m=audio {port} RTP/AVP", "body")


class Caller(Uac):
    """sipp as A: waits as long as PIN and number entry take for donkey's requests."""

    def answer_reinvite_within(self, checks: Sequence[Check], answer: str) -> Caller:
        self.recv(checks, request="INVITE", timeout=WAIT_MS)
        hdrs = [f"Contact: {self.contact}"]
        self.send(_message(reply_lines(200, "OK", headers=hdrs, body=True), answer))
        self.recv(request="ACK", timeout=5000)
        return self


class CallingCardE2E(unittest.TestCase):
    timeout = 150

    async def start(self) -> None:
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.files = os.path.abspath(self.mktemp())
        self.b_port = free_udp_port()
        conf = write_config(os.path.join(self.files, "conf"), f"127.0.0.1:{self.b_port}")
        self.daemon = Daemon(self, config=conf)
        await self.daemon.ready()
        self.peer_a, self.peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        self.peer_b.ssrc = 0x0B0B0B0B

    def caller(self, uac: Uac) -> Sipp:
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        args = ["-sf", uac.write(os.path.join(cwd, "a.xml")), "-m", "1", "-i", "127.0.0.1"]
        args += ["-p", str(free_udp_port()), "-s", "36", f"127.0.0.1:{self.daemon.sip_port}"]
        sipp = Sipp(args, cwd, 90.0)
        self.addCleanup(sipp.stop)
        return sipp

    async def finished(self, *agents: Sipp) -> None:
        for agent in agents:
            code, out, err = await agent.result()
            self.assertEqual(
                code, 0, f"sipp failed: {out[-3000:]}{err[-3000:]}\n{self.daemon.output()[-4000:]}"
            )

    def from_donkey(self, peer: RtpPeer, since: float) -> list[bytes]:
        """PCMU that donkey's own media sent to ``peer`` since ``since``, decoded."""
        others = (self.peer_a.ssrc, self.peer_b.ssrc)
        return [
            DECODERS[0](p[6], 2)
            for p in peer.packets
            if p[1] == 0 and p[0] >= since and p[5] not in others
        ]

    async def hears(self, name: str, since: float, frames: int | None = None) -> float:
        """Wait until the caller heard prompt ``name`` (its first ``frames``) frame-exact from donkey."""
        expected = prompt_frames(name)[:frames]

        def heard() -> bool:
            got = self.from_donkey(self.peer_a, since)
            start = find_prompt(got, expected)
            return start >= 0 and got[start : start + len(expected)] == expected

        await wait_until(heard, 20, f"the caller hears {name}.wav")
        return time.monotonic()

    def in_state(self, state: str):
        """A wait_until predicate: the caller's session is in ``state``."""

        async def check() -> bool:
            for call_id in await self.daemon.call_xmlrpc("listActive"):
                (props,) = await self.daemon.call_xmlrpc("get", call_id)
                if props.get("dsm_state") == state:
                    return True
            return False

        return check

    def scenarios(self, b_hangs_up: bool) -> tuple[Caller, Uas]:
        a_port, b_port = self.peer_a.port, self.peer_b.port
        uas = Uas("callingcard callee")  # sipp as B, the dialled number
        uas.recv(
            [m_audio(a_port), Check("^INVITE sip:42@")], request="INVITE", rrs=True, timeout=WAIT_MS
        )
        uas.reply(180, "Ringing")
        uas.reply(200, "OK", answer=sdp(b_port, (0, 101)), retrans=True)
        uas.acked()
        uas.answer_reinvite([m_audio(a_port)], sdp(b_port, (0, 101)))
        uac = Caller("callingcard caller", user="5")
        uac.invite(sdp(a_port, (0, 101)), headers=()).answered()
        uac.answer_reinvite_within([m_audio(b_port)], sdp(a_port, (0, 101)))
        # back on donkey's media: for the warning, or for "thank you for calling"
        uac.answer_reinvite_within([Check("m=audio [0-9]+ RTP/AVP", "body")], sdp(a_port, (0, 101)))
        if b_hangs_up:
            uas.pause(3000).bye()
        else:
            uas.recv(request="BYE", timeout=WAIT_MS)
            uas.reply(200, "OK", to_tag=False)
        uac.wait_bye(WAIT_MS, headers=[f"Contact: {uac.contact}"])
        return uac, uas

    async def dial_and_talk(self, b_hangs_up: bool, wrong_pin: bool) -> tuple[Sipp, Sipp]:
        """Steps 1-2: prompts, PIN, number, the bridge with audio both ways."""
        uac, uas = self.scenarios(b_hangs_up)
        b = sipp_uas(self, self.b_port, uas, timeout=90.0)
        await b.bound()
        t0 = time.monotonic()
        a = self.caller(uac)
        peer_a, peer_b = self.peer_a, self.peer_b
        await peer_a.first_packet(timeout=15)
        t = await self.hears("enter_pin", t0, frames=50)
        if wrong_pin:
            await key_in(peer_a, "99#")
            t = await self.hears("sorry_pin_wrong", t, frames=50)
        await key_in(peer_a, "1234#")
        t = await self.hears("enter_number", t, frames=50)
        await key_in(peer_a, "42#")

        # B answered: A is re-INVITEd with B's SDP and B with A's answer
        await wait_until(self.in_state("CONNECTED"), 20, "B's 200 in the script")
        peer_a.remote = ("127.0.0.1", peer_b.port)
        peer_b.remote = ("127.0.0.1", peer_a.port)
        peer_a.send_frames(frames_of(chirp(2000, 300.0, 900.0)))
        peer_b.send_frames(frames_of(chirp(2000, 1200.0, 600.0)))
        await wait_until(
            lambda: (
                len([p for p in peer_b.packets if p[5] == peer_a.ssrc]) >= 40
                and len([p for p in peer_a.packets if p[5] == peer_b.ssrc]) >= 40
            ),
            15,
            "A's audio at B and B's audio at A",
        )
        self.assertEqual(
            [p for p in peer_b.packets if p[5] != peer_a.ssrc], [], "donkey sent RTP to B"
        )
        return a, b

    async def test_time_limit_warning_then_both_legs_end(self):
        """PIN, number, A and B talk; before the limit A hears the warning, at the limit both get BYE."""
        await self.start()
        a, b = await self.dial_and_talk(b_hangs_up=False, wrong_pin=False)
        answered = time.monotonic()
        t = await self.hears("warning", answered)
        self.assertGreater(t - answered, WARNING - 2.5)
        await self.finished(a, b)
        ended = time.monotonic()
        self.assertLess(ended - answered, LIMIT + 5)
        self.assertGreater(ended - answered, WARNING + 1)
        await wait_until(self.no_calls, 10, "no call left")
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_wrong_pin_then_callee_hangs_up_thanks_for_calling(self):
        """A wrong PIN ('sorry'), then the call; B hangs up: A hears 'thank you for calling', then BYE."""
        await self.start()
        a, b = await self.dial_and_talk(b_hangs_up=True, wrong_pin=True)
        talking = time.monotonic()
        t = await self.hears("thanks", talking)
        self.assertLess(t - talking, WARNING + 3, "thanks came after B's BYE, not the warning")
        self.assertEqual(
            find_prompt(self.from_donkey(self.peer_a, talking), prompt_frames("warning")), -1
        )
        await self.finished(a, b)
        await wait_until(self.no_calls, 10, "no call left")
        self.assertNotIn("Traceback", self.daemon.output())

    async def no_calls(self) -> bool:
        return await self.daemon.call_xmlrpc("calls") == 0

    async def test_readme_scenarios_run_the_story(self):
        """The README's two sipp scenario files: PIN, number, bridge, warning re-INVITE, BYE at the limit."""
        await self.start()
        sipp_dir = os.path.join(ROOT, "conf", "sipp")
        b = Sipp(
            ["-sf", os.path.join(sipp_dir, "callingcard_callee.xml"), "-i", "127.0.0.1"]
            + ["-mi", "127.0.0.1", "-p", str(self.b_port), "-m", "1"]
            + ["-mp", str((free_udp_port() // 2) * 2)],
            self.mktemp(),
            90.0,
        )
        b.port = self.b_port
        self.addCleanup(b.stop)
        await b.bound()
        a = Sipp(
            ["-sf", os.path.join(sipp_dir, "callingcard_caller.xml"), "-s", "36"]
            + [f"127.0.0.1:{self.daemon.sip_port}", "-i", "127.0.0.1"]
            + ["-p", str(free_udp_port()), "-m", "1", "-mp", str((free_udp_port() // 2) * 2)],
            self.mktemp(),
            90.0,
        )
        self.addCleanup(a.stop)
        await wait_until(self.in_state("WARNED"), 40, "the caller warned")
        await self.finished(a, b)
        finished = await self.daemon.call_xmlrpc("listFinished")
        (props,) = await self.daemon.call_xmlrpc("get", finished[0])
        states = [s.split("/")[-1] for s in props["dsm_stategraph"][1:] if not s.startswith(">")]
        self.assertEqual(
            [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s],
            ["START", "ENTER_PIN", "CHECK_PIN", "ENTER_NUMBER", "CONNECTING", "CONNECTED"]
            + ["WARNED", "END"],
        )

    async def test_bundled_configuration_answers_36(self):
        """On the bundled configuration the banner shows the calling card and 36 reaches it."""
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.daemon = Daemon(self)
        await self.daemon.ready()
        uac = Uac("dial 36", user="5")
        uac.invite(headers=()).answered().pause(1500).bye(headers=())
        await self.finished(self.caller(uac))
        await wait_until(self.no_calls, 10, "no call left")
        (call_id,) = await self.daemon.call_xmlrpc("listFinished")
        (props,) = await self.daemon.call_xmlrpc("get", call_id)
        self.assertEqual((props.get("app"), props.get("dsm_state")), ("callingcard", "END"))
        self.assertIn(
            "then dial 36:  sipp -sf conf/sipp/callingcard_caller.xml", self.daemon.output()
        )
