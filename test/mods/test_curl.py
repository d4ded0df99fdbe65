"""mod_curl against a twisted.web server on 127.0.0.1 (port 0), through DSM scripts."""

from __future__ import annotations

import json
import os
import time

from twisted.internet import reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from donkey.mods import curl as modcurl
from test.dsm.helpers import harness_with
from test.util import wait_until

BINARY = bytes(range(256)) * 64


class _Echo(resource.Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.requests: list[dict] = []
        self.pending: list = []

    def render(self, request):
        path = request.path.decode()
        args = {k.decode(): [v.decode() for v in vs] for k, vs in request.args.items()}
        self.requests.append(
            {
                "method": request.method.decode(),
                "path": path,
                "args": args,
                "type": (request.getHeader("content-type") or ""),
            }
        )
        if path == "/hello":
            return "hello wörld".encode()
        if path == "/missing":
            request.setResponseCode(404)
            return b"not here"
        if path == "/moved":
            request.setResponseCode(302)
            request.setHeader("location", "/hello")
            return b"moved"
        if path == "/binary":
            return BINARY
        if path == "/slow":

            def later():
                if not request.finished and not getattr(request, "_disconnected", False):
                    request.write(b"late")
                    request.finish()

            call = reactor.callLater(2, later)
            self.pending.append(call)
            request.notifyFinish().addErrback(lambda _: call.cancel() if call.active() else None)
            return server.NOT_DONE_YET
        return json.dumps({"method": request.method.decode(), "args": args}).encode()


class CurlTests(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.site = _Echo()
        self.port = reactor.listenTCP(0, server.Site(self.site), interface="127.0.0.1")
        self.addCleanup(self._stop)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        self.runtimes: list = []

    async def _stop(self):
        for call in self.site.pending:
            if call.active():
                call.cancel()
        for runtime in self.runtimes:
            await modcurl.shutdown(runtime)
        await self.port.stopListening()

    async def run_script(self, body: str, variables: dict | None = None, quiet: bool = True):
        h = harness_with(
            self,
            t=f"""
            import(mod_curl);
            initial state START;
            transition "go" START - sessionStart / {{
            {body}
            }} -> DONE;
            state DONE;
            """,
        )
        self.runtimes.append(h.runtime)
        s = h.call("t", variables=dict(variables or {}, base=self.base))
        await wait_until(lambda: s.state == "DONE", 10, "the script in DONE", interval=0.01)
        if quiet:
            self.assertEqual(h.errors(), [])
        return s

    async def test_get(self):
        """curl.get puts the UTF-8 body into $curl.out and leaves $errno empty."""
        s = await self.run_script("""
              set($curl.out=stale);
              sets($u=$(base)/hello);
              curl.get($u);
              set($e=$errno);
            """)
        self.assertEqual((s.vars["e"], s.vars["curl.out"]), ("", "hello wörld"))

    async def test_get_http_error_status_is_still_a_response(self):
        """A 404 or 302 answer is still a response: its body is in $curl.out, no error."""
        s = await self.run_script("""
              sets($u=$(base)/missing);
              curl.get($u); set($e1=$errno); set($o1=$curl.out);
              sets($u=$(base)/moved);
              curl.get($u); set($e2=$errno); set($o2=$curl.out);
            """)
        self.assertEqual((s.vars["e1"], s.vars["o1"]), ("", "not here"))
        self.assertEqual((s.vars["e2"], s.vars["o2"]), ("", "moved"))  # redirects not followed

    async def test_connection_refused_sets_general_and_curl_err(self):
        """A refused connection sets $errno=general and explains it in $curl.err."""
        probe = reactor.listenTCP(0, server.Site(resource.Resource()), interface="127.0.0.1")
        closed = probe.getHost().port
        await probe.stopListening()
        s = await self.run_script(f"""
              curl.get(http://127.0.0.1:{closed}/x);
              set($e=$errno);
            """)
        self.assertEqual(s.vars["e"], "general")
        self.assertIn("Connection refused", s.vars["curl.err"])
        self.assertNotIn("curl.out", s.vars)

    async def test_bad_url(self):
        """An unsupported scheme sets $errno=general; an empty URL sets $errno=arg."""
        s = await self.run_script("""
              curl.get(gopher://127.0.0.1/x); set($e1=$errno);
              curl.get($unset); set($e2=$errno);
            """)
        self.assertEqual((s.vars["e1"], s.vars["e2"]), ("general", "arg"))
        self.assertNotEqual(s.vars["curl.err"], "")

    async def test_timeout(self):
        """A server slower than $curl.timeout gives $errno=general 'timed out' after about that long, reactor running."""
        ticks = []
        loop = task.LoopingCall(lambda: ticks.append(time.monotonic()))
        loop.start(0.01)
        self.addCleanup(loop.stop)
        started = time.monotonic()
        s = await self.run_script("""
              set($curl.timeout=1);
              sets($u=$(base)/slow);
              curl.get($u);
              set($e=$errno);
            """)
        took = time.monotonic() - started
        self.assertEqual(s.vars["e"], "general")
        self.assertIn("timed out", s.vars["curl.err"])
        self.assertTrue(0.9 < took < 1.9, took)
        self.assertLess(max(b - a for a, b in zip(ticks, ticks[1:])), 0.2)  # reactor kept running

    async def test_get_discard_result(self):
        """curl.getDiscardResult fetches the URL but leaves $curl.out as it was."""
        s = await self.run_script("""
              set($curl.out=kept);
              sets($u=$(base)/hello);
              curl.getDiscardResult($u);
              set($e=$errno);
            """)
        self.assertEqual((s.vars["e"], s.vars["curl.out"]), ("", "kept"))
        self.assertEqual(self.site.requests[-1]["path"], "/hello")

    async def test_get_file(self):
        """curl.getFile writes the body byte for byte; an unwritable target sets $errno=file."""
        out = os.path.abspath(self.mktemp())
        s = await self.run_script(f"""
              sets($u=$(base)/binary);
              curl.getFile($u, {out}); set($e1=$errno);
              curl.getFile($u, /nonexistent/dir/f); set($e2=$errno);
            """)
        self.assertEqual((s.vars["e1"], s.vars["e2"]), ("", "file"))
        with open(out, "rb") as f:
            self.assertEqual(f.read(), BINARY)

    async def test_get_form(self):
        """curl.getForm sends the named variables URL-encoded in the query, also after an existing one."""
        s = await self.run_script(
            """
              set($id=42);
              sets($u=$(base)/form);
              curl.getForm($u, $id;$name;method);
              set($e1=$errno);
              set($first=$curl.out);
              sets($u=$(base)/form?fixed=1);
              curl.getForm($u, $id);
            """,
            variables={"name": "a b&c=d", "method": "ü"},
        )
        self.assertEqual(s.vars["e1"], "")
        got = json.loads(s.vars["first"])
        self.assertEqual(
            got, {"method": "GET", "args": {"id": ["42"], "name": ["a b&c=d"], "method": ["ü"]}}
        )
        self.assertEqual(json.loads(s.vars["curl.out"])["args"], {"fixed": ["1"], "id": ["42"]})

    async def test_post_variants(self):
        """curl.post, postGetResult and postDiscardResult send the variables form-encoded and handle the answer as named."""
        s = await self.run_script("""
              set($q=search term);
              set($n=7);
              sets($u=$(base)/post);
              curl.post($u, $q;$n); set($e1=$errno); set($o1=$curl.out);
              curl.postGetResult($u, $q); set($o2=$curl.out);
              set($curl.out=kept);
              curl.postDiscardResult($u, $n); set($e3=$errno);
            """)
        self.assertEqual(s.vars["e1"], "")
        self.assertEqual(
            json.loads(s.vars["o1"]), {"method": "POST", "args": {"q": ["search term"], "n": ["7"]}}
        )
        self.assertEqual(json.loads(s.vars["o2"])["args"], {"q": ["search term"]})
        self.assertEqual((s.vars["e3"], s.vars["curl.out"]), ("", "kept"))
        self.assertTrue(self.site.requests[0]["type"].startswith("multipart/form-data"))
        self.assertEqual(self.site.requests[-1]["args"], {"n": ["7"]})

    async def test_sessions_share_one_client(self):
        """Ten calls fetching at once all get the body, through one shared HTTP client."""
        h = harness_with(
            self,
            t="""
            import(mod_curl);
            initial state START;
            transition "go" START - sessionStart / { sets($u=$(base)/hello); curl.get($u); } -> DONE;
            state DONE;
            """,
        )
        self.runtimes.append(h.runtime)
        sessions = [h.call("t", variables={"base": self.base}) for _ in range(10)]
        await wait_until(
            lambda: all(s.state == "DONE" for s in sessions), 10, "all ten in DONE", interval=0.01
        )
        self.assertEqual({s.vars["curl.out"] for s in sessions}, {"hello wörld"})
        self.assertIsInstance(h.runtime.module_state("mod_curl.client", None), modcurl._Client)
