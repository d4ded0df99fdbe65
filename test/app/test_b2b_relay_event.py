"""``B2B.relayEvent`` across a bridge whose B leg is dialled back into the same daemon.

sipp A calls the ``alegapp`` script, which bridges it to ``sip:blegapp@`` donkey
itself; ``blegapp`` answers that B leg with a DSM session of its own.  The two
sessions are each other's other leg: a variable A's script relays arrives in
B's script as a ``B2Bevent``, and B's reply to it comes back the same way.

A request donkey sends straight to itself is its own client transaction
coming back, which sippy answers 482 Loop Detected (it matches every Via
of a request, so a plain proxy does not help either).  The B leg therefore
goes through :class:`LoopProxy`, which hides the Vias behind its own and
record-routes, as a topology-hiding SBC in front of the daemon would.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest

from test.daemon import Daemon, sipp_available
from test.media.e2e_helpers import RtpPeer, write_daemon_config
from test.sip.helpers import Sipp, free_udp_port
from test.sipp import Uac, sdp
from test.util import wait_until


class LoopProxy(DatagramProtocol):
    """Forward every SIP message from the daemon back to it, behind a Via of its own.

    Requests lose their Vias (kept under the proxy's branch) and the first
    INVITE gets a Record-Route, so in-dialog requests come here too; the
    proxy's own Route is dropped.  Responses get their Vias back.
    """

    def __init__(self, daemon_port: int) -> None:
        self.daemon = ("127.0.0.1", daemon_port)
        self.vias: dict[str, list[str]] = {}
        self.port = 0
        self.forwarded: list[str] = []

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        head, sep, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
        lines = head.split("\r\n")
        is_via = [line.lower().startswith(("via:", "v:")) for line in lines]
        if lines[0].startswith("SIP/2.0"):
            top = next(line for line, via in zip(lines, is_via, strict=True) if via)
            branch = top.split("branch=", 1)[1].split(";", 1)[0].strip()
            rest = [line for line, via in zip(lines, is_via, strict=True) if not via]
            lines = rest[:1] + self.vias.get(branch, []) + rest[1:]
        else:
            branch = f"z9hG4bK-loop-{len(self.vias)}"
            self.vias[branch] = [line for line, via in zip(lines, is_via, strict=True) if via]
            lines = [line for line, via in zip(lines, is_via, strict=True) if not via]
            lines = [
                line
                for line in lines
                if not (line.lower().startswith("route:") and f":{self.port};" in line)
            ]
            lines.insert(1, f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}")
            to = next((line for line in lines if line.lower().startswith(("to:", "t:"))), "")
            if lines[0].startswith("INVITE ") and ";tag=" not in to:
                lines.insert(2, f"Record-Route: <sip:127.0.0.1:{self.port};lr>")
        self.forwarded.append(lines[0])
        assert self.transport is not None
        self.transport.write(("\r\n".join(lines) + sep + body).encode(), self.daemon)


A_SCRIPT = """
import(mod_monitoring);
import(mod_uri);
initial state START;
transition "go" START - sessionStart / {
  uri.getHeader("X-Target", target);
  B2B.connectCallee($target, $target);
} -> CONNECTING;
state CONNECTING;
transition "answered" CONNECTING - B2B.otherReply(#code == 200) / {
  set($greeting="hello from A");
  B2B.relayEvent(greeting);
  monitoring.set(relay_errno, $errno);
} -> CONNECTED;
state CONNECTED;
transition "from B" CONNECTED - B2Bevent / monitoring.set(a_got, #answer) -> CONNECTED;
transition "caller bye" (CONNECTING, CONNECTED) - hangup / stop(false) -> END;
transition "callee bye" CONNECTED - B2B.otherBye() / stop(true) -> END;
state END;
"""

B_SCRIPT = """
import(mod_monitoring);
initial state UP;
transition "from A" UP - B2Bevent / {
  monitoring.set(b_got, #greeting);
  set($answer="hi from B");
  B2B.relayEvent(answer);
} -> UP;
transition "bye" UP - hangup / stop(false) -> END;
state END;
"""


class RelayEventE2E(unittest.TestCase):
    timeout = 90

    async def test_relay_event_reaches_the_other_leg_and_back(self):
        """A's relayed variable reaches B's script as B2Bevent, and B's answer reaches A's."""
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        base = os.path.abspath(self.mktemp())
        cfg = write_daemon_config(base, {"alegapp": A_SCRIPT, "blegapp": B_SCRIPT})
        daemon = Daemon(self, config=cfg)
        await daemon.ready()
        peer_a = RtpPeer.listen(self)
        proxy = LoopProxy(daemon.sip_port)
        listening = reactor.listenUDP(0, proxy, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        proxy.port = listening.getHost().port
        target = f"sip:blegapp@127.0.0.1:{proxy.port}"
        uac = Uac("caller A")
        uac.invite(sdp(peer_a.port, (0, 101)), headers=[f"X-Target: {target}"]).answered()
        uac.answer_reinvite(answer=sdp(peer_a.port, (0, 101)))
        uac.pause(3000)
        uac.bye(headers=())
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        argv = ["-sf", uac.write(os.path.join(cwd, "a.xml")), "-m", "1", "-i", "127.0.0.1"]
        argv += ["-p", str(free_udp_port()), "-s", "alegapp", f"127.0.0.1:{daemon.sip_port}"]
        sipp = Sipp(argv, cwd, 40.0)
        self.addCleanup(sipp.stop)

        async def by_app() -> dict[str, dict]:
            found = {}
            for call_id in await daemon.call_xmlrpc("list"):
                (props,) = await daemon.call_xmlrpc("get", call_id)
                found[str(props.get("app"))] = props
            return found

        async def both_got() -> bool:
            calls = await by_app()
            return "a_got" in calls.get("alegapp", {}) and "b_got" in calls.get("blegapp", {})

        try:
            await wait_until(both_got, 20, "the relayed events in both scripts")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{await by_app()}\n{daemon.output()[-6000:]}") from None
        code, out, err = await sipp.result()
        self.assertEqual(
            code, 0, f"sipp failed: {out[-3000:]}{err[-3000:]}\n{daemon.output()[-4000:]}"
        )
        calls = await by_app()
        self.assertEqual(calls["alegapp"]["relay_errno"], "")
        self.assertEqual(calls["blegapp"]["b_got"], "hello from A")
        self.assertEqual(calls["alegapp"]["a_got"], "hi from B")
        self.assertNotIn("Traceback", daemon.output())
        # the B leg went through the proxy: its INVITEs, ACK and BYE
        self.assertIn("BYE", " ".join(proxy.forwarded))
