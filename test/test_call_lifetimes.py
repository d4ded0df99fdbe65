"""A call's objects are freed by reference counting once it is over (issue 13's regression guard).

Hundreds of calls run through the real pieces of the daemon (SIP stack,
call controller, DSM runtime, media sessions) on a fake reactor, with the
cycle collector switched off.  Once the calls have ended and sippy's timers
(the UA's "go dead" linger, the transaction layer's caches) have run out,
nothing of any call may be left: whatever survives is held in a reference
cycle, which a busy server frees only in long full collections.
Nothing here is timed; the clock is advanced, not waited for.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest

from donkey.app.call import DSMCall
from donkey.app.controller import CallController
from donkey.dsm.runtime import Runtime
from donkey.media.clock import MediaClock
from donkey.media.rtp import PortAllocator
from donkey.monitoring.store import MonitoringStore
from donkey.sip import sippy_process
from donkey.sip.leg import CallLeg
from donkey.sip.stack import SipStack
from test.dsm.helpers import write_scripts
from test.sip.sip_peer import SDP, FakeSipReactor, SipMessage, SipPeer

#: the caller hangs up (BYE from the peer) while the script plays
CALLER_HANGS_UP = """
import(mod_dlg);
initial state START;
transition "start" START - sessionStart / { playSilence(300); playRingtone(500, 100, 100, 440); } -> TALK;
state TALK;
transition "empty" TALK - noAudio / set($played=yes) -> TALK;
transition "bye" (START, TALK) - hangup / stop(false) -> END;
state END;
"""

#: the script hangs up (our BYE) after a timer
SCRIPT_HANGS_UP = """
import(mod_dlg);
initial state START;
transition "start" START - sessionStart / { playSilence(200); setTimer(1, 1); } -> TALK;
state TALK;
transition "done" TALK - timer / stop(true) -> END;
transition "bye" (START, TALK) - hangup / stop(false) -> END;
state END;
"""

CALLS = 300
#: longer than sippy's UA linger (``SipStack.linger``, 8 s) and its
#: transaction caches (32 s, ``SipTransactionManager``'s timers)
AFTERMATH = 45


class _UdpPort:
    """An RTP/RTCP socket on the fake reactor: takes what is sent, like a real port stops."""

    def __init__(self, port: int, protocol: DatagramProtocol) -> None:
        self.port = port
        self.protocol = protocol
        protocol.makeConnection(self)  # type: ignore[arg-type]

    def write(self, data: bytes, addr: Any) -> None:
        pass

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", self.port)

    def stopListening(self) -> None:
        # as udp.Port.connectionLost does: the protocol forgets its transport
        self.protocol.doStop()


class _Peer(SipPeer):
    """One caller among many on the same address: it reads only its own call's messages."""

    def __init__(self, reactor: FakeSipReactor, stack_port: int, n: int) -> None:
        super().__init__(reactor, stack_port)
        self.call_id = "lifetime-%d@127.0.0.1" % n
        self.from_tag = "peer-%d" % n

    def received(self) -> list[SipMessage]:
        return [m for m in super().received() if m.get("call-id") == self.call_id]


class _Reactor(FakeSipReactor):
    """The SIP stack's fake reactor, with the UDP ports the media allocator binds."""

    def listenUDP(
        self, port: int, protocol: DatagramProtocol, interface: str = "", maxPacketSize: int = 8192
    ) -> _UdpPort:
        return _UdpPort(port, protocol)


class CallLifetimes(unittest.TestCase):
    def setUp(self) -> None:
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        self.clock = _Reactor()
        self.runtime = Runtime(self.clock, monitoring=MonitoringStore(self.clock))
        directory = write_scripts(self, caller=CALLER_HANGS_UP, script=SCRIPT_HANGS_UP)
        self.runtime.load_bundle(
            "main",
            {
                "diag_path": directory,
                "load_diags": "caller,script",
                "register_apps": "caller,script",
                "run_invite_event": "yes",
            },
        )
        media_clock = MediaClock(self.clock)
        ports = PortAllocator(20000, 20000 + 4 * CALLS, host="127.0.0.1", reactor=self.clock)
        self.controller = CallController(self.runtime, media_clock, ports, "$(apphdr)")
        #: weak references to every object of every call, with what each is
        self.refs: list[tuple[str, weakref.ref[Any]]] = []
        self.stack = SipStack(self._factory, "127.0.0.1", 0, reactor=self.clock)
        self.controller.stack = self.stack
        self.stack.startService()
        self.addCleanup(sippy_process.install, reactor)
        self.addCleanup(self.stack.stopService)

    def _factory(self, leg: CallLeg) -> DSMCall | None:
        """The controller's call, with a weak reference to each of its objects."""
        call = self.controller(leg)
        if call is not None:
            objects = {
                "CallLeg": leg,
                "LegUA": leg.ua,
                "DSMCall": call,
                "Session": call.session,
                "Engine": call.session.engine,
                "MediaSession": call.media,
                "Playlist": call.media.playlist,
            }
            self.refs += [(name, weakref.ref(o)) for name, o in objects.items()]
        return call

    def _advance(self, seconds: float, step: float = 0.1) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)

    def _alive(self) -> list[str]:
        return [name for name, ref in self.refs if ref() is not None]

    def test_ended_calls_leave_nothing_for_the_cycle_collector(self):
        """After hundreds of calls have ended and sippy's timers ran out, no call object survives."""
        peers = []
        for n in range(CALLS):
            peer = _Peer(self.clock, self.stack.port, n)
            app = "caller" if n % 2 == 0 else "script"
            peer.request("INVITE", SDP, "P-App-Name: %s\r\n" % app)
            peers.append((app, peer))
        self._advance(0.2)
        for _app, peer in peers:
            final = peer.last_final("INVITE")
            self.assertEqual(final.code if final is not None else None, 200)
            peer.request("ACK", cseq=1)
        self._advance(0.5)
        for app, peer in peers:
            if app == "caller":
                peer.request("BYE")
        self._advance(1.0)
        for app, peer in peers:
            if app == "script":
                byes = peer.requests("BYE")  # with sippy's retransmissions
                self.assertTrue(byes)
                peer.reply(byes[0], 200, "OK")
            else:
                final = peer.last_final("BYE")
                self.assertEqual(final.code if final is not None else None, 200)
        self._advance(0.5)
        self.assertEqual(self.controller.calls, {})
        self.assertEqual(len(self.refs), 7 * CALLS)
        # sippy keeps the dialog (and so the leg) for its linger: the guard sees live objects
        self.assertIn("CallLeg", self._alive())
        self._advance(AFTERMATH, step=1.0)
        del peers
        self.assertEqual(self.stack.legs, {})
        alive = self._alive()
        self.assertEqual(alive, [], "%d call objects left in cycles" % len(alive))
