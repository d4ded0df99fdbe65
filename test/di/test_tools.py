"""The operator tools, run as child processes against a served store with three fake calls.

The calls are those of the quizconnect tutorial.  The two seed scripts in
``tools/`` hardcode http://127.0.0.1:8090, so their tests need that port; the
tools in ``donkey/tools`` take ``--url`` (or ``$DONKEY_XMLRPC_URL``) and use a
free port.
"""

import os
import sys

from twisted.internet import defer, error, reactor, task
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from donkey.app.monitoring_di import register_monitoring
from donkey.di.registry import DIInterface, DIRegistry
from donkey.di.xmlrpc import InMemoryCoreControl, make_xmlrpc_service
from donkey.monitoring.store import MonitoringStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")  # the seed's two scripts, byte for byte
DONKEY_TOOLS = os.path.join(ROOT, "donkey", "tools")

CALLER = "6ABC60BB-4C72F4BF0005C7FD-B6A45B70"
CALLEE_1 = "19D97994-4C72F4BF0006A862-B65D5B70"
CALLEE_2 = "3EC2A856-4C72F4BF00062B82-B65D5B70"

CALLER_GRAPH = [
    "quizconnect_caller/START",
    "> got INVITE in caller leg >",
    "quizconnect_caller/RUN_INVITE",
    "> we have results >",
    "quizconnect_caller/CREATE_CALLEE_LEGS",
    "> create one more >",
    "quizconnect_caller/CREATE_CALLEE_LEGS",
    "> create one more >",
    "quizconnect_caller/CREATE_CALLEE_LEGS",
    "> done creating callee legs >",
    "quizconnect_caller/WAIT_CALLEE",
    "quizconnect_caller/START",
    "> got INVITE in caller leg >",
    "quizconnect_caller/WAIT_CALLEE",
]
CALLEE_GRAPH = [
    "quizconnect_callee/START",
    "> got INVITE in callee leg >",
    "quizconnect_callee/RUN_INVITE",
    "quizconnect_callee/START",
    "> session starts in callee leg >",
    "quizconnect_callee/ENTER_PIN",
]

#: What the tutorial shows sems_get_session.py printing for the caller leg.
SEED_GET_SESSION = """\
calls: 3
attrib                                 val
from                "bee" <sip:5@192.168.5.106>
ruri                sip:35@192.168.5.106
app                 quizconnect_caller
to                  <sip:35@192.168.5.106>
dsm_state           WAIT_CALLEE
dsm_stategraph      [0, 'quizconnect_caller/START', '> got INVITE in caller leg >', \
'quizconnect_caller/RUN_INVITE', '> we have results >', 'quizconnect_caller/CREATE_CALLEE_LEGS', \
'> create one more >', 'quizconnect_caller/CREATE_CALLEE_LEGS', '> create one more >', \
'quizconnect_caller/CREATE_CALLEE_LEGS', '> done creating callee legs >', \
'quizconnect_caller/WAIT_CALLEE', 'quizconnect_caller/START', '> got INVITE in caller leg >', \
'quizconnect_caller/WAIT_CALLEE']
dsm_diag            quizconnect_caller
dir                 in
"""

SEED_SESSIONS_STATES = """\
calls: 3
call id                                 state
6ABC60BB-4C72F4BF0005C7FD-B6A45B70     WAIT_CALLEE
19D97994-4C72F4BF0006A862-B65D5B70     ENTER_PIN
3EC2A856-4C72F4BF00062B82-B65D5B70     ENTER_PIN
"""


def fillStore(store):
    """The three legs of the tutorial, written the way DSM writes them."""
    legs = [
        (CALLER, '"bee" <sip:5@192.168.5.106>', "35", "", "quizconnect_caller", "in",
         CALLER_GRAPH, "WAIT_CALLEE"),
        (CALLEE_1, "<sip:quizconnect@192.168.5.106:5080>", "john", ":5080", "quizconnect_callee",
         "out", CALLEE_GRAPH, "ENTER_PIN"),
        (CALLEE_2, "<sip:quizconnect@192.168.5.106:5080>", "anna", ":5080", "quizconnect_callee",
         "out", CALLEE_GRAPH, "ENTER_PIN"),
    ]  # fmt: skip
    for ident, frm, user, port, app, direction, graph, state in legs:
        store.log(ident, "from", frm)
        store.log(ident, "ruri", "sip:%s@192.168.5.106%s" % (user, port))
        store.log(ident, "app", app)
        store.log(ident, "to", "<sip:%s@192.168.5.106%s>" % (user, port))
        store.log(ident, "dsm_state", "START")
        for step in graph:
            store.log_add(ident, "dsm_stategraph", step)
        store.log(ident, "dsm_state", state)
        store.log(ident, "dsm_diag", app)
        store.log(ident, "dir", direction)


