"""The control plane as an administrator's door: who may call, and replies every client parses."""

from __future__ import annotations

import xmlrpc.client as xmlrpclib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.test.requesthelper import DummyRequest
from twisted.web.xmlrpc import Fault, Proxy

from donkey.app.monitoring_di import register_monitoring
from donkey.di.guard import GuardResource
from donkey.di.registry import DIError, DIInterface, DIRegistry
from donkey.di.xmlrpc import AccessPolicy, InMemoryCoreControl, XmlRpcConfig, make_xmlrpc_service
from donkey.di.xmlrpc.marshalling import REPLACEMENT, marshal_response
from donkey.monitoring.store import MonitoringStore


class Counting(DIInterface):
    """A DI interface that counts the calls that reached it."""

    def __init__(self) -> None:
        super().__init__("probe")
        self.calls = 0

        def ping(args: list[Any]) -> str:
            self.calls += 1
            return "pong"

        def nul(args: list[Any]) -> str:
            raise DIError("script", "bad token '\x00' in hello.dsm")

        self.add("ping", ping)
        self.add("nul", nul)


class Server:
    """A real XML-RPC service on 127.0.0.1 port 0 with ``config`` on top of the defaults."""

    def __init__(self, case: unittest.TestCase, config: dict[str, str]) -> None:
        self.store = MonitoringStore(task.Clock())
        self.registry = DIRegistry()
        register_monitoring(self.registry, self.store)
        self.probe = Counting()
        self.registry.register("probe", self.probe)
        conf = {"server_ip": "127.0.0.1", "xmlrpc_port": "0", "direct_export": "probe;monitoring"}
        conf.update(config)
        self.service = make_xmlrpc_service(conf, self.registry, InMemoryCoreControl(), reactor)
        self.service.startService()
        case.addCleanup(self.service.stopService)
        self.url = b"http://127.0.0.1:%d/" % self.service.get_port()

    def proxy(self, **kw: Any) -> Proxy:
        return Proxy(self.url, **kw)


class Refusals(unittest.TestCase):
    @defer.inlineCallbacks
    def test_wrong_credentials_never_reach_di_code(self) -> None:
        """A caller without the password gets 401 and no DI function runs."""
        srv = Server(self, {"xmlrpc_user": "admin", "xmlrpc_password": "pw"})
        e = yield self.assertFailure(srv.proxy().callRemote("ping"), ValueError)
        self.assertEqual(e.args[0], b"401")
        self.assertEqual(srv.probe.calls, 0)
        ok = yield srv.proxy(user=b"admin", password=b"pw").callRemote("ping")
        self.assertEqual((ok, srv.probe.calls), ("pong", 1))

    @defer.inlineCallbacks
    def test_address_not_allowed_never_reaches_di_code(self) -> None:
        """A client outside xmlrpc_allow (comma-separated) gets 403 and no DI function runs."""
        srv = Server(self, {"xmlrpc_allow": "10.0.0.0/8,::1"})
        e = yield self.assertFailure(srv.proxy().callRemote("ping"), ValueError)
        self.assertEqual(e.args[0], b"403")
        self.assertEqual(srv.probe.calls, 0)

    @defer.inlineCallbacks
    def test_other_paths_are_guarded_too(self) -> None:
        """Any path of the site (a /metrics next to XML-RPC) is refused before it is rendered."""
        srv = Server(self, {"xmlrpc_user": "admin", "xmlrpc_password": "pw"})
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = yield Agent(reactor, pool=pool).request(b"GET", srv.url + b"metrics")
        yield readBody(response)
        self.assertEqual(response.code, 401)

    def test_guard_protects_a_tree_with_children(self) -> None:
        """A GuardResource in front of a root with children refuses before any child renders."""
        rendered: list[bytes] = []

        class Leaf(resource.Resource):
            isLeaf = True

            def render_GET(self, request: server.Request) -> bytes:
                rendered.append(b"/".join(request.prepath))
                return b"secret"

        root = resource.Resource()
        root.putChild(b"metrics", Leaf())
        guard = GuardResource(root, AccessPolicy(user="admin", password="pw"))
        site = server.Site(guard)

        def request_as(user: bytes, password: bytes) -> DummyRequest:
            request = DummyRequest([b"metrics"])
            request.getUser = lambda: user  # type: ignore[attr-defined]
            request.getPassword = lambda: password  # type: ignore[attr-defined]
            return request

        request = request_as(b"", b"")
        child = resource.getChildForRequest(site.resource, request)
        self.assertEqual(child.render(request), b"authorization required\n")
        self.assertEqual((request.responseCode, rendered), (401, []))

        allowed = request_as(b"admin", b"pw")
        child = resource.getChildForRequest(site.resource, allowed)
        self.assertEqual(child.render(allowed), b"secret")
        self.assertEqual(rendered, [b"metrics"])


