"""The quizconnect tutorial end to end: ``twistd donkeysm``, MariaDB, sipp, RTP.

The seed's two scripts run unmodified (``conf/dsm/quizconnect/``) from a copy
of ``conf/dsm/quizconnect.conf`` whose ``db_url`` names a MariaDB database
this test creates (the tutorial's ``callees`` table: 35 -> john 12345, anna
54321) and drops, and whose ``outbound_domain`` is one sipp UAS that answers
both callees (its scenario routes on the request-URI user, so john and anna
each get their own SDP port).  The caller is sipp too (``-s 35``); the RTP of
all three parties is the test's own UDP sockets (:class:`RtpPeer`), so the
test hears what each party hears and keys RFC 4733 events itself.

1. the caller gets 183 and hears ``welcome_caller.wav`` (frame-exact after
   the G.711 round trip) while donkey dials john and anna;
2. the seed's tools (``sems_sessions_states.py``, ``sems_get_session.py``,
   which hardcode http://127.0.0.1:8090 and so run in a private network
   namespace relayed to the daemon's free port) show WAIT_CALLEE / ENTER_PIN and the
   seed's attributes and stategraphs;
3. anna keys a wrong PIN and ``#``: she hears ``sorry_pin_wrong.wav`` and stays
   in ENTER_PIN; john keys 12345: anna gets BYE, the caller 200, and the
   caller and john hear each other through the conference;
4. the caller hangs up: john gets BYE, no call is left;
5. the caller cancels while the callees ring: both callee INVITEs are
   cancelled, the caller gets 487;
6. database down: 500; unknown number: 404;
7. ``loadConfig`` on the running server answers ``[200, 'OK']`` and an edited
   script is used by the next call only.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import time
import uuid

from twisted.trial import unittest

from test.daemon import ROOT, Daemon, free_port, sipp_available, wait_for
from test.media.e2e_helpers import (
    DECODERS,
    RtpPeer,
    frames_of,
    g711_round_trip,
    heard_until,
    power,
    read_wav,
    rms,
    sine,
)
from test.sip.helpers import Sipp, free_udp_port
from test.sipp import Check, Uac, Uas, sdp
from test.util import pause, service_missing

try:
    import pymysql
except ImportError:  # pragma: no cover - the mysql module needs it anyway
    pymysql = None

APP_DIR = os.path.join(ROOT, "conf", "dsm", "quizconnect")
BUNDLE = os.path.join(ROOT, "conf", "dsm", "quizconnect.conf")
PROMPTS = os.path.join(APP_DIR, "prompts")
TOOLS = os.path.join(ROOT, "tools")
MARIADB = dict(host="127.0.0.1", port=3306, user="root", password="")

# The tutorial's table and rows, as printed in the seed.
CALLEES_DDL = """CREATE TABLE callees (
  id int(10) unsigned NOT NULL auto_increment,
  caller varchar(128) NOT NULL,
  callee varchar(128) NOT NULL,
  pin varchar(32) NOT NULL,
  PRIMARY KEY  (id)
)"""
CALLEES_ROWS = [
    'insert into callees (caller,callee,pin) values ("35","john","12345")',
    'insert into callees (caller,callee,pin) values ("35","anna","54321")',
]

KEY_CODES = {str(d): d for d in range(10)}
KEY_CODES.update({"*": 10, "#": 11})


# ------------------------------------------------------------------ config
def write_config(base: str, bundle_lines: dict[str, str]) -> tuple[str, str]:
    """sems.conf + etc/ + dsm/quizconnect.conf; returns (sems.conf, quizconnect.conf).

    The bundle file is ``conf/dsm/quizconnect.conf`` with the keys of
    *bundle_lines* replaced (every other line as shipped).
    """
    etc = os.path.join(base, "etc")
    dsm = os.path.join(base, "dsm")
    os.makedirs(etc)
    os.makedirs(dsm)
    with open(os.path.join(base, "sems.conf"), "w") as f:
        f.write(
            "sip_ip=127.0.0.1\nmedia_ip=127.0.0.1\nplugin_config_path=etc\n"
            "application=$(mapping);$(ruri.user)\napp_mapping=etc/app_mapping.conf\n"
            "loglevel=3\n"
        )
    with open(os.path.join(etc, "app_mapping.conf"), "w") as f:
        # every number goes to the caller script (so an unknown one gets its 404)
        f.write("^sip:[0-9]+@=>quizconnect_caller\n")
    with open(os.path.join(etc, "dsm.conf"), "w") as f:
        f.write(
            "diag_path=.\nload_diags=\nregister_apps=\nmod_path=\nrun_invite_event=yes\n"
            f"conf_dir={dsm}\nmonitoring_full_stategraph=yes\n"
            f"allowed_config_dirs={bundle_lines.get('diag_path', '')}\n"
            "monitoring_full_transitions=yes\n"
        )
    with open(os.path.join(etc, "xmlrpc2di.conf"), "w") as f:
        f.write("server_ip=127.0.0.1\nexport_di=yes\ndirect_export=dsm;monitoring\n")
    with open(os.path.join(etc, "monitoring.conf"), "w") as f:
        f.write("gcinterval=600\n")
    out, seen = [], set()
    with open(BUNDLE) as f:
        for line in f.read().splitlines():
            key = line.split("=", 1)[0].strip()
            if not line.startswith("#") and key in bundle_lines:
                line = f"{key}={bundle_lines[key]}"
                seen.add(key)
            out.append(line)
    out += [f"{k}={v}" for k, v in bundle_lines.items() if k not in seen]
    conf = os.path.join(dsm, "quizconnect.conf")
    with open(conf, "w") as f:
        f.write("\n".join(out) + "\n")
    return os.path.join(base, "sems.conf"), conf


# -------------------------------------------------------------------- sipp
def caller_scenario(
    path: str, media_port: int, flow: str, talk_ms: int = 0, ring_ms: int = 0
) -> str:
    """The caller (``-s <number>``), offering PCMU + telephone-event on *media_port*.

    *flow*: ``"connect"`` (183, then 200 whenever it comes, ACK, talk for
    *talk_ms*, BYE), ``"cancel"`` (183, CANCEL after *ring_ms*, 487),
    ``"404"`` (183 then 404) or ``"500"`` (500 straight away).
    """
    uac = Uac(
        f"quizconnect caller {flow}", user="5", display='"bee"', to_display="", angle_contact=True
    )
    uac.invite(sdp(media_port, (0, 101), "sendrecv", origin="bee", fmtp=True), headers=())
    early = [Check("m=audio [0-9]+ RTP/AVP 0", "body")]
    if flow == "connect":
        uac.recv(early, response=183)
        uac.recv(response=200, rrs=True)
        uac.ack().pause(talk_ms)
        uac.bye(headers=())
    elif flow == "cancel":
        uac.recv(early, response=183)
        uac.pause(ring_ms)
        uac.cancel()
    elif flow == "404":
        uac.recv(early, response=183)
        uac.rejected(404)
    elif flow == "500":
        uac.rejected(500)
    else:
        raise ValueError(flow)
    return uac.write(path)


def callee_scenario(
    path: str, flow: str, john_port: int = 0, anna_port: int = 0, bye_timeout_ms: int = 60000
) -> str:
    """One sipp UAS for both callees (``outbound_domain`` is one host:port).

    ``"answer"``: 200 with john's or anna's SDP port (routed on the
    request-URI user), ACK, then wait for donkey's BYE.  ``"ring"``: 180 and
    wait for donkey's CANCEL (200 to it, 487 to the INVITE, ACK).
    """
    uas = Uas(f"quizconnect callees {flow}")
    callee = Check("^INVITE sip:(john|anna)@")
    if flow == "answer":
        uas.recv(
            [callee, Check("^INVITE sip:anna@", assign_to="anna", required=False)], request="INVITE"
        )
        uas.jump("anna", test="anna")
        for label, port in (("john", john_port), ("anna", anna_port)):
            if label == "anna":
                uas.label("anna")
            answer = sdp(port, (0, 101), "sendrecv", origin="callee", fmtp=True)
            uas.reply(200, "OK", answer=answer, retrans=True)
            if label == "john":
                uas.jump("answered")
        uas.label("answered")
        uas.recv(request="ACK")
        uas.recv(request="BYE", timeout=bye_timeout_ms)
        uas.reply(200, "OK", to_tag=False)
    elif flow == "ring":
        uas.recv([callee], request="INVITE")
        uas.reply(180, "Ringing")
        uas.recv(request="CANCEL")
        uas.reply(200, "OK", to_tag=False)
        uas.reply(487, "Request Terminated", contact=False, cseq="CSeq: [last_cseq_number] INVITE")
        uas.recv(request="ACK")
    else:
        raise ValueError(flow)
    return uas.write(path)


# --------------------------------------------------------------------- RTP
async def key_in(peer: RtpPeer, keys: str, ms: int = 100, gap_ms: int = 120) -> None:
    """RFC 4733 events (PT 101) for each of *keys*, as a phone sends them."""
    for key in keys:
        code = KEY_CODES[key]
        ts, dur = peer.ts, 0
        for i in range(ms // 20):
            dur += 160
            peer.send_packet(101, struct.pack("!BBH", code, 10, dur), marker=(i == 0), ts=ts)
            await pause(0.02)  # one packet per 20 ms, as a phone sends them
        for _ in range(3):
            peer.send_packet(101, struct.pack("!BBH", code, 0x80 | 10, dur), ts=ts)
        peer.ts = (ts + dur + 160) & 0xFFFFFFFF
        await pause(gap_ms / 1000)  # the gap between two keys


def prompt_frames(name: str) -> list[bytes]:
    """What a PCMU listener decodes from a prompt, 20 ms a frame."""
    channels, width, rate, pcm = read_wav(os.path.join(PROMPTS, name))
    assert (channels, width, rate) == (1, 2, 8000), name
    return [g711_round_trip(f, 0) for f in frames_of(pcm)]


def heard_since(peer: RtpPeer, t0: float) -> list[bytes]:
    return [DECODERS[0](p[6], 2) for p in peer.packets if p[1] == 0 and p[0] >= t0]


def find_prompt(got: list[bytes], expected: list[bytes]) -> int:
    """Index in *got* where *expected* starts (anchored on its first loud frame), or -1."""
    anchor = next(i for i, f in enumerate(expected) if rms(f) > 200)
    for i, frame in enumerate(got):
        if frame == expected[anchor] and i >= anchor:
            return i - anchor
    return -1


async def heard_in_full(
    peer: RtpPeer, t0: float, prompt: list[bytes], what: str
) -> tuple[list[bytes], int]:
    """Wait until *peer* heard all of *prompt* since *t0*; (what it heard, where it starts)."""

    def complete():
        got = heard_since(peer, t0)
        start = find_prompt(got, prompt)
        return (got, start) if start >= 0 and len(got) >= start + len(prompt) else None

    return await wait_for(complete, timeout=20, what=what)


def window(peer: RtpPeer, t0: float, t1: float) -> bytes:
    return b"".join(DECODERS[0](p[6], 2) for p in peer.packets if p[1] == 0 and t0 <= p[0] < t1)


def mariadb_skip_reason() -> str | None:
    if pymysql is None:
        return "PyMySQL is not installed"
    try:
        pymysql.connect(connect_timeout=2, **MARIADB).close()
    except Exception as e:  # noqa: BLE001
        return f"MariaDB on 127.0.0.1:3306 is not reachable: {e}"
    return None


# ------------------------------------------------------------------- tests
class QuizconnectE2E(unittest.TestCase):
    timeout = 120
    maxDiff = None

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")
        self.files = os.path.abspath(self.mktemp())
        os.makedirs(self.files)
        self.uas_port = free_udp_port()

    # -- database --------------------------------------------------------------
    def create_database(self) -> str:
        why = mariadb_skip_reason()
        if why:
            service_missing(why)
        name = "donkey_qc_" + uuid.uuid4().hex[:10]
        con = pymysql.connect(autocommit=True, **MARIADB)
        try:
            with con.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
                cur.execute(f"USE {name}")
                cur.execute(CALLEES_DDL)
                for row in CALLEES_ROWS:
                    cur.execute(row)
        finally:
            con.close()
        self.addCleanup(self._drop_database, name)
        return f"mysql://root:@127.0.0.1/{name}"

    @staticmethod
    def _drop_database(name: str) -> None:
        con = pymysql.connect(autocommit=True, **MARIADB)
        try:
            with con.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            con.close()

    # -- daemon, sipp ----------------------------------------------------------
    async def start(self, db_url: str, diag_path: str = APP_DIR) -> Daemon:
        self.sems_conf, self.bundle_conf = write_config(
            os.path.join(self.files, "conf"),
            {
                "diag_path": diag_path.rstrip("/") + "/",
                "prompt_path": PROMPTS + "/",
                "db_url": db_url,
                "outbound_domain": f"127.0.0.1:{self.uas_port}",
            },
        )
        self.daemon = Daemon(self, config=self.sems_conf)
        await self.daemon.ready()
        return self.daemon

    def caller(
        self,
        flow: str,
        peer: RtpPeer | None = None,
        number: str = "35",
        timeout: float = 60.0,
        **kw,
    ) -> Sipp:
        scen = caller_scenario(
            os.path.join(self.files, f"caller-{flow}-{free_udp_port()}.xml"),
            peer.port if peer else 9,
            flow,
            **kw,
        )
        args = [
            "-sf",
            scen,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_port()),
            "-mp",
            str((free_udp_port() // 2) * 2),
            "-s",
            number,
            f"127.0.0.1:{self.daemon.sip_port}",
        ]
        s = Sipp(args, self.mktemp(), timeout)
        self.addCleanup(s.stop)
        return s

    def callees(self, flow: str, calls: int = 2, timeout: float = 60.0, **kw) -> Sipp:
        scen = callee_scenario(
            os.path.join(self.files, f"callees-{flow}-{free_udp_port()}.xml"), flow, **kw
        )
        args = [
            "-sf",
            scen,
            "-m",
            str(calls),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.uas_port),
            "-mp",
            str((free_udp_port() // 2) * 2),
        ]
        s = Sipp(args, self.mktemp(), timeout)
        self.addCleanup(s.stop)
        return s

    async def finished(self, sipp: Sipp, what: str) -> None:
        code, out, err = await sipp.result()
        self.assertEqual(
            code,
            0,
            f"{what}: sipp failed: {out[-2000:]}{err[-2000:]}\n" + self.daemon.output()[-4000:],
        )

    async def sessions(self) -> dict[str, dict]:
        """Every call the monitoring store knows (active and finished), by id."""
        out = {}
        for method in ("listActive", "listFinished"):
            for call_id in await self.daemon.call_xmlrpc(method):
                (props,) = await self.daemon.call_xmlrpc("get", call_id)
                out[call_id] = props
        return out

    async def by_party(self) -> dict[str, tuple[str, dict]]:
        """caller / john / anna -> (call id, attributes) of the active calls."""
        out = {}
        for call_id in await self.daemon.call_xmlrpc("listActive"):
            (p,) = await self.daemon.call_xmlrpc("get", call_id)
            if p.get("app") == "quizconnect_caller":
                out["caller"] = (call_id, p)
            elif p.get("ruri", "").startswith("sip:john@"):
                out["john"] = (call_id, p)
            elif p.get("ruri", "").startswith("sip:anna@"):
                out["anna"] = (call_id, p)
        return out

    async def states_are(self, **want: str) -> bool:
        parties = await self.by_party()
        return all(
            who in parties and parties[who][1].get("dsm_state") == state
            for who, state in want.items()
        )

    async def no_calls_left(self) -> None:
        async def none():
            return await self.daemon.call_xmlrpc("calls") == 0

        await wait_for(none, timeout=10, what="no call left in calls()")
        self.assertNotIn("Traceback", self.daemon.output())

    # 1-4 ----------------------------------------------------------------------
    async def test_quiz_pins_conference_and_hangup(self):
        """1-4: 183 + welcome, the seed's tools, wrong and right PIN, talk, hang up."""
        db_url = self.create_database()
        await self.start(db_url)
        caller, john, anna = (RtpPeer.listen(self) for _ in range(3))
        uas = self.callees("answer", john_port=john.port, anna_port=anna.port)
        sipp = self.caller("connect", caller, talk_ms=3500, timeout=90)

        # 1. 183 with the welcome prompt, and john and anna are dialled
        await caller.first_packet(timeout=10)
        await wait_for(
            lambda: self.states_are(caller="WAIT_CALLEE", john="ENTER_PIN", anna="ENTER_PIN"),
            timeout=10,
            what="caller in WAIT_CALLEE, john and anna in ENTER_PIN",
        )
        await john.first_packet()
        await anna.first_packet()

        # 2. the seed's tools, as printed in the tutorial
        parties = await self.by_party()
        out = await self.daemon.run_seed_tool(os.path.join(TOOLS, "sems_sessions_states.py"))
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["calls: 3", "call id                                 state"])
        self.assertEqual(
            sorted(lines[2:]),
            sorted(
                [
                    f"{parties['caller'][0]}     WAIT_CALLEE",
                    f"{parties['john'][0]}     ENTER_PIN",
                    f"{parties['anna'][0]}     ENTER_PIN",
                ]
            ),
        )
        for who in ("caller", "john", "anna"):
            call_id, props = parties[who]
            out = await self.daemon.run_seed_tool(
                os.path.join(TOOLS, "sems_get_session.py"), call_id
            )
            lines = out.splitlines()
            self.assertEqual(lines[:2], ["calls: 3", "attrib                                 val"])
            attrs = {line[:20].rstrip(): line[20:] for line in lines[2:]}
            self.assertEqual(
                set(attrs),
                {"from", "ruri", "app", "to", "dsm_state", "dsm_stategraph", "dsm_diag", "dir"},
                out,
            )
            self.assertEqual(attrs["dsm_stategraph"], str(props["dsm_stategraph"]))
        domain = f"127.0.0.1:{self.uas_port}"
        _, c = parties["caller"]
        self.assertEqual(
            (c["app"], c["dsm_diag"], c["dir"], c["dsm_state"]),
            ("quizconnect_caller", "quizconnect_caller", "in", "WAIT_CALLEE"),
        )
        self.assertRegex(c["from"], r'^"bee" <sip:5@127\.0\.0\.1:\d+>$')  # no ;tag=
        self.assertEqual(c["ruri"], f"sip:35@127.0.0.1:{self.daemon.sip_port}")
        self.assertEqual(c["to"], f"<sip:35@127.0.0.1:{self.daemon.sip_port}>")
        qc = "quizconnect_caller/"
        self.assertEqual(
            c["dsm_stategraph"],
            [
                0,
                qc + "START",
                "> got INVITE in caller leg >",
                qc + "RUN_INVITE",
                "> we have results >",
                qc + "CREATE_CALLEE_LEGS",
                "> create one more >",
                qc + "CREATE_CALLEE_LEGS",
                "> create one more >",
                qc + "CREATE_CALLEE_LEGS",
                "> done creating callee legs >",
                qc + "WAIT_CALLEE",
                qc + "START",
                "> got session start in caller leg >",
                qc + "WAIT_CALLEE",
            ],
        )
        for who in ("john", "anna"):
            _, p = parties[who]
            self.assertEqual(
                p,
                {
                    "from": f"<sip:quizconnect@{domain}>",
                    "ruri": f"sip:{who}@{domain}",
                    "app": "quizconnect_callee",
                    "to": f"<sip:{who}@{domain}>",
                    "dsm_state": "ENTER_PIN",
                    "dsm_diag": "quizconnect_callee",
                    "dir": "out",
                    "dsm_stategraph": [
                        0,
                        "quizconnect_callee/START",
                        "> got INVITE in callee leg >",
                        "quizconnect_callee/RUN_INVITE",
                        "quizconnect_callee/START",
                        "> session starts in callee leg >",
                        "quizconnect_callee/ENTER_PIN",
                    ],
                },
            )

        # 1 (cont.). the whole welcome prompt, frame by frame, in early media
        welcome = prompt_frames("welcome_caller.wav")
        got, start = await heard_in_full(caller, 0, welcome, "welcome_caller.wav at the caller")
        self.assertGreaterEqual(start, 0, "welcome_caller.wav never reached the caller")
        self.assertEqual(
            got[start : start + len(welcome)],
            welcome,
            "the caller's early media is not welcome_caller.wav",
        )
        for frame in got[:start] + got[start + len(welcome) :]:
            self.assertLess(rms(frame), 10)  # silence around the prompt
        # ... and each callee hears welcome_callee.wav
        for peer in (john, anna):
            callee = prompt_frames("welcome_callee.wav")
            got = heard_since(peer, 0)
            start = find_prompt(got, callee)
            self.assertGreaterEqual(start, 0, "welcome_callee.wav never reached a callee")
            self.assertEqual(got[start : start + len(callee)], callee)

        # 3a. anna keys a wrong PIN and '#': sorry_pin_wrong, still ENTER_PIN
        t_wrong = time.monotonic()
        await key_in(anna, "54322#")
        sorry = prompt_frames("sorry_pin_wrong.wav")
        got, start = await heard_in_full(anna, t_wrong, sorry, "sorry_pin_wrong.wav at anna")
        self.assertGreaterEqual(start, 0, "anna did not hear sorry_pin_wrong.wav")
        self.assertEqual(got[start : start + len(sorry)], sorry)
        parties = await self.by_party()
        anna_id, a = parties["anna"]
        self.assertEqual(a["dsm_state"], "ENTER_PIN")
        qe = "quizconnect_callee/"
        self.assertEqual(
            a["dsm_stategraph"][7:],
            ["> pressed a number >", qe + "TEST_PIN", "> pin doesn't match >", qe + "ENTER_PIN"] * 5
            + [
                "> pressed hash or start >",
                qe + "TEST_PIN_FINAL",
                "> pin doesn't match >",
                qe + "ENTER_PIN",
            ],
        )
        self.assertEqual(parties["caller"][1]["dsm_state"], "WAIT_CALLEE")

        # 3b. john keys 12345: anna is torn down, the caller gets 200
        await key_in(john, "12345")
        await wait_for(
            lambda: self.states_are(caller="CONNECTED", john="CONNECTED"),
            timeout=10,
            what="caller and john CONNECTED",
        )
        n_anna = len(anna.packets)
        sessions = await self.sessions()
        self.assertEqual(sessions[anna_id]["dsm_state"], "END")
        self.assertEqual(
            sessions[anna_id]["dsm_stategraph"][-2:], ["> got cancel from A leg >", qe + "END"]
        )
        parties = await self.by_party()
        self.assertNotIn("anna", parties)
        self.assertEqual(await self.daemon.call_xmlrpc("calls"), 2)

        # 3c. the caller and john hear each other (and not themselves)
        f_caller, f_john = 600.0, 1400.0
        caller.send_frames(frames_of(sine([f_caller], 1000)), pt=0, loop=True)
        john.send_frames(frames_of(sine([f_john], 1000)), pt=0, loop=True)
        both = time.monotonic()
        await wait_for(heard_until([caller, john], both + 1.5), what="1.5 s of the conference")
        caller.stop_sending()
        john.stop_sending()
        hear_caller = window(caller, both + 0.4, both + 1.4)
        hear_john = window(john, both + 0.4, both + 1.4)
        self.assertGreater(len(hear_caller), 320 * 30)
        self.assertGreater(len(hear_john), 320 * 30)
        full = (6000.0 / 2) ** 2
        self.assertGreater(power(hear_caller, f_john), 0.5 * full, "the caller does not hear john")
        self.assertGreater(power(hear_john, f_caller), 0.5 * full, "john does not hear the caller")
        self.assertLess(power(hear_caller, f_caller), 1e-3 * full, "the caller hears itself")
        self.assertLess(power(hear_john, f_john), 1e-3 * full, "john hears himself")
        self.assertLess(len(anna.packets) - n_anna, 3, "anna's RTP goes on after her BYE")

        # 4. the caller hangs up (the scenario's BYE): john gets BYE; nothing is left
        await self.finished(sipp, "caller")
        await self.finished(uas, "callees (both got BYE)")
        await self.no_calls_left()
        sessions = await self.sessions()
        john_id = next(i for i, p in sessions.items() if p["ruri"].startswith("sip:john@"))
        caller_id = next(i for i, p in sessions.items() if p["app"] == "quizconnect_caller")
        self.assertEqual(
            sessions[caller_id]["dsm_stategraph"][-10:],
            [
                "> callee got it >",
                qc + "CANCEL_OTHER_CALLEES",
                "> one more to cancel >",
                qc + "CANCEL_OTHER_CALLEES",
                "> one more to cancel >",
                qc + "CANCEL_OTHER_CALLEES",
                "> canceled all >",
                qc + "CONNECTED",
                "> BYE received >",
                qc + "END",
            ],
        )
        self.assertEqual(
            sessions[john_id]["dsm_stategraph"][-8:],
            [
                "> pressed a number >",
                qe + "TEST_PIN",
                "> pin matches >",
                qe + "MATCHING_PIN",
                "> ok, connected >",
                qe + "CONNECTED",
                "> BYE in other leg >",
                qe + "END",
            ],
        )
        self.assertEqual(await self.daemon.call_xmlrpc("listActive"), [])

    # 5 ------------------------------------------------------------------------
    async def test_caller_cancels_while_callees_ring(self):
        """5. CANCEL from the caller: 487 to it, every ringing callee INVITE cancelled."""
        db_url = self.create_database()
        await self.start(db_url)
        caller = RtpPeer.listen(self)
        uas = self.callees("ring")
        sipp = self.caller("cancel", caller, ring_ms=2000)
        await wait_for(
            lambda: self.states_are(caller="WAIT_CALLEE"), timeout=10, what="caller in WAIT_CALLEE"
        )
        parties = await self.by_party()
        # both ringing: the callee legs ran their invite event, no sessionStart yet
        self.assertEqual(
            {p[1]["dsm_state"] for w, p in parties.items() if w != "caller"},
            {"RUN_INVITE"},
            parties,
        )
        self.assertEqual(len(parties), 3, parties)
        await self.finished(sipp, "caller (487)")
        await self.finished(uas, "callees (CANCEL)")
        await self.no_calls_left()
        sessions = await self.sessions()
        qc = "quizconnect_caller/"
        (graph,) = [
            p["dsm_stategraph"] for p in sessions.values() if p["app"] == "quizconnect_caller"
        ]
        self.assertEqual(
            graph[-8:],
            [
                "> CANCEL received >",
                qc + "CANCEL_CALLEES",
                "> one more to cancel >",
                qc + "CANCEL_CALLEES",
                "> one more to cancel >",
                qc + "CANCEL_CALLEES",
                "> canceled all >",
                qc + "END",
            ],
        )
        callees = [p for p in sessions.values() if p["app"] == "quizconnect_callee"]
        self.assertEqual(len(callees), 2)
        for p in callees:
            self.assertEqual(
                p["dsm_stategraph"][-2:], ["> got cancel from A leg >", "quizconnect_callee/END"]
            )

    # 6 ------------------------------------------------------------------------
    async def test_database_down_gets_500(self):
        """6. db_url names a closed port: the caller gets 500, nobody is dialled."""
        closed = free_port(socket.SOCK_STREAM)
        await self.start(f"mysql://root:@127.0.0.1:{closed}/quizconnect")
        sipp = self.caller("500")
        await self.finished(sipp, "caller (500)")
        await self.no_calls_left()
        sessions = await self.sessions()
        self.assertEqual(len(sessions), 1, sessions)
        (p,) = sessions.values()
        self.assertEqual(p["dsm_stategraph"][-2:], ["> DB error >", "quizconnect_caller/END"])

    async def test_unknown_number_gets_404(self):
        """6. A number with no callees: 183, then the script's 404."""
        db_url = self.create_database()
        await self.start(db_url)
        sipp = self.caller("404", RtpPeer.listen(self), number="36")
        await self.finished(sipp, "caller (404)")
        await self.no_calls_left()
        sessions = await self.sessions()
        self.assertEqual(len(sessions), 1, sessions)
        (p,) = sessions.values()
        self.assertEqual(p["ruri"], f"sip:36@127.0.0.1:{self.daemon.sip_port}")
        self.assertEqual(p["dsm_stategraph"][-2:], ["> no results >", "quizconnect_caller/END"])

    # 7 ------------------------------------------------------------------------
    async def test_load_config_applies_to_the_next_call_only(self):
        """7. loadConfig live: [200, 'OK']; a running call keeps the old script."""
        db_url = self.create_database()
        scripts = os.path.join(self.files, "scripts")
        shutil.copytree(APP_DIR, scripts, ignore=shutil.ignore_patterns("prompts"))
        await self.start(db_url, diag_path=scripts)
        uas = self.callees("ring", calls=4)
        first = self.caller("cancel", RtpPeer.listen(self), ring_ms=2500)
        await wait_for(
            lambda: self.states_are(caller="WAIT_CALLEE"),
            timeout=10,
            what="first caller in WAIT_CALLEE",
        )
        path = os.path.join(scripts, "quizconnect_caller.dsm")
        with open(path) as f:
            text = f.read()
        for name in ("got INVITE in caller leg", "CANCEL received"):
            self.assertIn(f'"{name}"', text)
            text = text.replace(f'"{name}"', f'"{name} (edited)"')
        with open(path, "w") as f:
            f.write(text)
        self.assertEqual(
            await self.daemon.call_xmlrpc("loadConfig", self.bundle_conf, "quizconnect"),
            [200, "OK"],
        )
        await self.finished(first, "first caller")
        second = self.caller("cancel", RtpPeer.listen(self), ring_ms=1000)
        await self.finished(second, "second caller")
        await self.finished(uas, "callees")
        await self.no_calls_left()
        sessions = await self.sessions()
        graphs = sorted(
            (p["dsm_stategraph"] for p in sessions.values() if p["app"] == "quizconnect_caller"),
            key=len,
        )
        self.assertEqual(len(graphs), 2)
        old = [g for g in graphs if "> got INVITE in caller leg >" in g]
        new = [g for g in graphs if "> got INVITE in caller leg (edited) >" in g]
        self.assertEqual((len(old), len(new)), (1, 1), graphs)
        self.assertIn("> CANCEL received >", old[0])  # the running call: old script
        self.assertNotIn("> CANCEL received (edited) >", old[0])
        self.assertIn("> CANCEL received (edited) >", new[0])  # the next call: the edit
