"""The console in a real headless Chromium: a quizconnect call watched live.

Chromium (Debian ``chromium``) is driven by Selenium through Debian's
``chromium-driver``.  Selenium blocks, so every browser step runs in a
thread while the reactor keeps the test's RTP peers going.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.internet.threads import deferToThread

from test.app.console_e2e import ConsoleE2E
from test.daemon import wait_for
from test.media.e2e_helpers import RtpPeer
from test.test_quizconnect_e2e import key_in
from test.util import service_missing

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover
    webdriver = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

HIGHLIGHTED = (
    "var n = document.querySelector('#graph g.node.current title');"
    "return n ? n.textContent.split('/').pop() : null;"
)
LEG_STATES = (
    "return Array.from(document.querySelectorAll('#legs td.state')).map(e => e.textContent);"
)


def browser(profile: str):
    """A headless Chromium (skipped, or failed under CI, if it cannot start)."""
    if webdriver is None:
        service_missing("selenium is not installed (pip install selenium)")
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        service_missing("Debian's chromium and chromium-driver are not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1700",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


class ConsoleBrowser(ConsoleE2E):
    timeout = 150

    async def test_call_page_follows_a_quizconnect_call_live(self):
        """The caller's page highlights WAIT_CALLEE, shows both callee legs in ENTER_PIN, then
        CONNECTED once john keys his PIN, all without a reload."""
        await self.start_demo()
        profile = tempfile.mkdtemp(prefix="donkey-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        driver = await deferToThread(browser, profile)
        self.addCleanup(driver.quit)

        def run(script: str):
            return deferToThread(driver.execute_script, script)

        caller, john, anna = (RtpPeer.listen(self) for _ in range(3))
        self.callees("answer", john_port=john.port, anna_port=anna.port)
        self.caller("connect", caller, talk_ms=6000, timeout=90)
        await wait_for(
            lambda: self.states_are(caller="WAIT_CALLEE"), timeout=15, what="caller WAIT_CALLEE"
        )
        caller_id = (await self.by_party())["caller"][0]

        await deferToThread(driver.get, f"{self.daemon.url}/console/calls/{caller_id}")
        marker = await run("return document.body.dataset.loadMarker;")
        self.assertTrue(marker)

        async def highlighted(state: str) -> bool:
            return await run(HIGHLIGHTED) == state

        await wait_for(lambda: highlighted("WAIT_CALLEE"), timeout=15, what="WAIT_CALLEE lit")

        async def legs_entering_pin() -> bool:
            return await run(LEG_STATES) == ["ENTER_PIN", "ENTER_PIN"]

        await wait_for(legs_entering_pin, timeout=15, what="both callee legs in ENTER_PIN")
        shot = os.path.join(os.path.abspath(self.mktemp()) + "-wait_callee.png")
        await deferToThread(driver.save_screenshot, shot)
        self.assertGreater(os.path.getsize(shot), 10000)
        print(f"\nconsole screenshot: {shot}")
        updates = int(await run("return document.body.dataset.updates;"))

        await john.first_packet()
        await key_in(john, "12345")
        await wait_for(lambda: highlighted("CONNECTED"), timeout=15, what="CONNECTED lit")
        shot2 = shot.replace("-wait_callee.png", "-connected.png")
        await deferToThread(driver.save_screenshot, shot2)
        print(f"console screenshot: {shot2}")
        self.assertEqual(await run("return document.body.dataset.loadMarker;"), marker)
        self.assertGreater(int(await run("return document.body.dataset.updates;")), updates)
        history = await run("return document.getElementById('history').textContent;")
        self.assertIn("done creating callee legs", history)
        self.assertIn("quizconnect_caller.dsm:", history)
