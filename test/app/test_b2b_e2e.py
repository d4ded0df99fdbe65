"""B2BUA mode on the wire: ``twistd donkeysm`` between two sipp agents.

sipp A calls a script that bridges it with ``B2B.connectCallee`` to sipp B;
the test itself is both agents' RTP (two :class:`RtpPeer` sockets).  Each
scenario checks the SDP it is offered, so the media dance SEMS does is
checked message by message: B is offered A's SDP, A is re-INVITEd with B's,
and B is re-INVITEd with A's answer.
"""

from __future__ import annotations

import os
import time

from twisted.trial import unittest

from test.daemon import Daemon, sipp_available
from test.media.e2e_helpers import (
    RtpPeer,
    chirp,
    frames_of,
    power,
    read_wav,
    sine,
    write_daemon_config,
)
from test.sip.helpers import Sipp, free_udp_port, sipp_uas
from test.sipp import AUTH_FAILED, Check, Uac, Uas, sdp
from test.util import wait_until

MONITOR = """
import(mod_monitoring);
transition "other reply" (CONNECTING, CONNECTED) - B2B.otherReply() / {
  monitoring.add(other_reply, #code);
} -> CONNECTING;
"""


def bridge_script(b_port: int, trigger: str = "sessionStart", extra: str = "") -> str:
    """Connect the caller to sipp B on ``b_port`` (in ``trigger``), report B's replies."""
    target = f"sip:callee@127.0.0.1:{b_port}"
    prefix = (
        'set($connect_session=0); set($b2b_relayed_invite="true");' if trigger == "invite" else ""
    )
    return f"""
import(mod_monitoring);
initial state START;
transition "go" START - {trigger} / {{
  {prefix}
  B2B.connectCallee("<{target}>", "{target}");
}} -> CONNECTING;
state CONNECTING;
transition "provisional" CONNECTING - B2B.otherReply(#code < 200) / monitoring.add(other_reply, #code) -> CONNECTING;
transition "answered" CONNECTING - B2B.otherReply(#code < 300) / monitoring.add(other_reply, #code) -> CONNECTED;
transition "failed" CONNECTING - B2B.otherReply() / {{
  monitoring.add(other_reply, #code);
  monitoring.set(other_reason, #reason);
  stop(true);
}} -> END;
state CONNECTED;
transition "caller bye" (CONNECTING, CONNECTED) - hangup / {{
  monitoring.add(events, hangup);
  stop(false);
}} -> END;
transition "callee bye" CONNECTED - B2B.otherBye() / monitoring.add(events, otherBye) -> END;
{extra}
state END;
"""


def m_audio(port: int) -> Check:
    return Check(f"m=audio {port} RTP/AVP", "body")


