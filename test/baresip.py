"""baresip (Debian ``baresip``) as the far end of a call, driven through ``ctrl_tcp``.

A real softphone finds what sipp scenarios do not: it checks tags, Contact,
SDP and RTP the way deployed phones do.  :class:`Baresip` runs one baresip
as a child process with a configuration directory the test writes: only
loopback, a free SIP port, a free control port, no STUN/TURN, no sound
card.  Its microphone is ``aufile`` (a WAV the test writes), its speaker
is ``aubridge`` (a sink nobody reads), and ``sndfile`` dumps what it
decoded from the network to a WAV in its directory, which is what the
test compares with the prompt.  SIP traffic is traced to its output (``-s``).

The control channel is ``ctrl_tcp``: JSON objects in netstrings, commands
``{"command", "params", "token"}`` answered by ``{"response": true, ...}``
and events ``{"event": true, "type": ...}`` sent as they happen.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.protocols.basic import NetstringReceiver

from test.daemon import free_port, free_rtp_range
from test.media.e2e_helpers import write_wav
from test.util import service_missing, wait_until

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"
#: the line before each message in baresip's SIP trace
_TRACE = re.compile(r"^(?=UDP \S+ -> \S+$)", re.M)
NEEDED = ("g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp")


def baresip_missing() -> str | None:
    """Why baresip cannot run here (None: it can)."""
    if not os.path.exists(BARESIP):
        return "baresip is not installed (Debian package baresip)"
    for name in NEEDED:
        if not os.path.exists(os.path.join(MODULES, name + ".so")):
            return f"baresip module {name}.so is missing"
    return None


class _Control(NetstringReceiver):
    """ctrl_tcp's side of the connection: responses by token, events in a list."""

    MAX_LENGTH = 1 << 20

    def __init__(self, owner: Baresip) -> None:
        self.owner = owner

    def stringReceived(self, string: bytes) -> None:
        message = json.loads(string.decode("utf-8", "replace"))
        if message.get("response"):
            d = self.owner._waiting.pop(message.get("token", ""), None)
            if d is not None:
                d.callback(message)
        elif message.get("event"):
            self.owner.events.append(message)


class Baresip:
    """One baresip UA on loopback; stopped (by PID) at the end of the test."""

    def __init__(self, testcase: Any, source_pcm: bytes, user: str = "bs") -> None:
        why = baresip_missing()
        if why:
            service_missing(why)
        self.dir = os.path.abspath(testcase.mktemp())
        os.makedirs(self.dir)
        # sndfile cuts its file names at a few dozen characters: a short directory
        self.rec_dir = tempfile.mkdtemp(prefix="donkey-bs-")
        testcase.addCleanup(shutil.rmtree, self.rec_dir, True)
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        low, high = free_rtp_range(10)
        self.source = os.path.join(self.dir, "source.wav")
        write_wav(self.source, source_pcm)
        config = {
            "poll_method": "epoll",
            "sip_listen": f"127.0.0.1:{self.sip_port}",
            "sip_trans_def": "udp",
            "net_interface": "127.0.0.1",
            "audio_player": "aubridge,speaker",
            "audio_alert": "aubridge,alert",
            "audio_source": f"aufile,{self.source}",
            "audio_srate": "8000",
            "audio_channels": "1",
            "rtp_ports": f"{low}-{high}",
            "module_path": MODULES,
            "snd_path": self.rec_dir,
            "ctrl_tcp_listen": f"127.0.0.1:{self.ctrl_port}",
        }
        lines = [f"{k}\t{v}" for k, v in config.items()]
        lines += [f"module\t{m}.so" for m in ("g711", "aufile", "aubridge", "sndfile")]
        lines += [f"module_app\t{m}.so" for m in ("account", "menu", "ctrl_tcp")]
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(f"<sip:{user}@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1\n")
        open(os.path.join(self.dir, "contacts"), "w").close()
        self.log_path = os.path.join(self.dir, "baresip.out")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [BARESIP, "-f", self.dir, "-s"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        testcase.addCleanup(self.stop)
        self.events: list[dict[str, Any]] = []
        self._waiting: dict[str, defer.Deferred] = {}
        self._tokens = 0
        self._control: _Control | None = None

    # -- control ------------------------------------------------------------------
    async def ready(self, timeout: float = 15.0) -> None:
        """Connect to ctrl_tcp once baresip listens; fail if it exited."""

        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"baresip exited:\n{self.output()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.2):
                    return True
            except OSError:
                return False

        await wait_until(listening, timeout, "baresip's ctrl_tcp port", interval=0.1)
        ep = protocol.ClientCreator(reactor, _Control, self)
        self._control = await ep.connectTCP("127.0.0.1", self.ctrl_port)

    async def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Run a menu command (``dial``, ``hangup``, ``hold``, ``resume``, ``sndcode``)."""
        assert self._control is not None, "call ready() first"
        self._tokens += 1
        token = f"t{self._tokens}"
        d: defer.Deferred = defer.Deferred()
        self._waiting[token] = d
        message = {"command": command, "params": params, "token": token}
        self._control.sendString(json.dumps(message).encode())
        reply = await d
        if not reply.get("ok"):
            raise AssertionError(f"baresip {command} {params}: {reply}")
        return reply

    async def event(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        """The first event of type *kind* (``CALL_ESTABLISHED``, ``CALL_CLOSED``...)."""

        def seen() -> dict[str, Any] | None:
            return next((e for e in self.events if e.get("type") == kind), None)

        return await wait_until(seen, timeout, f"baresip event {kind}", interval=0.05)

    # -- what it heard and said ---------------------------------------------------
    def decoded_path(self) -> str | None:
        """The WAV of what baresip decoded from the network (None before audio came)."""
        found = sorted(glob.glob(os.path.join(self.rec_dir, "dump-*-dec.wav")))
        return found[-1] if found else None

    def decoded(self) -> bytes:
        """The 16-bit PCM baresip decoded so far (the WAV's header skipped)."""
        path = self.decoded_path()
        if path is None:
            return b""
        with open(path, "rb") as f:
            data = f.read()
        return data[44:] if len(data) > 44 else b""

    def output(self) -> str:
        """baresip's console output, SIP trace included."""
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def received(self, first_line: str) -> list[str]:
        """SIP messages baresip received whose first line starts with *first_line*.

        baresip's trace (``-s``) prints each message after a line
        ``UDP <from> -> <to>`` and ends it with a colour reset.
        """
        out = []
        for chunk in _TRACE.split(self.output())[1:]:
            arrow, _, message = chunk.partition("\n")
            if not arrow.endswith(f":{self.sip_port}"):
                continue
            message = message.split("\x1b[", 1)[0].replace("\r", "")
            if message.startswith(first_line):
                out.append(message)
        return out

    def stop(self) -> None:
        if self._control is not None:
            self._control.transport.loseConnection()
            self._control = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        path = self.decoded_path()
        if path is not None:  # kept with the test's files for a look afterwards
            shutil.copy(path, os.path.join(self.dir, "decoded.wav"))
