"""The daemon as a user runs it: twistd donkeysm on its bundled config, sipp, XML-RPC."""

import os

from twisted.trial import unittest

from test.daemon import Daemon, sipp_available
from test.sip.helpers import sipp_uac


class BundledDaemonTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.daemon = Daemon(self)

    async def test_hello_answers_and_caller_hangs_up(self):
        await self.daemon.ready()
        sipp = sipp_uac(self, "uac_answer_bye.xml", self.daemon.sip_port, ["-s", "hello"])
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, self.daemon.output()[-3000:])
        ids = await self.daemon.call_xmlrpc("listFinished")
        self.assertEqual(len(ids), 1)
        (props,) = await self.daemon.call_xmlrpc("get", ids[0])
        self.assertEqual(
            (props["app"], props["dir"], props["ruri"]),
            ("hello", "in", f"sip:hello@127.0.0.1:{self.daemon.sip_port}"),
        )
        self.assertEqual(
            props["dsm_stategraph"][:4], [0, "hello/START", "> invite >", "hello/ANSWERING"]
        )
        self.assertEqual(props["dsm_state"], "END")
        self.assertEqual(await self.daemon.call_xmlrpc("calls"), 0)

    async def test_unknown_application_gets_404(self):
        await self.daemon.ready()
        sipp = sipp_uac(self, "uac_expect_404.xml", self.daemon.sip_port, ["-s", "nosuchapp"])
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, self.daemon.output()[-3000:])

    async def test_broken_reload_keeps_the_running_app(self):
        await self.daemon.ready()
        bad = os.path.join(self.daemon.workdir, "broken")
        os.makedirs(bad)
        with open(os.path.join(bad, "hello.dsm"), "w") as f:
            f.write('initial state A;\ntransition "t" A - nosuch -> A;\n')
        conf = os.path.join(self.daemon.workdir, "broken.conf")
        with open(conf, "w") as f:
            f.write(f"diag_path={bad}\nload_diags=hello\nregister_apps=hello\n")
        code, reason = await self.daemon.call_xmlrpc("loadConfig", conf, "broken")
        self.assertEqual(code, 500)
        self.assertIn(f"{bad}/hello.dsm:2:20: unknown condition 'nosuch'", reason)
        sipp = sipp_uac(self, "uac_answer_bye.xml", self.daemon.sip_port, ["-s", "hello"])
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, self.daemon.output()[-3000:])

    async def test_seed_tools_run_against_the_daemon(self):
        await self.daemon.ready()
        tools = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "donkey", "tools"
        )
        out = await self.daemon.run_tool(
            os.path.join(tools, "list_calls.py"), "--url", self.daemon.url
        )
        self.assertIn("calls: 0", out)
