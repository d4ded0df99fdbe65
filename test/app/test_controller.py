"""The call factory: which app an INVITE runs, refusals, and each bundle's prompts."""

from __future__ import annotations

import os

from twisted.internet import task
from twisted.trial import unittest

from donkey.app.controller import CallController
from donkey.dsm.errors import CompileError
from donkey.dsm.runtime import Runtime
from donkey.media.rtp import NoMediaPortAvailable
from donkey.media.wav import WavCache
from donkey.sip.headers import SipHeaders
from test.app.fakes import FakeLeg, FakeMediaSession
from test.dsm.helpers import write_scripts
from test.media.e2e_helpers import write_wav
from test.media.helpers import tone

SCRIPT = """
initial state A;
transition "start" A - sessionStart / set($started=yes) -> A;
"""


class Controller(CallController):
    """A controller whose calls get fake media (no RTP ports)."""

    def __init__(self, runtime, **kw):
        super().__init__(runtime, clock=None, ports=None, wav_cache=WavCache(), **kw)
        self.no_ports = False

    def new_media(self):
        if self.no_ports:
            raise NoMediaPortAvailable()
        return FakeMediaSession()


class AppSelection(unittest.TestCase):
    def setUp(self):
        self.runtime = Runtime(task.Clock())
        directory = self.directory = write_scripts(self, s=SCRIPT, other=SCRIPT)
        self.runtime.load_bundle(
            "main",
            {
                "diag_path": directory,
                "load_diags": "s,other",
                "register_apps": "s,other",
                "set_param_variables": "yes",
            },
        )

    def test_ruri_user_picks_the_app(self):
        """An INVITE to sip:s@... runs app 's' and the call is answered."""
        c = Controller(self.runtime, application="$(ruri.user)")
        leg = FakeLeg(user="s")
        call = c(leg)
        call.on_invite(leg)
        self.assertEqual(call.app, "s")
        self.assertIs(leg.listener, call)
        self.assertEqual(call.session.vars["started"], "yes")
        self.assertIn(call.session.ltag, c.calls)

    def test_mapping_is_tried_first(self):
        """application=$(mapping);$(ruri.user): a matching regex wins over the user part."""
        c = Controller(self.runtime, mapping=[("^sip:s@", "other")])
        self.assertEqual(c.select_app(FakeLeg(user="s")), "other")
        self.assertEqual(c.select_app(FakeLeg(user="other")), "other")

    def test_unknown_app_gets_404(self):
        """An INVITE naming no registered app is answered 404 and starts nothing."""
        c = Controller(self.runtime, application="$(ruri.user)")
        leg = FakeLeg(user="nobody")
        self.assertIsNone(c(leg))
        self.assertEqual(leg.sent, [("reply", 404, "Not Found")])
        self.assertEqual(len(self.runtime.sessions), 0)

    def test_no_rtp_port_gets_503(self):
        """With every RTP port taken the INVITE is answered 503."""
        c = Controller(self.runtime, application="$(ruri.user)")
        c.no_ports = True
        leg = FakeLeg(user="s")
        self.assertIsNone(c(leg))
        self.assertEqual(leg.sent, [("reply", 503, "Server Unavailable")])

    def test_param_variables_from_p_app_param(self):
        """set_param_variables: P-App-Param a=1;b=2 become $a and $b."""
        c = Controller(self.runtime, application="$(ruri.user)")
        call = c(FakeLeg(user="s"))
        self.assertEqual((call.session.vars["a"], call.session.vars["b"]), ("1", "2"))

    def _vars_for(self, header: str) -> dict[str, str]:
        c = Controller(self.runtime, application="$(ruri.user)")
        leg = FakeLeg(user="s")
        leg.request_headers = SipHeaders([("P-App-Param", header)])
        return c(leg).session.vars

    def test_p_app_param_cannot_override_config(self):
        """A caller's P-App-Param: config.db_url=... leaves $config.db_url as configured."""
        self.runtime.load_bundle(
            "main",
            {
                "diag_path": self.directory,
                "load_diags": "s",
                "register_apps": "s",
                "set_param_variables": "yes",
                "db_url": "sqlite:///srv/good.db",
            },
        )
        got = self._vars_for("config.db_url=sqlite:///tmp/evil.db;db_url=x;plain=1")
        self.assertEqual(got["config.db_url"], "sqlite:///srv/good.db")
        self.assertNotIn("db_url", got)
        self.assertEqual(got["plain"], "1")

    def test_p_app_param_takes_only_plain_unreserved_names(self):
        """Dotted, odd and reserved names (errno, selects, switches) are dropped; plain ones kept."""
        got = self._vars_for(
            "errno=0;strerror=x;callid=c;connect_session=0;a.b=1;1x=2;x-y=3;ok_1=yes"
        )
        for name in ("errno", "strerror", "callid", "connect_session", "a.b", "1x", "x-y"):
            self.assertNotIn(name, got)
        self.assertEqual(got["ok_1"], "yes")

    def test_p_app_param_is_bounded(self):
        """At most 32 variables are taken, and a value over 256 bytes is dropped."""
        items = ";".join("v%d=%d" % (i, i) for i in range(40))
        got = self._vars_for(items + ";big=" + "x" * 257 + ";fits=" + "y" * 256)
        taken = [k for k in got if k.startswith("v")]
        self.assertEqual(len(taken), 32)
        self.assertNotIn("big", got)
        self.assertNotIn("fits", got)  # the 33rd name: over the count

    def test_refused_p_app_param_logs_once_per_interval(self):
        """Many calls with refused items give one log line per interval, not one per call."""
        seen: list[dict] = []
        from twisted.logger import globalLogPublisher

        def observer(event: dict) -> None:
            if "P-App-Param" in str(event.get("log_format", "")):
                seen.append(event)

        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        c = Controller(self.runtime, application="$(ruri.user)")
        for _ in range(5):
            leg = FakeLeg(user="s")
            leg.request_headers = SipHeaders([("P-App-Param", "config.x=1")])
            c(leg)
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0]["call_id"], "call-1@h")
        self.runtime.reactor.advance(11)
        c(leg)
        self.assertEqual(len(seen), 2)
        self.assertEqual(seen[1]["earlier"], 4)

    def test_dialout_without_stack_is_an_error(self):
        """dlg.dialout before the SIP stack is attached fails clearly."""
        c = Controller(self.runtime)

        class Request:
            app = "s"
            ltag = ""

        self.assertRaises(RuntimeError, c.dialout, Request())


