"""The daemon as a user runs it: twistd donkeysm on its bundled config, sipp, XML-RPC.

Also how it fails to start: one line saying why, never a traceback.
"""

import os
import shutil
import socket
import subprocess
import sys

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from donkey.app.server import banner_lines
from test.daemon import ROOT, Daemon, free_port, sipp_available, wait_for
from test.sip.helpers import sipp_uac


class BundledDaemonTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.daemon = Daemon(self)

    async def test_hello_answers_and_caller_hangs_up(self):
        """A sipp call to hello is answered, and monitoring shows it finished in END."""
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
        """Dialling an application that does not exist gets 404."""
        await self.daemon.ready()
        sipp = sipp_uac(self, "uac_expect_404.xml", self.daemon.sip_port, ["-s", "nosuchapp"])
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, self.daemon.output()[-3000:])

    async def test_broken_reload_keeps_the_running_app(self):
        """loadConfig of a broken script answers 500 file:line:col and hello keeps answering."""
        # the bundled configuration plus a directory the control plane may load from
        conf_copy = os.path.join(os.path.abspath(self.mktemp()), "conf")
        shutil.copytree(os.path.join(ROOT, "conf"), conf_copy)
        allowed = os.path.join(os.path.dirname(conf_copy), "allowed")
        with open(os.path.join(conf_copy, "etc", "dsm.conf"), "a") as f:
            f.write(f"allowed_config_dirs={allowed}\n")
        self.daemon.stop()
        self.daemon = Daemon(self, config=os.path.join(conf_copy, "sems.conf"))
        await self.daemon.ready()
        bad = os.path.join(allowed, "broken")
        os.makedirs(bad)
        with open(os.path.join(bad, "hello.dsm"), "w") as f:
            f.write('initial state A;\ntransition "t" A - nosuch -> A;\n')
        conf = os.path.join(allowed, "broken.conf")
        with open(conf, "w") as f:
            f.write(f"diag_path={bad}\nload_diags=hello\nregister_apps=hello\n")
        code, reason = await self.daemon.call_xmlrpc("loadConfig", conf, "broken")
        self.assertEqual(code, 500)
        self.assertIn(f"{bad}/hello.dsm:2:20: unknown condition 'nosuch'", reason)
        sipp = sipp_uac(self, "uac_answer_bye.xml", self.daemon.sip_port, ["-s", "hello"])
        code, out, err = await sipp.result()
        self.assertEqual(code, 0, self.daemon.output()[-3000:])

    async def test_seed_tools_run_against_the_daemon(self):
        """The listing tool run as a file talks to the daemon with --url."""
        await self.daemon.ready()
        tools = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "donkey", "tools"
        )
        out = await self.daemon.run_tool(
            os.path.join(tools, "list_calls.py"), "--url", self.daemon.url
        )
        self.assertIn("calls: 0", out)


def _twistd(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
        "-n",
        "--pidfile=",
        "donkeysm",
        *args,
    ]