class Exposure(unittest.TestCase):
    def test_non_loopback_without_auth_is_refused(self) -> None:
        """Listening on every address or a LAN address without a password is refused, naming why."""
        for ip in ("", "0.0.0.0", "192.0.2.7", "::", "donkey.example"):
            with self.assertRaises(ValueError) as caught:
                make_xmlrpc_service({"server_ip": ip, "xmlrpc_port": "0"}, DIRegistry(), None)  # type: ignore[arg-type]
            self.assertIn("not a loopback address", str(caught.exception))
        with_user_only = {"server_ip": "0.0.0.0", "xmlrpc_user": "admin"}
        self.assertIsNotNone(XmlRpcConfig.from_dict(with_user_only).exposure_problem())

    def test_loopback_or_authenticated_may_listen(self) -> None:
        """Loopback needs nothing; any other address needs xmlrpc_user and xmlrpc_password."""
        for conf in (
            {},
            {"server_ip": "127.0.0.1"},
            {"server_ip": "::1"},
            {"server_ip": "localhost"},
            {"server_ip": "0.0.0.0", "xmlrpc_user": "a", "xmlrpc_password": "b"},
        ):
            self.assertIsNone(XmlRpcConfig.from_dict(conf).exposure_problem(), conf)


class XmlSafeValues(unittest.TestCase):
    @defer.inlineCallbacks
    def test_control_characters_from_sip_reach_clients_parseable(self) -> None:
        """A From display name with ESC and SOH comes back through getAttributeActive, parseable."""
        srv = Server(self, {})
        srv.store.set("call-1", "from", '"\x1b\x01Mallory" <sip:m@example.com>')
        answer = yield srv.proxy().callRemote("getAttributeActive", "from")
        self.assertEqual(
            answer, [["call-1", f'"{REPLACEMENT}{REPLACEMENT}Mallory" <sip:m@example.com>']]
        )

    @defer.inlineCallbacks
    def test_error_text_quoting_a_nul_is_a_parseable_fault(self) -> None:
        """A DSM error quoting a NUL arrives as a fault the client can read."""
        srv = Server(self, {})
        fault = yield self.assertFailure(srv.proxy().callRemote("nul"), Fault)
        self.assertIn(f"bad token '{REPLACEMENT}'", fault.faultString)


# Anything a monitoring store can hold: strings of any code points, numbers,
# booleans, None, and lists/dicts of them.
_scalars = (
    st.text()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
    | st.binary(max_size=64)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


class MarshallingProperties(unittest.TestCase):
    @settings(max_examples=300, deadline=None)
    @given(_values, st.booleans())
    def test_any_value_marshals_to_parseable_xml(self, value: Any, allow_none: bool) -> None:
        """Whatever a store holds, the reply parses with xmlrpc.client."""
        (result,), _ = xmlrpclib.loads(marshal_response(value, allow_none))
        if isinstance(value, str) and value.isprintable():
            self.assertEqual(result, value)

    @settings(max_examples=200, deadline=None)
    @given(st.integers(), st.text())
    def test_any_fault_marshals_to_parseable_xml(self, code: int, text: str) -> None:
        """Any fault code and text give a fault reply xmlrpc.client parses."""
        with self.assertRaises(xmlrpclib.Fault) as caught:
            xmlrpclib.loads(marshal_response(Fault(code, text)))
        self.assertIsInstance(caught.exception.faultCode, int)


class StartupRefusal(unittest.TestCase):
    def test_daemon_refuses_network_listening_without_auth(self) -> None:
        """The daemon's start-up check stops it in one line when XML-RPC would be open to the network."""
        from donkey.app.server import StartupError, check_ports
        from donkey.config import load_server_config

        cfg = load_server_config()
        cfg.xmlrpc["server_ip"] = "0.0.0.0"
        cfg.xmlrpc["xmlrpc_port"] = "0"
        cfg.values["sip_port"] = "0"
        with self.assertRaises(StartupError) as caught:
            check_ports(cfg)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertIn("xmlrpc2di.conf: server_ip=0.0.0.0 is not a loopback address", message)
        cfg.xmlrpc.update({"xmlrpc_user": "admin", "xmlrpc_password": "pw"})
        check_ports(cfg)  # with a password it may listen
