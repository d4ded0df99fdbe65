"""GET /metrics on the control-plane port: what an operator's Prometheus scrapes."""

from __future__ import annotations

import re
import xmlrpc.client

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from donkey.di.guard import GuardResource
from donkey.di.web import ControlRoot
from donkey.di.xmlrpc.config import AccessPolicy
from test.daemon import Daemon, sipp_available
from test.sip.helpers import sipp_uac
from test.sipp import Uac
from test.util import wait_until

#: hello calls that stay up this long, then hang up
HOLD_MS = 4000


def held_call(hold_ms: int = HOLD_MS) -> Uac:
    """A caller that is answered, stays on the line ``hold_ms``, then hangs up."""
    return Uac("held_call").invite().answered().pause(hold_ms).bye()


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: (sample name, sorted labels) -> value."""
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)  # no idle connection left behind
    response = await treq.get(url.encode(), pool=pool)
    assert response.code == 200, response.code
    assert response.headers.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
    text = (await response.content()).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name`` over every label set that has ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


class _Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"page"


class _Rpc(Resource):
    isLeaf = True

    def render(self, request):
        return b"rpc"


class WebRootTests(unittest.TestCase):
    def child(self, root: Resource, path: bytes, host: str = "127.0.0.1") -> Resource:
        request = DummyRequest([path])
        request.client = type("Addr", (), {"host": host})()
        request.getClientAddress = lambda: request.client
        return root.getChildWithDefault(path, request), request

    def test_rpc_paths_and_pages(self) -> None:
        """'/' and '/RPC2' are XML-RPC, '/metrics' is the page added, anything else is 404."""
        rpc, page = _Rpc(), _Page()
        root = ControlRoot(rpc)
        root.add_page("metrics", page)
        self.assertIs(self.child(root, b"")[0], rpc)
        self.assertIs(self.child(root, b"RPC2")[0], rpc)
        self.assertIs(self.child(root, b"metrics")[0], page)
        self.assertEqual(self.child(root, b"nothing")[0].code, 404)
        self.assertRaises(ValueError, root.add_page, "RPC2", page)

    def test_pages_follow_the_access_policy(self) -> None:
        """A client outside the allow-list gets 403 from a page, as it would from XML-RPC."""
        policy = AccessPolicy(allow=AccessPolicy.parse_allow("10.0.0.0/8"))
        root = ControlRoot(_Rpc())
        root.add_page("metrics", _Page())
        guarded = GuardResource(root, policy)  # as the control-plane site serves it

        def traverse(host: str) -> tuple[Resource, DummyRequest]:
            request = DummyRequest([b"metrics"])
            request.client = type("Addr", (), {"host": host})()
            request.getClientAddress = lambda: request.client
            return getChildForRequest(guarded, request), request

        refused, request = traverse("127.0.0.1")
        refused.render(request)
        self.assertEqual(request.responseCode, 403)
        allowed, _ = traverse("10.1.2.3")
        self.assertIsInstance(allowed, _Page)


class MetricsE2E(unittest.TestCase):
    timeout = 90

    async def test_calls_states_and_codes(self) -> None:
        """Three hello calls show as active and in LISTENING, then as finished with code 200."""
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        daemon = Daemon(self)
        await daemon.ready()
        url = daemon.url + "/metrics"
        before = await scrape(url)
        self.assertEqual(value(before, "donkey_calls_active", app="hello", direction="in"), 0)
        self.assertEqual(
            value(before, "donkey_calls_in_state", app="hello", diagram="hello", state="LISTENING"),
            0,
        )
        sipp = sipp_uac(self, held_call(), daemon.sip_port, ["-s", "hello", "-l", "3"], calls=3)
        done = sipp.result()

        async def three_up() -> bool:
            samples = await scrape(url)
            return value(samples, "donkey_calls_active", app="hello", direction="in") == 3

        await wait_until(three_up, 10, "3 active hello calls on /metrics", interval=0.2)
        up = await scrape(url)
        self.assertEqual(
            value(up, "donkey_calls_in_state", app="hello", diagram="hello", state="LISTENING"), 3
        )
        self.assertGreaterEqual(
            value(
                up,
                "donkey_dsm_transitions_total",
                app="hello",
                **{"from": "START", "to": "LISTENING"},
            ),
            3,
        )
        # the receive jitter over the live calls is there for Prometheus (RFC 3550, seconds)
        for stat in ("max", "mean"):
            jitter = value(up, "donkey_rtp_jitter_seconds", stat=stat)
            self.assertIsNotNone(jitter, stat)
            self.assertGreaterEqual(jitter, 0.0)
        code, out, err = await done
        self.assertEqual(code, 0, out + err)

        async def three_done() -> bool:
            samples = await scrape(url)
            return total(samples, "donkey_calls_finished_total", app="hello", code="200") == 3

        await wait_until(three_done, 10, "3 finished hello calls on /metrics", interval=0.2)
        # XML-RPC still answers where xmlrpc.client and SEMS's scripts post
        for path in ("", "/", "/RPC2"):
            proxy = xmlrpc.client.ServerProxy(daemon.url + path)
            self.assertEqual(await deferToThread(proxy.calls), 0)
        after = await scrape(url)
        self.assertEqual(value(after, "donkey_calls_active", app="hello", direction="in"), 0)
        self.assertEqual(total(after, "donkey_calls_total", app="hello", direction="in"), 3)
        self.assertGreaterEqual(value(after, "donkey_xmlrpc_requests_total", method="calls"), 3)
        self.assertGreater(value(after, "donkey_rtp_packets_sent_total"), 3 * 25)
        # this caller sends no RTP: nothing received, nothing lost
        self.assertEqual(value(after, "donkey_rtp_packets_received_total"), 0)
        self.assertEqual(value(after, "donkey_rtp_packets_lost_total"), 0)
        self.assertGreater(value(after, "donkey_reactor_lag_seconds_count"), 0)
        self.assertGreater(
            total(after, "donkey_dsm_event_queue_wait_seconds_count", app="hello"), 0
        )
        self.assertGreater(total(after, "donkey_dsm_action_seconds_count", app="hello"), 0)
        self.assertIsNotNone(value(after, "donkey_sip_cps"))
        names = {name for name, _ in after}
        self.assertFalse(any(re.search("call_?id|ltag", n) for n in names))
