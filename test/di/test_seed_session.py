"""The seed's XML-RPC session, replayed from a separate process against a live daemon.

Two calls are up (sipp) in the bundled ``hello`` app; a Python 3 rendering of
the tutorial's interactive session, and the tutorial's two tools as printed,
run as child processes.  The tools hardcode http://127.0.0.1:8090; they run
in a private network namespace whose 127.0.0.1:8090 reaches the daemon's
freely chosen XML-RPC port (:meth:`test.daemon.Daemon.run_seed_tool`), so the
test never depends on 8090 being free on the host.
"""

import ast
import os
import shutil

from twisted.trial import unittest

from test.daemon import ROOT, Daemon, sipp_available, wait_for
from test.sip.helpers import sipp_uac

SEED_SESSION = """\
from xmlrpc.client import *
s = ServerProxy('http://localhost:8090')
print(repr(s.calls()))
print(repr(s.loadConfig({conf!r}, 'quizconnect')))
print(repr(s.list()))
for call_id in s.list():
    print(repr(s.get(call_id)))
print(repr(s.getAttributeActive('dsm_state')))
"""

POKE = """\
from xmlrpc.client import *
s = ServerProxy('http://localhost:8090')
print(repr(s.postDSMEvent({call_id!r}, [['action', 'pause']])))
print(repr(s.postDSMEvent('no-such-call', [['action', 'pause']])))
"""


class ReloadTests(unittest.TestCase):
    timeout = 60

    async def test_reload_from_an_allowed_directory_sends_reload(self):
        """A bundle loaded from an allowed_config_dirs directory starts its system DSMs with 'reload'."""
        workdir = os.path.abspath(self.mktemp())
        conf = os.path.join(workdir, "conf")
        shutil.copytree(os.path.join(ROOT, "conf"), conf)
        bundles = os.path.join(workdir, "bundles")
        os.makedirs(bundles)
        with open(os.path.join(conf, "etc", "dsm.conf"), "a") as f:
            f.write(f"allowed_config_dirs={bundles}\n")
        daemon = Daemon(self, config=os.path.join(conf, "sems.conf"))
        await daemon.ready()
        counter_conf = os.path.join(bundles, "counter.conf")
        with open(counter_conf, "w") as f:
            f.write(
                f"diag_path={conf}/dsm\nload_diags=call_counter\nrun_system_dsms=call_counter\n"
            )
        outside = os.path.join(workdir, "counter.conf")
        shutil.copy(counter_conf, outside)
        code, _ = await daemon.call_xmlrpc("loadConfig", outside, "counter")
        self.assertEqual(code, 403)
        self.assertEqual(
            await daemon.call_xmlrpc("loadConfig", counter_conf, "counter"), [200, "OK"]
        )
        await wait_for(
            lambda: "call_counter: started by a reload" in daemon.output(),
            what="the reloaded counter",
        )
        daemon.stop()
        # the first counter and the reloaded one
        self.assertEqual(daemon.output().count("call_counter: shutting down after 0 calls"), 2)


class SeedSessionTests(unittest.TestCase):
    timeout = 90

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.daemon = Daemon(self)

    async def python(self, source: str) -> list:
        path = os.path.join(self.daemon.workdir, "session.py")
        with open(path, "w") as f:
            f.write(source)
        out = await self.daemon.run_seed_tool(path)
        return [ast.literal_eval(line) for line in out.splitlines()]

    async def test_seed_session_tools_and_post_event(self):
        """The tutorial's session, tools and postDSMEvent print what the tutorial shows."""
        await self.daemon.ready()
        calls = [
            sipp_uac(
                self, "uac_hold_call.xml", self.daemon.sip_port, ["-s", "hello", "-d", "12000"]
            )
            for _ in range(2)
        ]
        await wait_for(lambda: self.daemon.call_xmlrpc("calls"), what="two calls up")
        await wait_for(lambda: _both_listening(self.daemon), what="both calls in LISTENING")

        conf = os.path.join(ROOT, "conf", "dsm", "quizconnect.conf")
        n_calls, reload, ids, *rest = await self.python(SEED_SESSION.format(conf=conf))
        props, states = rest[:-1], rest[-1]
        self.assertEqual(n_calls, 2)
        self.assertEqual(reload, [200, "OK"])
        self.assertEqual(len(ids), 2)
        for (p,) in props:
            self.assertEqual(
                set(p),
                {"from", "ruri", "app", "to", "dsm_state", "dsm_stategraph", "dsm_diag", "dir"},
            )
            self.assertEqual(
                (p["app"], p["dir"], p["dsm_diag"], p["dsm_state"]),
                ("hello", "in", "hello", "LISTENING"),
            )
            self.assertTrue(p["from"].startswith('"bee" <sip:5@127.0.0.1'), p["from"])
            self.assertEqual(
                p["dsm_stategraph"],
                [
                    0,
                    "hello/START",
                    "> invite >",
                    "hello/ANSWERING",
                    "hello/START",
                    "> session start >",
                    "hello/LISTENING",
                ],
            )
        self.assertEqual(sorted(states), sorted([[i, "LISTENING"] for i in ids]))

        tools = os.path.join(ROOT, "tools")
        out = await self.daemon.run_seed_tool(os.path.join(tools, "sems_sessions_states.py"))
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["calls: 2", "call id                                 state"])
        self.assertEqual(sorted(lines[2:]), sorted(f"{i}     LISTENING" for i in ids))
        out = await self.daemon.run_seed_tool(os.path.join(tools, "sems_get_session.py"), ids[0])
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["calls: 2", "attrib                                 val"])
        self.assertIn("app                 hello", lines)
        self.assertIn("dsm_state           LISTENING", lines)

        ok, missing = await self.python(POKE.format(call_id=ids[0]))
        self.assertEqual((ok, missing), ([200, "OK"], [404, "Session not found"]))
        (p,) = await self.daemon.call_xmlrpc("get", ids[0])
        self.assertEqual(p["dsm_state"], "PAUSED")
        self.assertEqual(p["dsm_stategraph"][-2:], ["> pause >", "hello/PAUSED"])

        for sipp in calls:
            code, out, err = await sipp.result()
            self.assertEqual(code, 0, self.daemon.output()[-3000:])
        self.assertEqual(await self.daemon.call_xmlrpc("calls"), 0)
        log = self.daemon.output()
        self.assertIn("call_counter: started", log)
        self.assertIn("call_counter: 2 calls, 2 active", log)
        self.assertIn("call_counter: 2 calls, 0 active", log)
        self.assertIn("quizconnect: created the callees table", log)  # startup of the bundle

        self.daemon.stop()
        log = self.daemon.output()
        self.assertIn("call_counter: shutting down after 2 calls", log)  # the first counter


async def _both_listening(daemon):
    states = await daemon.call_xmlrpc("getAttributeActive", "dsm_state")
    return len(states) == 2 and all(state == "LISTENING" for _, state in states)