class ToolsTestCase(unittest.TestCase):
    port = "0"

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.store = MonitoringStore(self.clock)
        fillStore(self.store)
        self.registry = DIRegistry()
        register_monitoring(self.registry, self.store)
        dsm = DIInterface("dsm")
        self.loaded = []

        @dsm.function("loadConfig")
        def loadConfig(args):
            self.loaded.append(args)
            if args[0].endswith(".conf"):
                return [200, "OK"]
            return [500, "cannot load %s" % args[0]]

        self.registry.register("dsm", dsm)
        self.core = InMemoryCoreControl(sessions=3)
        self.service = make_xmlrpc_service(
            {"xmlrpc_port": self.port, "export_di": "yes", "direct_export": "dsm;monitoring"},
            self.registry,
            self.core,
            reactor,
        )
        try:
            self.service.startService()
        except error.CannotListenError as e:
            raise unittest.SkipTest(  # noqa: B904
                "127.0.0.1:%s is in use (%s); the seed scripts hardcode that port" % (self.port, e)
            )
        self.addCleanup(self.service.stopService)
        self.url = "http://127.0.0.1:%d" % self.service.get_port()

    @defer.inlineCallbacks
    def run_tool(self, script, *args, env=None, cwd=ROOT):
        """Run ``tools/script`` with ``args``; fires with (stdout, stderr, exit code)."""
        environ = {k: v for k, v in os.environ.items() if k != "DONKEY_XMLRPC_URL"}
        environ.update(env or {})
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            [os.path.join(TOOLS if script.startswith("sems_") else DONKEY_TOOLS, script), *args],
            env=environ,
            path=cwd,
        )
        return out.decode(), err.decode(), code


class SeedToolsTests(ToolsTestCase):
    """The tutorial's scripts, byte for byte, against port 8090."""

    port = "8090"

    @defer.inlineCallbacks
    def test_sessions_states(self):
        """sems_sessions_states.py prints the tutorial's table of calls and states."""
        out, err, code = yield self.run_tool("sems_sessions_states.py")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, SEED_SESSIONS_STATES)

    @defer.inlineCallbacks
    def test_get_session(self):
        """sems_get_session.py prints the tutorial's attributes of the caller leg."""
        out, err, code = yield self.run_tool("sems_get_session.py", CALLER)
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, SEED_GET_SESSION)

    @defer.inlineCallbacks
    def test_get_session_unknown(self):
        """An unknown call ID prints "call not found" and exits 1."""
        out, err, code = yield self.run_tool("sems_get_session.py", "nope")
        self.assertEqual(code, 1)
        self.assertEqual(out, "calls: 3\ncall not found\n")

    @defer.inlineCallbacks
    def test_get_session_usage(self):
        """Without a call ID the seed script prints its usage and exits 1."""
        out, err, code = yield self.run_tool("sems_get_session.py")
        self.assertEqual(code, 1)
        self.assertIn("usage:", out)


class SeedScriptTextTests(unittest.TestCase):
    """The scripts are the tutorial's listings, unmodified."""

    def listing(self, name):
        seed = os.path.join(os.path.dirname(ROOT), "shared", "seeds", "000_528541bc77925b40.txt")
        if not os.path.exists(seed):
            raise unittest.SkipTest("shared/ seeds not beside the checkout")
        lines = open(seed, encoding="utf-8").read().split("\n")
        start = lines.index("$ cat %s" % name) + 1
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("-------"))
        return "\n".join(lines[start:end]) + "\n"

    def test_identical(self):
        """The seed scripts are the tutorial's listings byte for byte."""
        for name in ("sems_sessions_states.py", "sems_get_session.py"):
            with open(os.path.join(TOOLS, name), encoding="utf-8") as f:
                self.assertEqual(f.read(), self.listing(name), name)


