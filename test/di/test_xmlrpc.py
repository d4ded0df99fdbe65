"""Tests for :mod:`donkey.di.xmlrpc`: the control plane over real HTTP on
127.0.0.1 (port 0), called with :class:`twisted.web.xmlrpc.Proxy`.
"""

import datetime
import xmlrpc.client as xmlrpclib

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.xmlrpc import Fault, Proxy

from donkey.app.monitoring_di import register_monitoring
from donkey.di.registry import DIInterface, DIRegistry
from donkey.di.xmlrpc import (
    FAULT_ARGS,
    FAULT_BAD_REQUEST,
    FAULT_FAILURE,
    FAULT_NOT_IMPLEMENTED,
    FAULT_UNKNOWN_METHOD,
    AccessPolicy,
    InMemoryCoreControl,
    XmlRpcConfig,
    make_xmlrpc_service,
    marshal_response,
)
from donkey.monitoring.store import MonitoringStore

SEED_ID = "6ABC60BB-4C72F4BF0005C7FD-B6A45B70"
SEED_GRAPH = [
    "quizconnect_caller/START",
    "> got INVITE in caller leg >",
    "quizconnect_caller/RUN_INVITE",
    "> we have results >",
    "quizconnect_caller/WAIT_CALLEE",
]


def buildRegistry(store):
    """dsm (with names colliding with built-ins and monitoring), monitoring, hidden."""
    registry = DIRegistry()
    dsm = DIInterface("dsm")
    dsm.add("loadConfig", lambda args: [200, "OK"] if len(args) == 2 else [400, "usage"])
    dsm.add("calls", lambda args: "dsm calls")
    dsm.add("help", lambda args: "dsm help")
    dsm.add("boom", lambda args: 1 / 0)

    def later(args):
        d = defer.Deferred()
        reactor.callLater(0.01, d.callback, ["later", *args])
        return d

    dsm.add("later", later)
    dsm.add("never", lambda args: defer.Deferred())
    dsm.add("nothing", lambda args: None)
    dsm.add("echo", lambda args: args)
    dsm.add("_secret", lambda args: "secret")
    registry.register("dsm", dsm)
    register_monitoring(registry, store)
    other = DIInterface("other")
    other.add("help", lambda args: "other help")
    other.add("ping", lambda args: "pong")
    registry.register("other", other)
    return registry