class B2BE2E(unittest.TestCase):
    timeout = 90

    async def start(self, script: str) -> Daemon:
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        base = os.path.abspath(self.mktemp())
        cfg = write_daemon_config(base, {"bridge": script})
        self.daemon = Daemon(self, config=cfg)
        await self.daemon.ready()
        return self.daemon

    def caller(self, uac: Uac, timeout: float = 40.0) -> Sipp:
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        sipp = Sipp(
            [
                "-sf",
                uac.write(os.path.join(cwd, "a.xml")),
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-p",
                str(free_udp_port()),
                "-s",
                "bridge",
                f"127.0.0.1:{self.daemon.sip_port}",
            ],
            cwd,
            timeout,
        )
        self.addCleanup(sipp.stop)
        return sipp

    async def callee(self, uas: Uas, port: int) -> Sipp:
        sipp = sipp_uas(self, port, uas, timeout=40.0)
        await sipp.bound()
        return sipp

    async def props(self) -> dict:
        ids = await self.daemon.call_xmlrpc("list")
        self.assertEqual(len(ids), 1, ids)
        (props,) = await self.daemon.call_xmlrpc("get", ids[0])
        return {k: (v[1:] if isinstance(v, list) and v[:1] == [0] else v) for k, v in props.items()}

    def other_replied(self, code: str):
        """A wait_until predicate: the script has seen B's reply ``code``."""

        async def seen() -> bool:
            ids = await self.daemon.call_xmlrpc("list")
            if len(ids) != 1:
                return False
            (props,) = await self.daemon.call_xmlrpc("get", ids[0])
            return code in (props.get("other_reply") or [])[1:]

        return seen

    async def finished(self, *agents: Sipp) -> None:
        for agent in agents:
            code, out, err = await agent.result()
            self.assertEqual(
                code, 0, f"sipp failed: {out[-3000:]}{err[-3000:]}\n{self.daemon.output()[-4000:]}"
            )

    async def bridged_call(self) -> tuple[RtpPeer, RtpPeer]:
        """A and B bridged, audio both ways; then A hangs up."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        peer_b.ssrc = 0x0B0B0B0B
        b_port = free_udp_port()
        await self.start(bridge_script(b_port))
        uas = Uas("callee B")
        uas.invited([m_audio(peer_a.port)])
        uas.reply(180, "Ringing")
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.answer_reinvite([m_audio(peer_a.port)], sdp(peer_b.port, (0, 101)))
        uas.recv(request="BYE", timeout=30000)
        uas.reply(200, "OK", to_tag=False)
        uac = Uac("caller A")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=()).answered()
        uac.answer_reinvite([m_audio(peer_b.port)], sdp(peer_a.port, (0, 101)))
        uac.pause(6000)
        uac.bye(headers=())
        b = await self.callee(uas, b_port)
        a = self.caller(uac)

        def from_donkey(peer: RtpPeer) -> list:
            return [p for p in peer.packets if p[5] not in (peer_a.ssrc, peer_b.ssrc)]

        # B answered: A is re-INVITEd with B's SDP and B with A's answer; then no RTP from donkey
        await wait_until(self.other_replied("200"), 20, "B's 200 in the script")
        since = time.monotonic()
        peer_a.remote = ("127.0.0.1", peer_b.port)
        peer_b.remote = ("127.0.0.1", peer_a.port)
        peer_a.send_frames(frames_of(chirp(1000, 300.0, 900.0)))
        peer_b.send_frames(frames_of(chirp(1000, 1200.0, 600.0)))
        await wait_until(
            lambda: (
                len([p for p in peer_b.packets if p[5] == peer_a.ssrc]) >= 40
                and len([p for p in peer_a.packets if p[5] == peer_b.ssrc]) >= 40
            ),
            15,
            "A's audio at B and B's audio at A",
        )
        # the re-INVITEs take a loopback round trip or two after B's 200
        self.assertEqual([p for p in from_donkey(peer_a) if p[0] >= since + 0.3], [])
        self.assertEqual(from_donkey(peer_b), [], "donkey sent RTP to B")
        await self.finished(a, b)
        return peer_a, peer_b

    async def test_bridged_call_caller_hangs_up(self):
        """A and B talk end to end (donkey sends no RTP); A's BYE reaches B."""
        await self.bridged_call()
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["180", "200"])
        self.assertEqual(props.get("events"), ["hangup"])
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_callee_busy_is_other_reply_486(self):
        """B answers 486: the script sees B2B.otherReply with #code 486 and ends the call."""
        b_port = free_udp_port()
        await self.start(bridge_script(b_port))
        uas = Uas("callee busy")
        uas.invited()
        uas.reply(486, "Busy Here")
        uas.recv(request="ACK")
        uac = Uac("caller A")
        uac.invite(headers=()).answered()
        uac.wait_bye(20000, headers=["Contact: <sip:sipp@[local_ip]:[local_port]>"])
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["486"])
        self.assertEqual(props.get("other_reason"), "Busy Here")

    async def test_caller_cancel_while_callee_rings_cancels_b(self):
        """A cancels while B's 180 is relayed to it (relayed INVITE mode): B gets CANCEL, answers 487."""
        b_port = free_udp_port()
        await self.start(bridge_script(b_port, trigger="invite"))
        uas = Uas("callee rings")
        uas.invited()
        uas.reply(180, "Ringing")
        uas.recv(request="CANCEL", timeout=20000)
        uas.reply(200, "OK", to_tag=False)
        uas.reply(487, "Request Terminated", cseq="CSeq: [last_cseq_number] INVITE")
        uas.recv(request="ACK")
        uac = Uac("caller cancels")
        uac.invite(headers=()).recv(response=180)
        uac.pause(1500)
        uac.cancel()
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["180"])
        self.assertEqual(props.get("events"), ["hangup"])

    async def test_callee_hangs_up_bye_reaches_caller(self):
        """B hangs up first: the script sees B2B.otherBye and A gets a BYE."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        b_port = free_udp_port()
        await self.start(bridge_script(b_port))
        uas = Uas("callee B hangs up")
        uas.invited([m_audio(peer_a.port)])
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.answer_reinvite([m_audio(peer_a.port)], sdp(peer_b.port, (0, 101)))
        uas.pause(1000)
        uas.bye(headers=["X-Bye-Reason: callee done"])
        uac = Uac("caller A")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=()).answered()
        uac.answer_reinvite([m_audio(peer_b.port)], sdp(peer_a.port, (0, 101)))
        uac.wait_bye(20000, headers=["Contact: <sip:sipp@[local_ip]:[local_port]>"])
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["200"])
        self.assertEqual(props.get("events"), ["otherBye"])
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_relayed_invite_183_with_sdp_and_200_reach_caller(self):
        """Relayed INVITE mode: B's 183 and 200 reach A, each with B's SDP (early media relayed)."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        b_port = free_udp_port()
        await self.start(bridge_script(b_port, trigger="invite"))
        uas = Uas("callee B with early media")
        uas.invited([m_audio(peer_a.port)])
        uas.reply(183, "Session Progress", answer=sdp(peer_b.port, (0, 101)))
        uas.pause(2000)
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.recv(request="BYE", timeout=30000)
        uas.reply(200, "OK", to_tag=False)
        uac = Uac("caller A")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=())
        uac.recv([m_audio(peer_b.port)], response=183)
        uac.recv([m_audio(peer_b.port)], response=200)
        uac.ack()
        uac.pause(1000)
        uac.bye(headers=())
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["183", "200"])
        self.assertEqual(props.get("events"), ["hangup"])
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_callee_digest_auth(self):
        """B challenges with 401: donkey retries with $b2b_auth_user/$b2b_auth_pwd and the call bridges."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        b_port = free_udp_port()
        script = bridge_script(b_port).replace(
            "B2B.connectCallee(",
            'set($b2b_auth_user="alice"); set($b2b_auth_pwd="secret"); B2B.connectCallee(',
        )
        await self.start(script)
        uas = Uas("callee B challenges")
        uas.challenged("alice", "secret", 401, [m_audio(peer_a.port)])
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.answer_reinvite([m_audio(peer_a.port)], sdp(peer_b.port, (0, 101)))
        uas.recv(request="BYE", timeout=30000)
        uas.reply(200, "OK", to_tag=False, next="done")
        uas.label(AUTH_FAILED)
        uas.raw('  <nop><action><exec int_cmd="stop_now"/></action></nop>\n')
        uas.label("done")
        uac = Uac("caller A")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=()).answered()
        uac.answer_reinvite([m_audio(peer_b.port)], sdp(peer_a.port, (0, 101)))
        uac.pause(1000)
        uac.bye(headers=())
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        # the 401 is the stack's to answer: the script sees the call succeed
        self.assertEqual(props.get("other_reply"), ["200"])
        self.assertEqual(props.get("events"), ["hangup"])

    async def test_rtp_relay_mode_records_the_bridged_call(self):
        """dlg.connectCalleeRelayed: donkey forwards the audio both ways; recordFile records what A says."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        peer_a.ssrc, peer_b.ssrc = 0x0A0A0A0A, 0x0B0B0B0B
        b_port = free_udp_port()
        target = f"sip:callee@127.0.0.1:{b_port}"
        files = os.path.abspath(self.mktemp())
        os.makedirs(files)
        rec = os.path.join(files, "bridged.wav")
        script = f"""
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "go" START - invite / {{
  set($connect_session=0);
  dlg.connectCalleeRelayed("<{target}>", "{target}");
}} -> CONNECTING;
state CONNECTING;
transition "provisional" CONNECTING - B2B.otherReply(#code < 200) -> CONNECTING;
transition "answered" CONNECTING - B2B.otherReply(#code < 300) / {{
  dlg.getRtpRelayMode(mode);
  monitoring.set(mode, $mode);
  recordFile({rec});
}} -> CONNECTED;
state CONNECTED;
transition "caller bye" (CONNECTING, CONNECTED) - hangup / {{
  stopRecord();
  monitoring.add(events, hangup);
  stop(false);
}} -> END;
state END;
"""
        await self.start(script)
        a_port_file, b_port_file = os.path.join(files, "a_port"), os.path.join(files, "b_port")
        uas = Uas("callee B, relayed")
        # B is offered donkey's own port, not A's
        uas.invited([Check("m=audio ([0-9]+) RTP/AVP", "body", assign_to="bmedia,bport")])
        uas.save_var("bport", b_port_file)
        uas.reply(180, "Ringing")
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.recv(request="BYE", timeout=30000)
        uas.reply(200, "OK", to_tag=False)
        uac = Uac("caller A, relayed")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=())
        uac.provisional(180, 183)
        uac.recv(
            [Check("m=audio ([0-9]+) RTP/AVP", "body", assign_to="amedia,aport")], response=200
        )
        uac.ack()
        uac.save_var("aport", a_port_file)
        uac.pause(5000)
        uac.bye(headers=())
        b = await self.callee(uas, b_port)
        a = self.caller(uac)

        def port_in(path: str) -> int | None:
            try:
                with open(path) as f:
                    text = f.read().strip()
            except OSError:
                return None
            return int(text) if text.isdigit() else None

        await wait_until(lambda: port_in(a_port_file) and port_in(b_port_file), 20, "the ports")
        a_side, b_side = port_in(a_port_file), port_in(b_port_file)
        self.assertNotIn(a_side, (peer_a.port, peer_b.port))
        self.assertNotIn(b_side, (peer_a.port, peer_b.port, a_side))
        peer_a.remote = ("127.0.0.1", a_side)
        peer_b.remote = ("127.0.0.1", b_side)
        peer_a.send_frames(frames_of(sine([700.0], 2000)))
        peer_b.send_frames(frames_of(sine([1500.0], 2000)))

        def relayed(peer: RtpPeer, own: int) -> list:
            return [p for p in peer.packets if p[5] != own]

        await wait_until(
            lambda: (
                len(relayed(peer_b, peer_b.ssrc)) >= 50 and len(relayed(peer_a, peer_a.ssrc)) >= 50
            ),
            15,
            "A's audio at B and B's audio at A, through donkey",
        )
        await self.finished(a, b)
        # what each far end got from donkey's port is the other's audio
        pcm_b = b"".join(peer_b.decoded(0))
        pcm_a = b"".join(peer_a.decoded(0))
        self.assertGreater(power(pcm_b, 700.0), 10 * power(pcm_b, 1500.0))
        self.assertGreater(power(pcm_a, 1500.0), 10 * power(pcm_a, 700.0))
        props = await self.props()
        self.assertEqual(props.get("mode"), "RTP_Relay")
        self.assertEqual(props.get("events"), ["hangup"])
        channels, width, rate, recorded = read_wav(rec)
        self.assertEqual((rate, channels, width), (8000, 1, 2))
        self.assertGreater(len(recorded), 8000 * 2)  # more than a second of the call
        # the recording is the caller leg's received audio: A's tone, not B's
        self.assertGreater(power(recorded, 700.0), 10 * power(recorded, 1500.0))

    async def test_early_media_relay_reinvites_answered_caller(self):
        """B2B.enableEarlyMediaRelay: A, already answered, is re-INVITEd once with B's 183 SDP; B gets A's answer."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        b_port = free_udp_port()
        script = bridge_script(b_port).replace(
            "B2B.connectCallee(", "B2B.enableEarlyMediaRelay(true); B2B.connectCallee("
        )
        await self.start(script)
        uas = Uas("callee B with early media")
        uas.invited([m_audio(peer_a.port)])
        uas.reply(183, "Session Progress", answer=sdp(peer_b.port, (0, 101)))
        uas.pause(2000)
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        # then, as after any answer of B's, A's answer to the re-INVITE goes on to B
        uas.answer_reinvite([m_audio(peer_a.port)], sdp(peer_b.port, (0, 101)))
        uas.recv(request="BYE", timeout=30000)
        uas.reply(200, "OK", to_tag=False)
        uac = Uac("caller A, answered first")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=()).answered()
        uac.answer_reinvite([m_audio(peer_b.port)], sdp(peer_a.port, (0, 101)))
        uac.pause(3000)
        uac.bye(headers=())
        b = await self.callee(uas, b_port)
        a = self.caller(uac)
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("other_reply"), ["183", "200"])
        self.assertEqual(props.get("events"), ["hangup"])
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_callee_bye_processed_keeps_caller_on_donkeys_media(self):
        """#processed=true in B2B.otherBye keeps A: re-INVITEd onto donkey's media, it hears donkey."""
        peer_a, peer_b = RtpPeer.listen(self), RtpPeer.listen(self)
        peer_b.ssrc = 0x0B0B0B0B
        b_port = free_udp_port()
        script = bridge_script(b_port).replace(
            'transition "callee bye" CONNECTED - B2B.otherBye() / monitoring.add(events, otherBye) -> END;',
            """transition "callee bye" CONNECTED - B2B.otherBye() / {
  monitoring.add(events, otherBye);
  set(#processed=true);
  B2B.sendReinvite(true);
  connectMedia();
  playSilence(3000);
  setTimer(1, 2);
} -> THANKS;
state THANKS;
transition "thanks done" THANKS - timer(#id == 1) / {
  monitoring.add(events, timer);
  stop(true);
} -> END;
transition "caller gone" THANKS - hangup / stop(false) -> END;""",
        )
        await self.start(script)
        uas = Uas("callee B hangs up")
        uas.invited([m_audio(peer_a.port)])
        uas.reply(200, "OK", answer=sdp(peer_b.port, (0, 101)))
        uas.acked()
        uas.answer_reinvite([m_audio(peer_a.port)], sdp(peer_b.port, (0, 101)))
        uas.pause(500)
        uas.bye()
        uac = Uac("caller A stays")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=()).answered()
        uac.answer_reinvite([m_audio(peer_b.port)], sdp(peer_a.port, (0, 101)))
        # donkey takes A back: its own SDP now (B's port is gone from it)
        uac.answer_reinvite(
            [Check("m=audio ([0-9]+) RTP/AVP", "body", assign_to="dmedia,dport")],
            sdp(peer_a.port, (0, 101), version=2353687638),
        )
        uac.wait_bye(20000, headers=["Contact: <sip:sipp@[local_ip]:[local_port]>"])
        b = await self.callee(uas, b_port)
        a = self.caller(uac)

        async def callee_gone() -> bool:
            ids = await self.daemon.call_xmlrpc("list")
            if not ids:
                return False
            (props,) = await self.daemon.call_xmlrpc("get", ids[0])
            return "otherBye" in (props.get("events") or [])

        await wait_until(callee_gone, 20, "B2B.otherBye in the script")
        since = time.monotonic()

        def from_donkey() -> list:
            return [p for p in peer_a.packets if p[5] != peer_b.ssrc and p[0] >= since]

        await wait_until(lambda: len(from_donkey()) >= 25, 20, "donkey's RTP at A after B's BYE")
        await self.finished(a, b)
        props = await self.props()
        self.assertEqual(props.get("events"), ["otherBye", "timer"])
        self.assertNotIn("Traceback", self.daemon.output())