class UrlToolsTests(ToolsTestCase):
    @defer.inlineCallbacks
    def test_url_from_environment(self):
        """Without --url the tools use $DONKEY_XMLRPC_URL (a server on another port)."""
        out, err, code = yield self.run_tool("list_calls.py", env={"DONKEY_XMLRPC_URL": self.url})
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith("calls: 3\n"), out)

    @defer.inlineCallbacks
    def test_url_option_beats_environment(self):
        """--url wins over $DONKEY_XMLRPC_URL."""
        out, err, code = yield self.run_tool(
            "list_calls.py", "--url", self.url, env={"DONKEY_XMLRPC_URL": "http://127.0.0.1:1"}
        )
        self.assertEqual((code, err), (0, ""))

    @defer.inlineCallbacks
    def test_reload_config_relative_path_is_made_absolute(self):
        """donkey-reload-config myapp.conf sends the path as seen from where the tool runs."""
        here = os.path.abspath(self.mktemp())
        os.makedirs(here)
        out, err, code = yield self.run_tool(
            "reload_config.py", "--url", self.url, "myapp.conf", "myapp", cwd=here
        )
        self.assertEqual((code, out), (0, "200 OK\n"))
        self.assertEqual(self.loaded, [[os.path.join(here, "myapp.conf"), "myapp"]])

    @defer.inlineCallbacks
    def test_list_calls(self):
        """sems-list-calls prints the call count and every call ID."""
        self.store.mark_finished(CALLEE_2)
        out, err, code = yield self.run_tool("list_calls.py", "--url", self.url)
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "calls: 3\n%s\n%s\n%s\n" % (CALLER, CALLEE_1, CALLEE_2))

    @defer.inlineCallbacks
    def test_list_calls_full(self):
        """--full adds every attribute of each call."""
        out, err, code = yield self.run_tool("list_calls.py", "--url", self.url, "--full")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertIn("----- %s -----" % CALLEE_1, lines)
        self.assertIn("ruri                sip:anna@192.168.5.106:5080", lines)
        self.assertEqual(lines.count("attrib                                 val"), 3)

    @defer.inlineCallbacks
    def test_list_active_calls(self):
        """sems-list-active-calls leaves out finished calls."""
        self.store.mark_finished(CALLEE_2)
        out, err, code = yield self.run_tool("list_active_calls.py", "--url", self.url)
        self.assertEqual((code, out), (0, "calls: 3\n%s\n%s\n" % (CALLER, CALLEE_1)))

    @defer.inlineCallbacks
    def test_list_finished_calls(self):
        """sems-list-finished-calls shows only finished calls."""
        self.store.mark_finished(CALLEE_2)
        out, err, code = yield self.run_tool("list_finished_calls.py", "--url", self.url)
        self.assertEqual((code, out), (0, "calls: 3\n%s\n" % CALLEE_2))

    @defer.inlineCallbacks
    def test_get_callproperties(self):
        """sems-get-callproperties prints one call's attributes in the seed layout."""
        out, err, code = yield self.run_tool("get_callproperties.py", "--url", self.url, CALLER)
        self.assertEqual((code, out), (0, SEED_GET_SESSION))

    @defer.inlineCallbacks
    def test_get_callproperties_unknown(self):
        """An unknown call ID prints "call not found" and exits 1."""
        out, err, code = yield self.run_tool("get_callproperties.py", "--url", self.url, "x")
        self.assertEqual((code, out), (1, "calls: 3\ncall not found\n"))

    @defer.inlineCallbacks
    def test_reload_config(self):
        """donkey-reload-config prints 200 OK and the server gets the file and name."""
        conf = "/usr/local/etc/sems/dsm/quizconnect.conf"
        out, err, code = yield self.run_tool(
            "reload_config.py", "--url", self.url, conf, "quizconnect"
        )
        self.assertEqual((code, out), (0, "200 OK\n"))
        self.assertEqual(self.loaded, [[conf, "quizconnect"]])

    @defer.inlineCallbacks
    def test_reload_config_fails(self):
        """A refused load prints the server's 500 reason and exits 1."""
        out, err, code = yield self.run_tool("reload_config.py", "--url", self.url, "/x", "q")
        self.assertEqual((code, out), (1, "500 cannot load /x\n"))

    @defer.inlineCallbacks
    def test_fault(self):
        """An XML-RPC fault is one error line on stderr, exit 1."""
        self.registry.unregister("dsm")
        out, err, code = yield self.run_tool("reload_config.py", "--url", self.url, "a.conf", "q")
        self.assertEqual(code, 1)
        self.assertIn("'dsm' not found", err)

    @defer.inlineCallbacks
    def test_unreachable(self):
        """A server that is not there: "cannot reach" on stderr, exit 1."""
        yield self.service.stopService()
        out, err, code = yield self.run_tool("list_calls.py", "--url", self.url)
        self.assertEqual(code, 1)
        self.assertIn("cannot reach", err)

    def test_importable(self):
        """Every console command (sems-list-calls, ...) has its donkey.tools.X:main."""
        import donkey.tools.get_callproperties
        import donkey.tools.list_active_calls
        import donkey.tools.list_calls
        import donkey.tools.list_finished_calls
        import donkey.tools.reload_config

        for module in (
            donkey.tools.list_calls,
            donkey.tools.list_active_calls,
            donkey.tools.list_finished_calls,
            donkey.tools.get_callproperties,
            donkey.tools.reload_config,
        ):
            self.assertTrue(callable(module.main))
