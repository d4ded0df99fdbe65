"""Prompts in a live call: ``twistd donkeysm`` with a bundle that has
``load_prompts`` and a prompt set, sipp as the caller, the test as its RTP.

What the caller hears must be the prompt files themselves (frame for frame
after the G.711 round trip), first from the default collection and, after
``setPromptSet(de)``, from the set.
"""

from __future__ import annotations

import os

from twisted.trial import unittest

from test.daemon import Daemon, sipp_available
from test.media.e2e_helpers import (
    DECODERS,
    RtpPeer,
    chirp,
    frames_of,
    g711_round_trip,
    uac_scenario,
    write_daemon_config,
    write_wav,
)
from test.sip.helpers import Sipp, free_udp_port

ERRORS = """
transition "error" ({states}) - exception / {{
  monitoring.set(exc_type, #type);
  monitoring.set(exc_name, #name);
  stop(true);
}} -> END;
state END;
"""

PROMPTS = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / {
  playPrompt(hello);
  setPromptSet(de);
  playPrompt(hello);
} -> PLAYING;
state PLAYING;
transition "done" PLAYING - noAudio / {
  monitoring.add(events, noAudio);
  stop(true);
} -> END;
transition "bye" (START, PLAYING) - hangup / stop(false) -> END;
""" + ERRORS.format(states="START, PLAYING")

MISSING = """
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / playPrompt(nope) -> PLAYING;
state PLAYING;
transition "bye" (START, PLAYING) - hangup / stop(false) -> END;
""" + ERRORS.format(states="START, PLAYING")

# Every frame differs (sweeps), so a lost or repeated frame shows.
HELLO = chirp(300, 400.0, 1400.0)
HALLO = chirp(260, 2400.0, 700.0, amp=4000.0)


def heard(pcm: bytes) -> list[bytes]:
    """The PCMU frames a caller decodes when ``pcm`` is played."""
    return [g711_round_trip(f, 0) for f in frames_of(pcm)]


class PromptsE2E(unittest.TestCase):
    timeout = 60

    async def start_daemon(self) -> Daemon:
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        files = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(files, "wav"))
        self.files = files
        write_wav(os.path.join(files, "wav", "hello.wav"), HELLO)
        write_wav(os.path.join(files, "wav", "hallo.wav"), HALLO)
        # WAV paths relative to the prompts file; the set's file found as de.conf
        with open(os.path.join(files, "prompts.conf"), "w") as f:
            f.write("# default prompts\nhello=wav/hello.wav\n")
        with open(os.path.join(files, "de.conf"), "w") as f:
            f.write("hello=wav/hallo.wav\n")
        cfg = write_daemon_config(
            os.path.join(files, "conf"),
            {"prompts": PROMPTS, "missing": MISSING},
            bundle={
                "load_prompts": os.path.join(files, "prompts.conf"),
                "required_prompts": "hello",
                "prompts_sets_path": files,
                "load_prompts_sets": "de",
            },
        )
        self.daemon = Daemon(self, config=cfg)
        await self.daemon.ready()
        return self.daemon

    async def run_call(self, app: str, peer: RtpPeer | None, end: str) -> dict:
        scen = uac_scenario(
            os.path.join(self.files, f"{app}.xml"), peer.port if peer else 9, (0,), (), end, 20000
        )
        sipp = Sipp(
            [
                "-sf",
                scen,
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-p",
                str(free_udp_port()),
                "-mp",
                str((free_udp_port() // 2) * 2),
                "-s",
                app,
                f"127.0.0.1:{self.daemon.sip_port}",
            ],
            self.mktemp(),
            30.0,
        )
        self.addCleanup(sipp.stop)
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, f"sipp failed: {out[-2000:]}{err[-2000:]}")
        ids = await self.daemon.call_xmlrpc("list")
        self.assertEqual(len(ids), 1, ids)
        (props,) = await self.daemon.call_xmlrpc("get", ids[0])
        return {k: (v[1:] if isinstance(v, list) and v[:1] == [0] else v) for k, v in props.items()}

    async def test_play_prompt_then_prompt_set(self):
        """The caller hears the bundle's prompt, then after setPromptSet the set's prompt of that name."""
        await self.start_daemon()
        peer = RtpPeer.listen(self)
        props = await self.run_call("prompts", peer, "wait_bye")
        self.assertNotIn("exc_type", props, props)
        self.assertEqual(props.get("events"), ["noAudio"])
        got = [DECODERS[0](p[6], 2) for p in peer.audio(0)]
        expected = heard(HELLO) + heard(HALLO)
        self.assertIn(expected[0], got, "the first frame of hello.wav never arrived")
        start = got.index(expected[0])
        self.assertEqual(got[start : start + len(expected)], expected)
        self.assertNotIn("Traceback", self.daemon.output())

    async def test_unknown_prompt_is_the_prompt_exception(self):
        """playPrompt of a name the bundle does not have throws 'prompt' with #name, and the call ends."""
        await self.start_daemon()
        props = await self.run_call("missing", None, "wait_bye")
        self.assertEqual((props.get("exc_type"), props.get("exc_name")), ("prompt", "nope"))
        self.assertNotIn("Traceback", self.daemon.output())