class StartupFailureTests(unittest.TestCase):
    """A daemon that cannot start says why in one line (no traceback, no usage dump)."""

    timeout = 60

    async def _fails(self, *args: str) -> tuple[int, str, str]:
        """Run twistd donkeysm, which must exit by itself; (status, stdout, stderr)."""
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        result = await deferToThread(
            subprocess.run,
            _twistd("--state-dir", os.path.join(workdir, "state"), *args),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=45,
        )
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        self.assertNotIn("Usage:", result.stdout + result.stderr)
        return result.returncode, result.stdout, result.stderr

    def _ports(self) -> list[str]:
        return ["--sip-port", str(free_port()), "--xmlrpc-port", str(free_port(socket.SOCK_STREAM))]

    async def test_missing_config(self):
        """-c with a missing file: one line naming the file, exit status 1."""
        missing = os.path.abspath(self.mktemp())
        code, out, err = await self._fails("-c", missing)
        self.assertEqual(
            (code, err), (1, f"donkeysm: cannot read {missing}: No such file or directory\n")
        )

    async def test_script_error_in_a_bundle(self):
        """A bundle script that does not compile: its file:line:col: message lines, exit 1."""
        conf = os.path.abspath(self.mktemp())
        shutil.copytree(os.path.join(ROOT, "conf"), conf)
        caller = os.path.join(conf, "dsm", "quizconnect", "quizconnect_caller.dsm")
        with open(caller, "a") as f:
            f.write('transition "oops" START - nosuch -> NOWHERE;\n')
        with open(caller) as f:
            lines = len(f.readlines())
        code, out, err = await self._fails("-c", os.path.join(conf, "sems.conf"), *self._ports())
        self.assertEqual(code, 1)
        self.assertEqual(
            err.splitlines(),
            [
                "donkeysm: cannot load DSM scripts:",
                f"{caller}:{lines}:27: unknown condition 'nosuch' (missing import?)",
            ],
        )

    async def test_xmlrpc_port_in_use(self):
        """A taken XML-RPC port is named in one line."""
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await self._fails(
            "--sip-port", str(free_port()), "--xmlrpc-port", str(port)
        )
        self.assertEqual(
            (code, err),
            (
                1,
                f"donkeysm: cannot listen for XML-RPC on tcp:127.0.0.1:{port}: "
                "already in use (is another donkey running?)\n",
            ),
        )

    async def test_second_daemon_on_the_same_sip_port_is_refused(self):
        """A second daemon on a running one's SIP address fails, naming the port."""
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        first = Daemon(self)
        await first.ready()
        code, out, err = await self._fails(
            "--sip-port",
            str(first.sip_port),
            "--xmlrpc-port",
            str(free_port(socket.SOCK_STREAM)),
        )
        self.assertEqual(
            (code, err),
            (
                1,
                f"donkeysm: cannot listen for SIP on udp:127.0.0.1:{first.sip_port}: "
                "already in use (is another donkey running?)\n",
            ),
        )
        # the first one's socket is its own: not even SO_REUSEADDR/SO_REUSEPORT can share it
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(other.close)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.assertRaises(OSError, other.bind, ("127.0.0.1", first.sip_port))
        # and it still answers calls
        sipp = sipp_uac(self, "uac_answer_bye.xml", first.sip_port, ["-s", "hello"])
        code, _, _ = await sipp.result()
        self.assertEqual(code, 0, first.output()[-3000:])


class BannerTests(unittest.TestCase):
    def test_default_ports_give_the_plain_commands(self):
        """On 5060/8090 the banner's sipp lines dial 5060 and the tool needs no --url."""
        lines = banner_lines(
            "127.0.0.1:5060", "127.0.0.1", 8090, ["hello", "quizconnect_caller"], "127.0.0.1:5080"
        )
        self.assertEqual(
            lines,
            [
                "donkey is up: SIP udp:127.0.0.1:5060, XML-RPC http://127.0.0.1:8090; "
                "applications: hello, quizconnect_caller",
                "  call the hello app:  sipp -sn uac -s hello 127.0.0.1:5060 -i 127.0.0.1 -p 5070 -m 1",
                "  quizconnect: answer for the callees with  sipp -sn uas -i 127.0.0.1 "
                "-mi 127.0.0.1 -p 5080",
                "               then dial 35:  sipp -sn uac -s 35 127.0.0.1:5060 -i 127.0.0.1 "
                "-p 5070 -m 1",
                "  watch the calls:  sems-list-active-calls --full",
            ],
        )

    def test_other_ports_are_in_the_commands(self):
        """On other ports the sipp lines dial them, avoid them locally, and the tool gets --url."""
        lines = banner_lines("127.0.0.1:5070", "127.0.0.1", 9000, ["hello"])
        self.assertEqual(
            lines[1:],
            [
                "  call the hello app:  sipp -sn uac -s hello 127.0.0.1:5070 -i 127.0.0.1 -p 5071 -m 1",
                "  watch the calls:  sems-list-active-calls --full --url http://127.0.0.1:9000",
            ],
        )

    async def test_running_daemon_prints_its_own_ports(self):
        """The daemon's banner names the ports it was started on."""
        daemon = Daemon(self)
        await daemon.ready()
        want = f"sems-list-active-calls --full --url http://127.0.0.1:{daemon.xmlrpc_port}"
        await wait_for(lambda: want in daemon.output(), what="the banner")
        self.assertIn(f"sipp -sn uac -s hello 127.0.0.1:{daemon.sip_port} ", daemon.output())