class BundlePrompts(unittest.TestCase):
    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        write_wav(os.path.join(self.base, "hello.wav"), tone([400], 60))
        with open(os.path.join(self.base, "prompts.conf"), "w") as f:
            f.write("hello=hello.wav\nbroken=missing.wav\n")
        with open(os.path.join(self.base, "de"), "w") as f:
            f.write("hello=hello.wav\n")
        self.dir = write_scripts(self, s=SCRIPT)
        self.conf = {
            "diag_path": self.dir,
            "load_diags": "s",
            "register_apps": "s",
            "load_prompts": "prompts.conf",
            "load_prompts_sets": "de",
        }
        self.runtime = Runtime(task.Clock(), base_dir=self.base)

    def test_prompts_are_decoded_when_the_bundle_loads(self):
        """A bundle's prompts are decoded at load (not per call), for every call of the bundle."""
        c = Controller(self.runtime)
        bundle = self.runtime.load_bundle("main", self.conf)
        prompts = c.prompts_for(bundle)
        self.assertEqual(prompts.default.names(), ["hello"])  # broken one left out
        self.assertEqual(prompts.names(), ["de"])
        self.assertIs(c.prompts_for(bundle), prompts)

    def test_bundles_loaded_before_the_controller_get_prompts_too(self):
        """Bundles already loaded when the controller is made get their prompts at once."""
        bundle = self.runtime.load_bundle("main", self.conf)
        c = Controller(self.runtime)
        self.assertEqual(c._prompts["main"][1].default.names(), ["hello"])
        self.assertIs(c.prompts_for(bundle), c._prompts["main"][1])

    def test_reload_decodes_again_and_load_dsm_does_not(self):
        """reloadDSMs builds fresh prompts; loadDSM (one more diagram) keeps the bundle's."""
        c = Controller(self.runtime)
        first = c.prompts_for(self.runtime.load_bundle("main", self.conf))
        second = c.prompts_for(self.runtime.load_bundle("main", self.conf))
        self.assertIsNot(first, second)
        with open(os.path.join(self.dir, "extra.dsm"), "w") as f:
            f.write(SCRIPT)
        grown = self.runtime.compile_into_main("extra", os.path.join(self.dir, "extra.dsm"))
        self.assertIs(c.prompts_for(grown), second)

    def test_required_prompt_whose_wav_fails_keeps_the_old_bundle(self):
        """required_prompts naming a prompt whose WAV will not load: the reload fails, old stays."""
        c = Controller(self.runtime)
        old = self.runtime.load_bundle("main", self.conf)
        bad = dict(self.conf, required_prompts="hello,broken")
        e = self.assertRaises(CompileError, self.runtime.load_bundle, "main", bad)
        self.assertIn("broken", str(e))
        self.assertIs(self.runtime.bundles["main"], old)
        self.assertIsNotNone(c.prompts_for(old))

    def test_calls_of_a_bundle_play_its_prompts(self):
        """A call of the bundle plays the bundle's prompt from memory."""
        c = Controller(self.runtime, application="$(ruri.user)")
        self.runtime.load_bundle("main", self.conf)
        call = c(FakeLeg(user="s"))
        call.session.require_media("playPrompt").play_prompt("hello")
        self.assertEqual([x[0] for x in call.media.calls if x[0] == "play_source"], ["play_source"])

    def test_bundle_without_prompts_has_none(self):
        """A bundle without load_prompts gets no prompt sets (its calls' playPrompt throws)."""
        c = Controller(self.runtime)
        bundle = self.runtime.load_bundle("main", {"diag_path": self.dir, "load_diags": "s"})
        self.assertIsNone(c.prompts_for(bundle))