class ServerMixin:
    """Start a real server per test with ``self.config`` on top of defaults."""

    config: dict = {}

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.store = MonitoringStore(self.clock)
        self.registry = buildRegistry(self.store)
        self.core = InMemoryCoreControl(sessions=3, calls_avg=2, calls_max=5, cps_avg=1, cps_max=4)
        config = {
            "server_ip": "127.0.0.1",
            "xmlrpc_port": "0",
            "direct_export": "dsm;monitoring",
        }
        config.update(self.config)
        self.service = make_xmlrpc_service(config, self.registry, self.core, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.port = self.service.get_port()
        self.url = b"http://127.0.0.1:%d/" % self.port

    def proxy(self, **kw):
        return Proxy(self.url, **kw)

    def call(self, method, *args):
        return self.proxy().callRemote(method, *args)

    @defer.inlineCallbacks
    def assertFault(self, d, code, *fragments):
        fault = yield self.assertFailure(d, Fault)
        self.assertEqual(fault.faultCode, code, fault.faultString)
        for fragment in fragments:
            self.assertIn(fragment, fault.faultString)
        return fault

    @defer.inlineCallbacks
    def post(self, body, method=b"POST"):
        pool = HTTPConnectionPool(reactor, persistent=False)
        agent = Agent(reactor, pool=pool)
        producer = FileBodyProducer(__import__("io").BytesIO(body)) if body is not None else None
        response = yield agent.request(
            method, self.url, Headers({b"content-type": [b"text/xml"]}), producer
        )
        content = yield readBody(response)
        yield pool.closeCachedConnections()
        return response.code, content


class BuiltinTests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_calls(self):
        """calls answers the number of sessions running now."""
        self.assertEqual((yield self.call("calls")), 3)
        self.core.sessions = 7
        self.assertEqual((yield self.call("calls")), 7)

    @defer.inlineCallbacks
    def test_loglevel(self):
        """get_loglevel answers the level and set_loglevel changes it."""
        self.assertEqual((yield self.call("get_loglevel")), 2)
        self.assertEqual((yield self.call("set_loglevel", 3)), "200 OK")
        self.assertEqual(self.core.loglevel, 3)
        self.assertEqual((yield self.call("get_loglevel")), 3)

    @defer.inlineCallbacks
    def test_shutdownmode(self):
        """get_shutdownmode answers a boolean and set_shutdownmode changes it."""
        self.assertIs((yield self.call("get_shutdownmode")), False)
        self.assertEqual((yield self.call("set_shutdownmode", True)), "200 OK")
        self.assertIs(self.core.shutdown_mode, True)
        self.assertIs((yield self.call("get_shutdownmode")), True)
        yield self.call("set_shutdownmode", 0)
        self.assertIs(self.core.shutdown_mode, False)

    @defer.inlineCallbacks
    def test_figures(self):
        """get_callsavg, get_callsmax, get_cpsavg and get_cpsmax answer the core figures."""
        self.assertEqual((yield self.call("get_callsavg")), 2)
        self.assertEqual((yield self.call("get_callsmax")), 5)
        self.assertEqual((yield self.call("get_cpsavg")), 1)
        self.assertEqual((yield self.call("get_cpsmax")), 4)

    def test_builtin_extra_argument(self):
        """A built-in given too many arguments answers fault 300."""
        return self.assertFault(self.call("calls", 1), FAULT_ARGS, "calls takes 0 arguments")

    def test_builtin_missing_argument(self):
        """A built-in given too few arguments answers fault 300."""
        return self.assertFault(self.call("set_loglevel"), FAULT_ARGS, "set_loglevel takes 1")

    def test_builtin_wrong_type(self):
        """set_loglevel with a non-integer answers fault 300."""
        return self.assertFault(
            self.call("set_loglevel", "loud"), FAULT_ARGS, "level must be an integer"
        )

    def test_shutdownmode_wrong_type(self):
        """set_shutdownmode with a non-boolean answers fault 300."""
        return self.assertFault(
            self.call("set_shutdownmode", "yes"), FAULT_ARGS, "must be a boolean"
        )

    def test_builtin_wins_over_direct_export(self):
        """dsm also has 'calls': the built-in keeps the plain name."""
        return self.call("calls").addCallback(self.assertEqual, 3)

    def test_direct_export_reachable_when_shadowed(self):
        """A direct export shadowed by a built-in is still reachable as interface.function."""
        return self.call("dsm.calls").addCallback(self.assertEqual, "dsm calls")


class DirectExportTests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_plain_and_qualified_names(self):
        """A direct export answers under its plain and its qualified name."""
        self.assertEqual((yield self.call("loadConfig", "/etc/q.conf", "quizconnect")), [200, "OK"])
        self.assertEqual(
            (yield self.call("dsm.loadConfig", "/etc/q.conf", "quizconnect")), [200, "OK"]
        )
        self.store.set("x", "k", "v")
        self.assertEqual((yield self.call("list")), ["x"])
        self.assertEqual((yield self.call("monitoring.list")), ["x"])

    @defer.inlineCallbacks
    def test_first_interface_wins(self):
        """'help' exists in dsm and other; only dsm is exported here."""
        self.assertEqual((yield self.call("help")), "dsm help")

    def test_not_exported_interface(self):
        """A function of an interface not in direct_export is an unknown method."""
        return self.assertFault(
            self.call("ping"), FAULT_UNKNOWN_METHOD, "ping: unknown method name"
        )

    def test_not_exported_qualified(self):
        """interface.function of an interface not exported is an unknown method."""
        return self.assertFault(self.call("other.ping"), FAULT_UNKNOWN_METHOD, "unknown method")

    def test_underscore_not_exported(self):
        """A function whose name starts with _ is not exported."""
        return self.assertFault(self.call("_secret"), FAULT_UNKNOWN_METHOD)

    def test_underscore_qualified_not_exported(self):
        """interface._function is not exported either."""
        return self.assertFault(self.call("dsm._secret"), FAULT_UNKNOWN_METHOD)

    def test_unknown_method(self):
        """An unknown method answers fault -1 naming it."""
        return self.assertFault(self.call("nosuch"), FAULT_UNKNOWN_METHOD, "nosuch")

    @defer.inlineCallbacks
    def test_late_registration(self):
        """Interfaces registered after the server started are found."""
        late = DIInterface("late")
        late.add("hello", lambda args: "hi")
        self.registry.register("late", late)
        self.service.resource.direct_export += ("late",)
        self.assertEqual((yield self.call("hello")), "hi")
        self.assertEqual((yield self.call("late.hello")), "hi")

    @defer.inlineCallbacks
    def test_list_methods(self):
        """system.listMethods lists built-ins, di and both names of each direct export."""
        names = yield self.call("system.listMethods")
        for name in (
            "calls",
            "di",
            "loadConfig",
            "dsm.loadConfig",
            "get",
            "monitoring.get",
            "dsm.calls",
        ):
            self.assertIn(name, names)
        self.assertEqual(names.count("calls"), 1)
        self.assertNotIn("ping", names)
        self.assertNotIn("dsm._secret", names)

    @defer.inlineCallbacks
    def test_seed_get_shape(self):
        """monitoring.get answers the shape the quizconnect tutorial shows."""
        self.store.update(
            SEED_ID,
            {"from": '"bee" <sip:5@192.168.5.106>', "app": "quizconnect_caller"},
        )
        self.store.log(SEED_ID, "dsm_state", "START")
        for step in SEED_GRAPH:
            self.store.log_add(SEED_ID, "dsm_stategraph", step)
        self.store.log(SEED_ID, "dsm_state", "WAIT_CALLEE")
        self.store.update(SEED_ID, {"dsm_diag": "quizconnect_caller", "dir": "in"})
        got = yield self.call("get", SEED_ID)
        self.assertEqual(
            got,
            [
                {
                    "from": '"bee" <sip:5@192.168.5.106>',
                    "app": "quizconnect_caller",
                    "dsm_state": "WAIT_CALLEE",
                    "dsm_stategraph": [0] + SEED_GRAPH,
                    "dsm_diag": "quizconnect_caller",
                    "dir": "in",
                }
            ],
        )
        self.assertEqual(
            list(got[0]), ["from", "app", "dsm_state", "dsm_stategraph", "dsm_diag", "dir"]
        )
        self.assertEqual(
            (yield self.call("getAttributeActive", "dsm_state")), [[SEED_ID, "WAIT_CALLEE"]]
        )
        self.assertEqual((yield self.call("get", "unknown")), [])

    @defer.inlineCallbacks
    def test_none_sent_as_zero(self):
        """As SEMS sends an undefined value: 0."""
        self.store.set("a", "other", 1)
        self.assertEqual((yield self.call("getAttributeActive", "dsm_state")), [["a", 0]])
        self.assertEqual((yield self.call("nothing")), 0)

    @defer.inlineCallbacks
    def test_value_types(self):
        """Every XML-RPC value type goes through a DI function and back unchanged."""
        value = [1, -2, 2.5, True, "s<&>", {"k": [1, {"z": "y"}]}, [], {}, "ünï€"]
        self.assertEqual((yield self.call("echo", *value)), value)

    @defer.inlineCallbacks
    def test_deferred_result(self):
        """A DI function answering later is answered when it does."""
        self.assertEqual((yield self.call("later", 1)), ["later", 1])

    @defer.inlineCallbacks
    def test_exception_in_function(self):
        """Reported as a fault with the exception, and logged with its traceback."""
        yield self.assertFault(self.call("boom"), FAULT_FAILURE, "ZeroDivisionError")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_bad_arguments_to_monitoring(self):
        """A monitoring call missing arguments answers fault 300 with SEMS's words."""
        return self.assertFault(
            self.call("get"), FAULT_ARGS, "monitoring.get", "parameter number mismatch"
        )

    def test_bad_argument_type_to_monitoring(self):
        """A monitoring call with a wrongly typed argument answers fault 300."""
        return self.assertFault(self.call("get", 17), FAULT_ARGS, "must be a string")


class TimeoutTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_timeout": "0.1"}

    def test_never_firing(self):
        """A DI function that never answers times out as fault 500."""
        return self.assertFault(self.call("never"), FAULT_FAILURE, "timed out")

    @defer.inlineCallbacks
    def test_server_still_answers(self):
        """After a timed-out call the server still answers others."""
        yield self.assertFault(self.call("never"), FAULT_FAILURE)
        self.assertEqual((yield self.call("calls")), 3)


class DITests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_di(self):
        """di(interface, function, args...) calls any registered interface."""
        self.store.set("a", "dsm_state", "RUN")
        self.assertEqual((yield self.call("di", "monitoring", "get", "a")), [{"dsm_state": "RUN"}])
        self.assertEqual((yield self.call("di", "monitoring", "listActive")), ["a"])
        self.assertEqual((yield self.call("di", "dsm", "loadConfig", "f", "n")), [200, "OK"])

    @defer.inlineCallbacks
    def test_di_reaches_not_exported_interface(self):
        """di reaches interfaces that are not directly exported."""
        self.assertEqual((yield self.call("di", "other", "ping")), "pong")

    @defer.inlineCallbacks
    def test_di_list(self):
        """di(interface, _list) answers the interface's function names."""
        self.assertIn("getAttributeActive", (yield self.call("di", "monitoring", "_list")))

    def test_di_too_few_arguments(self):
        """di without a function name answers fault 400."""
        return self.assertFault(self.call("di", "monitoring"), FAULT_BAD_REQUEST, "at least")

    def test_di_non_string_names(self):
        """di with non-string names answers fault 400."""
        return self.assertFault(self.call("di", 1, 2), FAULT_BAD_REQUEST, "must be strings")

    def test_di_unknown_interface(self):
        """di to an unknown interface answers fault 500 naming it."""
        return self.assertFault(self.call("di", "nope", "f"), FAULT_FAILURE, "'nope' not found")

    def test_di_unknown_function(self):
        """di to an unknown function answers fault 504 naming it."""
        return self.assertFault(
            self.call("di", "monitoring", "nope"), FAULT_NOT_IMPLEMENTED, "'nope' not implemented"
        )

    def test_di_bad_arguments(self):
        """di with arguments the function refuses answers fault 300."""
        return self.assertFault(
            self.call("di", "monitoring", "listByRegex", "a", "("), FAULT_ARGS, "could not compile"
        )


class ExportDIOffTests(ServerMixin, unittest.TestCase):
    config = {"export_di": "no", "direct_export": ""}

    def test_di_disabled(self):
        """With export_di=no there is no di method."""
        return self.assertFault(self.call("di", "monitoring", "list"), FAULT_UNKNOWN_METHOD)

    def test_nothing_direct(self):
        """Without direct_export no interface function is a method of its own."""
        return self.assertFault(self.call("list"), FAULT_UNKNOWN_METHOD)


class AllowNoneTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_allow_none": "yes"}

    @defer.inlineCallbacks
    def test_none_sent_as_nil(self):
        """With xmlrpc_allow_none=yes an unset value is sent as nil."""
        self.store.set("a", "other", 1)
        self.assertEqual((yield self.call("getAttributeActive", "dsm_state")), [["a", None]])


class HTTPTests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_malformed_body(self):
        """A body that is not XML answers fault 400 over HTTP 200."""
        code, body = yield self.post(b"<methodCall><oops")
        self.assertEqual(code, 200)
        fault = self.assertRaises(Fault, xmlrpclib.loads, body)
        self.assertEqual(fault.faultCode, FAULT_BAD_REQUEST)
        self.assertIn("can't parse", fault.faultString)

    @defer.inlineCallbacks
    def test_response_not_call(self):
        """A methodResponse sent as a request answers fault 400."""
        code, body = yield self.post(xmlrpclib.dumps((1,), methodresponse=True).encode())
        fault = self.assertRaises(Fault, xmlrpclib.loads, body)
        self.assertEqual(fault.faultCode, FAULT_BAD_REQUEST)

    @defer.inlineCallbacks
    def test_get_not_allowed(self):
        """GET is refused with HTTP 405."""
        code, _ = yield self.post(None, method=b"GET")
        self.assertEqual(code, 405)

    @defer.inlineCallbacks
    def test_any_path(self):
        """Like SEMS, any URL path reaches the RPC server."""
        self.url = self.url + b"RPC2"
        self.assertEqual((yield self.call("calls")), 3)

    def test_port_discoverable(self):
        """With port 0 the real port and address can be read from the service."""
        self.assertNotEqual(self.port, 0)
        self.assertEqual(self.service.port.getHost().host, "127.0.0.1")

    @defer.inlineCallbacks
    def test_stop_and_restart(self):
        """A stopped service has no port and answers again once restarted."""
        yield self.service.stopService()
        self.assertRaises(RuntimeError, self.service.get_port)
        self.service.startService()
        self.assertEqual(
            (yield Proxy(b"http://127.0.0.1:%d/" % self.service.get_port()).callRemote("calls")), 3
        )


class BasicAuthTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_user": "admin", "xmlrpc_password": "s3cret"}

    @defer.inlineCallbacks
    def test_good_credentials(self):
        """A client with the right user and password is answered."""
        proxy = self.proxy(user=b"admin", password=b"s3cret")
        self.assertEqual((yield proxy.callRemote("calls")), 3)

    @defer.inlineCallbacks
    def test_no_credentials(self):
        """A client without credentials gets HTTP 401."""
        e = yield self.assertFailure(self.call("calls"), ValueError)
        self.assertEqual(e.args[0], b"401")

    @defer.inlineCallbacks
    def test_wrong_password(self):
        """A wrong password gets HTTP 401."""
        proxy = self.proxy(user=b"admin", password=b"wrong")
        e = yield self.assertFailure(proxy.callRemote("calls"), ValueError)
        self.assertEqual(e.args[0], b"401")

    @defer.inlineCallbacks
    def test_wrong_user(self):
        """A wrong user gets HTTP 401."""
        proxy = self.proxy(user=b"root", password=b"s3cret")
        e = yield self.assertFailure(proxy.callRemote("calls"), ValueError)
        self.assertEqual(e.args[0], b"401")

    @defer.inlineCallbacks
    def test_challenge(self):
        """A 401 answer carries a basic-auth challenge."""
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = yield Agent(reactor, pool=pool).request(b"POST", self.url)
        yield readBody(response)
        self.assertEqual(response.code, 401)
        self.assertTrue(response.headers.getRawHeaders(b"www-authenticate")[0].startswith(b"Basic"))


class AllowListTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_allow": "127.0.0.1;::1"}

    def test_allowed(self):
        """A client from an allowed address is answered."""
        return self.call("calls").addCallback(self.assertEqual, 3)


class AllowNetworkTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_allow": "10.0.0.0/8; 127.0.0.0/8"}

    def test_allowed(self):
        """A client from an allowed address is answered."""
        return self.call("calls").addCallback(self.assertEqual, 3)


class DenyListTests(ServerMixin, unittest.TestCase):
    config = {"xmlrpc_allow": "10.1.2.3;::1"}

    @defer.inlineCallbacks
    def test_denied(self):
        """A client from an address not allowed gets HTTP 403."""
        e = yield self.assertFailure(self.call("calls"), ValueError)
        self.assertEqual(e.args[0], b"403")


class ConfigTests(unittest.TestCase):
    def test_defaults(self):
        """An empty xmlrpc2di.conf gives SEMS's defaults."""
        cfg = XmlRpcConfig.from_dict({})
        self.assertEqual(cfg.server_ip, "127.0.0.1")
        self.assertEqual(cfg.port, 8090)
        self.assertTrue(cfg.export_di)
        self.assertEqual(cfg.direct_export, ())
        self.assertFalse(cfg.allow_none)
        self.assertIsNone(cfg.policy.user)
        self.assertEqual(cfg.policy.allow, ())

    def test_values(self):
        """Every key of xmlrpc2di.conf is read."""
        cfg = XmlRpcConfig.from_dict(
            {
                "server_ip": "",
                "xmlrpc_port": "9000",
                "export_di": "no",
                "direct_export": "dsm; monitoring;",
                "xmlrpc_user": "u",
                "xmlrpc_password": "p",
                "xmlrpc_allow": "127.0.0.1;::1",
            }
        )
        self.assertEqual(cfg.server_ip, "")
        self.assertEqual(cfg.port, 9000)
        self.assertFalse(cfg.export_di)
        self.assertEqual(cfg.direct_export, ("dsm", "monitoring"))
        self.assertEqual((cfg.policy.user, cfg.policy.password), ("u", "p"))
        self.assertEqual(len(cfg.policy.allow), 2)

    def test_bad_values(self):
        """A malformed value is refused, naming its key."""
        for bad in (
            {"xmlrpc_port": "http"},
            {"xmlrpc_port": "70000"},
            {"xmlrpc_allow": "localhost"},
            {"xmlrpc_password": "p"},
            {"xmlrpc_timeout": "soon"},
        ):
            self.assertRaises(ValueError, XmlRpcConfig.from_dict, bad)

    def test_address_policy(self):
        """xmlrpc_allow admits the listed addresses (IPv4-mapped too) and nothing else."""
        policy = AccessPolicy(allow=AccessPolicy.parse_allow("127.0.0.1;::1"))
        self.assertTrue(policy.address_allowed("127.0.0.1"))
        self.assertTrue(policy.address_allowed("::1"))
        self.assertTrue(policy.address_allowed("::ffff:127.0.0.1"))
        self.assertFalse(policy.address_allowed("127.0.0.2"))
        self.assertFalse(policy.address_allowed(None))
        self.assertFalse(policy.address_allowed("not an address"))
        self.assertTrue(AccessPolicy().address_allowed(None))


class MarshalTests(unittest.TestCase):
    def roundtrip(self, value, allow_none=False):
        (result,), _ = xmlrpclib.loads(marshal_response(value, allow_none))
        return result

    def test_scalars(self):
        """Integers, doubles, booleans and strings go through unchanged."""
        for v in (0, -5, 2**31 - 1, 1.25, True, False, "", "x<y>&z", "ü€😀"):
            self.assertEqual(self.roundtrip(v), v)

    def test_big_int_becomes_double(self):
        """An integer beyond 32 bits is sent as a double."""
        self.assertEqual(self.roundtrip(2**40), float(2**40))

    def test_none(self):
        """None is sent as 0, or as nil when allowed."""
        self.assertEqual(self.roundtrip([None]), [0])
        self.assertEqual(self.roundtrip([None], allow_none=True), [None])

    def test_containers(self):
        """Tuples and sets become arrays, mapping keys strings."""
        self.assertEqual(self.roundtrip((1, [2, {3: None}])), [1, [2, {"3": 0}]])
        self.assertEqual(self.roundtrip({1}), [1])

    def test_binary_and_dates(self):
        """Binary data and dates go through unchanged."""
        self.assertEqual(self.roundtrip(b"\x00\xff").data, b"\x00\xff")
        when = xmlrpclib.DateTime(datetime.datetime(2010, 8, 24, 1, 54, 37))
        self.assertEqual(self.roundtrip(when), when)

    def test_other_objects_as_text(self):
        """Any other object is sent as its text."""
        self.assertEqual(self.roundtrip(object.__new__(DIRegistry)).startswith("<donkey"), True)

    def test_cycle_becomes_fault(self):
        """A result that cannot be marshalled (a cycle) becomes fault 500."""
        from donkey.di.xmlrpc import DIXmlRpcResource

        resource = DIXmlRpcResource(DIRegistry(), InMemoryCoreControl(), clock=task.Clock())
        loop = []
        loop.append(loop)
        fault = self.assertRaises(Fault, xmlrpclib.loads, resource._marshal(loop))
        self.assertEqual(fault.faultCode, FAULT_FAILURE)

    def test_compact(self):
        """The response has no whitespace between values."""
        self.assertNotIn(b"\n<value>", marshal_response([["a", "b"], ["c", "d"]]))
