"""A real Prometheus scraping the daemon's /metrics, asked over its HTTP API with PromQL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.parse

import treq
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from test.app.test_metrics import held_call
from test.daemon import Daemon, free_port, sipp_available
from test.sip.helpers import sipp_uac
from test.util import service_missing, wait_until

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: donkey
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


class Prometheus:
    """``prometheus`` on a free loopback port with a config written here; killed by PID."""

    def __init__(self, testcase: unittest.TestCase, target_port: int) -> None:
        exe = shutil.which("prometheus")
        if exe is None:
            service_missing("prometheus is not installed (Debian: apt-get install prometheus)")
        workdir = os.path.abspath(testcase.mktemp())
        os.makedirs(workdir)
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(CONFIG.format(port=target_port))
        self.port = free_port(socket.SOCK_STREAM)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(workdir, "prometheus.log"), "wb")
        self.process = subprocess.Popen(
            [
                exe,
                f"--config.file={config}",
                f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = self.log.name
        testcase.addCleanup(self.stop)

    def output(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    async def get(self, path: str) -> tuple[int, bytes]:
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get((self.url + path).encode(), pool=pool)
        return response.code, await response.content()

    async def ready(self, timeout: float = 30.0) -> None:
        async def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError("prometheus exited:\n" + self.output())
            try:
                code, _ = await self.get("/-/ready")
            except Exception:
                return False
            return code == 200

        await wait_until(up, timeout, "prometheus ready", interval=0.2)

    async def query(self, promql: str) -> list[tuple[dict, float]]:
        """An instant query: (labels, value) of each series in the answer."""
        code, body = await self.get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        answer = json.loads(body)
        assert code == 200 and answer["status"] == "success", body
        return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class PrometheusE2E(unittest.TestCase):
    timeout = 120

    async def test_promql_sees_active_calls_then_final_codes(self) -> None:
        """PromQL returns 3 active hello calls while they are up, then 3 finished with 200."""
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        daemon = Daemon(self)
        await daemon.ready()
        prometheus = Prometheus(self, daemon.xmlrpc_port)
        await prometheus.ready()

        async def scraped() -> bool:
            return bool(await prometheus.query('up{job="donkey"} == 1'))

        await wait_until(scraped, 20, "prometheus scraping donkey", interval=0.5)
        sipp = sipp_uac(self, held_call(8000), daemon.sip_port, ["-s", "hello", "-l", "3"], calls=3)
        done = sipp.result()
        active: list = []

        async def calls_up() -> bool:
            active[:] = await prometheus.query(
                'donkey_calls_active{app="hello",direction="in"} == 3'
            )
            return bool(active)

        await wait_until(calls_up, 15, "PromQL: 3 active hello calls", interval=0.5)
        self.assertEqual(active[0][1], 3.0)
        self.assertEqual(active[0][0]["job"], "donkey")
        code, out, err = await done
        self.assertEqual(code, 0, out + err)
        finished: list = []

        async def calls_finished() -> bool:
            finished[:] = await prometheus.query(
                'sum by (code) (donkey_calls_finished_total{app="hello"})'
            )
            return bool(finished) and finished[0][1] == 3.0

        await wait_until(calls_finished, 15, "PromQL: 3 finished hello calls", interval=0.5)
        self.assertEqual(finished, [({"code": "200"}, 3.0)])
        idle = await prometheus.query('donkey_calls_active{app="hello",direction="in"}')
        self.assertEqual([v for _, v in idle], [0.0])
