"""SIP calls through the DSM daemon: ``twistd -n donkeysm`` with small scripts, driven by sipp.

Every test writes its own configuration (sems.conf, etc/dsm.conf,
etc/xmlrpc2di.conf and the DSM scripts) into the test's temp dir, starts the
daemon on free loopback ports and checks what a user sees: sipp's exit code
and the responses its scenario insists on, the monitoring entries
(``listFinished``/``get`` over XML-RPC) with the DSM state graph, and what
the scripts wrote there with ``monitoring.log``.
"""

from __future__ import annotations

import os
import textwrap

from twisted.trial import unittest

from test.daemon import Daemon, free_port, sipp_available, wait_for
from test.sip.helpers import sipp_uac, sipp_uas

# -- scripts -----------------------------------------------------------------------
ANSWER = """
-- answers (the default 200 after the invite event); the caller hangs up
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "invite" START - invite -> ANSWERING;
transition "session start" START - sessionStart / monitoring.log(started, yes) -> TALKING;
state ANSWERING;
state TALKING;
transition "bye" (START, ANSWERING, TALKING) - hangup / {
  monitoring.log(hangup, seen);
  stop(false);
} -> END;
state END;
"""

EARLY = """
-- 183 with early media, then 200 after a timer
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "invite" START - invite / {
  set($connect_session=0);
  dlg.acceptInvite(183, Session Progress);
  monitoring.log(early_errno, $errno);
  setTimer(1, 1);
} -> EARLY;
transition "session start" START - sessionStart -> EARLY;
state EARLY;
transition "connect" (START, EARLY) - timer(#id == 1) / {
  dlg.acceptInvite(200, OK);
  monitoring.log(accept_errno, $errno);
} -> CONNECTED;
state CONNECTED;
transition "bye" (START, EARLY, CONNECTED) - hangup / {
  monitoring.log(hangup, seen);
  stop(false);
} -> END;
state END;
"""

RING = """
-- rings and never answers; the caller cancels
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "invite" START - invite / dlg.reply(180, Ringing) -> RINGING;
state RINGING;
transition "cancel" (START, RINGING) - hangup / {
  set($cancelled=yes);
  monitoring.log(hangup, $cancelled);
  stop(false);
} -> END;
state END;
"""

REJECT = """
-- replies with the code in its name (reject404, reject500)
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "404" START - invite; test(@user == reject404) / {
  dlg.reply(404, Not Found);
  stop(false);
} -> REJECTED;
transition "500" START - invite; test(@user == reject500) / {
  dlg.reply(500, Server Internal Error);
  stop(false);
} -> REJECTED;
state REJECTED;
"""

DIALER = """
-- system DSM: dials out when told over XML-RPC (postDSMEvent(dialer, ...))
import(mod_dlg);
initial state INIT;
transition "startup" INIT - startup / registerEventQueue(dialer) -> READY;
state READY;
transition "dial" READY - event(#action == dial) / {
  set($b_caller=donkey);
  set($b_callee=#callee);
  set($b_domain=#domain);
  set($b_app=#app);
  set($b_auth_user=#auth_user);
  set($b_auth_pwd=#auth_pwd);
  set($b_var.how=#how);
  dlg.dialout(b);
} -> READY;
"""

OUTCALL = """
-- an outbound call: records what it sees, hangs up a second after the answer
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "invite" START - invite -> DIALLING;
state DIALLING;
transition "ringing" (START, DIALLING) - ringing / monitoring.add(seen, ringing) -> DIALLING;
transition "early" (START, DIALLING) - early / monitoring.add(seen, early) -> DIALLING;
transition "answered" (START, DIALLING) - sessionStart / {
  monitoring.add(seen, sessionStart);
  setTimer(1, 1);
} -> TALKING;
state TALKING;
transition "hang up (stop)" TALKING - timer(#id == 1); test($how == stop) / stop(true) -> END;
transition "hang up (bye)" TALKING - timer(#id == 1) / {
  dlg.bye();
  stop(false);
} -> END;
transition "failed" (START, DIALLING) - failed / {
  monitoring.log(failed, #code);
  stop(false);
} -> END;
transition "remote bye" (START, DIALLING, TALKING) - hangup / {
  monitoring.add(seen, hangup);
  stop(false);
} -> END;
state END;
"""

HOLDER = """
-- answers and hangs up itself after $config.hold_seconds
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / setTimer(1, $config.hold_seconds) -> TALKING;
state TALKING;
transition "time up" TALKING - timer(#id == 1) / stop(true) -> END;
transition "bye" (START, TALKING) - hangup / stop(false) -> END;
state END;
"""

TIMERS = """
-- session timer: logs a sessionTimeout; the default then ends the call
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart -> TALKING;
state TALKING;
transition "timeout" TALKING - sessionTimeout / monitoring.log(session_timeout, seen) -> TALKING;
transition "bye" (START, TALKING) - hangup / {
  monitoring.log(hangup, seen);
  stop(false);
} -> END;
state END;
"""

REQUESTS = """
-- takes in-dialog requests itself: answers an INFO with its own header
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "invite" START - invite / set($enable_request_events=true) -> START;
transition "start" START - sessionStart -> TALKING;
state TALKING;
transition "request" TALKING - sipRequest(#method == INFO) / {
  dlg.getRequestBody(application/x-donkey, info_body);
  monitoring.log(info_body, $info_body);
  monitoring.log(info_hdrs, #hdrs);
  set($dlg.reply.hdrs=X-Donkey: replied-by-script);
  dlg.replyRequest(200, OK);
  clear($dlg.reply.hdrs);
  set(#processed=true);
} -> TALKING;
transition "bye" (START, TALKING) - hangup / {
  monitoring.log(hangup, seen);
  stop(false);
} -> END;
state END;
"""

PROBE = """
-- sends an INFO once connected; logs remoteDisappeared (the default then ends the call)
import(mod_dlg);
import(mod_monitoring);
initial state START;
transition "start" START - sessionStart / dlg.info(application/x-donkey, ping) -> TALKING;
state TALKING;
transition "gone" TALKING - remoteDisappeared / {
  monitoring.log(disappeared, #sip_code);
} -> GONE;
state GONE;
transition "bye" (START, TALKING) - hangup / stop(false) -> END;
state END;
"""


def write_config(
    testcase,
    scripts: dict[str, str],
    *,
    register: list[str] | None = None,
    system: list[str] = (),
    sems_extra: str = "",
    dsm_extra: str = "",
    files: dict[str, str] | None = None,
) -> str:
    """A sems.conf + etc/ + dsm/ tree in the test's temp dir; returns sems.conf's path."""
    root = os.path.abspath(testcase.mktemp())
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "dsm"))
    for name, text in scripts.items():
        with open(os.path.join(root, "dsm", name + ".dsm"), "w") as f:
            f.write(textwrap.dedent(text).lstrip())
    register = list(scripts) if register is None else register
    with open(os.path.join(root, "sems.conf"), "w") as f:
        f.write(
            "sip_ip=127.0.0.1\nmedia_ip=127.0.0.1\nplugin_config_path=etc\n"
            "application=$(ruri.user)\nloglevel=2\n" + sems_extra
        )
    with open(os.path.join(root, "etc", "dsm.conf"), "w") as f:
        f.write(
            "diag_path=../dsm\n"
            f"load_diags={','.join(scripts)}\n"
            f"register_apps={','.join(register)}\n"
            f"run_system_dsms={','.join(system)}\n"
            "run_invite_event=yes\n"
            "monitoring_full_stategraph=yes\nmonitoring_full_transitions=yes\n" + dsm_extra
        )
    with open(os.path.join(root, "etc", "xmlrpc2di.conf"), "w") as f:
        f.write("server_ip=127.0.0.1\nexport_di=yes\ndirect_export=dsm;monitoring\n")
    for name, text in (files or {}).items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    return os.path.join(root, "sems.conf")


class DSMCallTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        if not sipp_available():
            raise unittest.SkipTest("sipp (Debian sip-tester) is not installed")

    async def start(self, scripts, **kw) -> Daemon:
        self.daemon = Daemon(self, write_config(self, scripts, **kw))
        await self.daemon.ready()
        return self.daemon

    async def uac(self, scenario: str, service: str, extra=(), expect_rc: int = 0):
        sipp = sipp_uac(self, scenario, self.daemon.sip_port, ["-s", service, *extra])
        code, out, err = await sipp.result()
        self.assertEqual(
            code,
            expect_rc,
            f"sipp {scenario}: {out[-6000:]}{err[-2000:]}\n" + self.daemon.output()[-4000:],
        )
        return out

    async def finished(self, count: int = 1) -> list[dict]:
        """The monitoring entries of the finished calls, once there are ``count``."""
        ids = await wait_for(lambda: self._finished_ids(count), 10, f"{count} finished calls")
        return [(await self.daemon.call_xmlrpc("get", i))[0] for i in ids]

    async def _finished_ids(self, count):
        ids = await self.daemon.call_xmlrpc("listFinished")
        return ids if len(ids) >= count else None

    async def no_calls_left(self):
        await wait_for(self._calls_zero, 10, "no calls left")

    async def _calls_zero(self):
        return await self.daemon.call_xmlrpc("calls") == 0

    def graph(self, props: dict) -> list:
        return props["dsm_stategraph"]

    # 1 ------------------------------------------------------------------------------
    async def test_answer_then_bye_from_caller(self):
        """A DSM that answers gets sessionStart, sees the caller's BYE as hangup and ends in END."""
        await self.start({"answer": ANSWER})
        await self.uac("uac_answer_bye.xml", "answer")
        (props,) = await self.finished()
        self.assertEqual((props["app"], props["dir"]), ("answer", "in"))
        self.assertEqual(props["started"], "yes")
        self.assertEqual(props["hangup"], "seen")
        self.assertEqual(props["dsm_state"], "END")
        self.assertEqual(self.graph(props)[-3:], ["answer/TALKING", "> bye >", "answer/END"])
        await self.no_calls_left()

    # 2 ------------------------------------------------------------------------------
    async def test_early_media_then_answer(self):
        """A script sending 183 with SDP and then accepting gives the caller early media, then 200."""
        await self.start({"early": EARLY})
        # the scenario insists on a 183 with SDP, then the 200
        await self.uac("uac_early_media.xml", "early")
        (props,) = await self.finished()
        self.assertEqual(props["early_errno"], "")
        self.assertEqual(props["accept_errno"], "")
        self.assertEqual(props["hangup"], "seen")
        graph = self.graph(props)
        self.assertIn("> invite >", graph)
        self.assertLess(graph.index("> invite >"), graph.index("> connect >"))
        self.assertEqual(graph[-3:], ["early/CONNECTED", "> bye >", "early/END"])

    # 3 ------------------------------------------------------------------------------
    async def test_cancel_gets_487_and_script_sees_hangup(self):
        """A caller cancelling while the script rings gets 487, and the script sees a hangup."""
        await self.start({"ring": RING})
        # the scenario insists on 180, then 200 for the CANCEL and 487 for the INVITE
        await self.uac("uac_cancel.xml", "ring")
        (props,) = await self.finished()
        self.assertEqual(props["hangup"], "yes")
        self.assertEqual(self.graph(props)[-3:], ["ring/RINGING", "> cancel >", "ring/END"])
        await self.no_calls_left()

    # 4 ------------------------------------------------------------------------------
    async def test_script_replies_404_and_500(self):
        # both numbers reach the one script through the application mapping
        """Numbers mapped to one script get the 404 and 500 replies it chooses."""
        await self.start(
            {"reject": REJECT},
            sems_extra="application=$(mapping)\napp_mapping=etc/app_mapping.conf\n",
            files={"etc/app_mapping.conf": "^sip:reject[0-9]+@=>reject\n"},
        )
        await self.uac("uac_expect_404.xml", "reject404")
        await self.uac("uac_expect_500.xml", "reject500")
        props = await self.finished(2)
        self.assertEqual(
            sorted(p["ruri"].split("@")[0] for p in props), ["sip:reject404", "sip:reject500"]
        )
        for p in props:
            self.assertEqual(p["dsm_state"], "REJECTED")
        await self.no_calls_left()

    # 5, 6 ---------------------------------------------------------------------------
    async def dial(self, how: str, uas_scenario: str | None = None, auth=("", "")):
        await self.start({"dialer": DIALER, "outcall": OUTCALL}, register=[], system=["dialer"])
        port = free_port()
        uas = sipp_uas(self, port, uas_scenario)
        await uas.bound()
        code, reason = await self.daemon.call_xmlrpc(
            "postDSMEvent",
            "dialer",
            [
                ["action", "dial"],
                ["callee", "bob"],
                ["domain", f"127.0.0.1:{port}"],
                ["app", "outcall"],
                ["auth_user", auth[0]],
                ["auth_pwd", auth[1]],
                ["how", how],
            ],
        )
        self.assertEqual((code, reason), (200, "OK"))
        rc, out, err = await uas.result()
        self.assertEqual(rc, 0, out[-2000:] + err[-2000:] + self.daemon.output()[-4000:])
        (props,) = await self.finished()
        self.assertEqual((props["app"], props["dir"]), ("outcall", "out"))
        self.assertEqual(props["ruri"], f"sip:bob@127.0.0.1:{port}")
        self.assertEqual(props["dsm_state"], "END")
        self.assertNotIn("failed", props)
        await self.no_calls_left()
        return props

    async def test_dialout_then_stop_true(self):
        """A system DSM dials out; the new leg sees ringing and sessionStart, and stop(true) hangs up with BYE."""
        props = await self.dial("stop")
        self.assertEqual(props["seen"], [0, "ringing", "sessionStart"])
        self.assertIn("> hang up (stop) >", self.graph(props))

    async def test_dialout_then_dlg_bye(self):
        """A dialled-out leg that hangs up with dlg.bye() ends cleanly."""
        props = await self.dial("bye")
        self.assertEqual(props["seen"], [0, "ringing", "sessionStart"])
        self.assertIn("> hang up (bye) >", self.graph(props))

    async def test_dialout_with_digest_auth(self):
        """A dial-out challenged with 401 authenticates with the given credentials and connects."""
        props = await self.dial("bye", "uas_auth.xml", ("alice", "secret"))
        self.assertEqual(props["seen"], [0, "sessionStart"])

    async def test_dialout_with_wrong_password_fails(self):
        """A dial-out with a wrong password is refused (403) and the script sees it fail."""
        await self.start({"dialer": DIALER, "outcall": OUTCALL}, register=[], system=["dialer"])
        port = free_port()
        uas = sipp_uas(self, port, "uas_auth.xml")
        await uas.bound()
        await self.daemon.call_xmlrpc(
            "postDSMEvent",
            "dialer",
            [
                ["action", "dial"],
                ["callee", "bob"],
                ["domain", f"127.0.0.1:{port}"],
                ["app", "outcall"],
                ["auth_user", "alice"],
                ["auth_pwd", "wrong"],
                ["how", "bye"],
            ],
        )
        (props,) = await self.finished()
        self.assertEqual(props["failed"], "403")
        await uas.stop()

    # 7 ------------------------------------------------------------------------------
    TIMER_CONF = "enable_session_timer=yes\nsession_expires=60\nminimum_timer=1\n"

    async def test_session_timer_we_refresh(self):
        """With session timers on and us as refresher, the call survives on UPDATEs until the caller's BYE."""
        await self.start({"timers": TIMERS}, dsm_extra=self.TIMER_CONF)
        # the caller asks us to refresh every 2 s: two UPDATEs, then it hangs up
        await self.uac("uac_st_uas_refresh.xml", "timers")
        (props,) = await self.finished()
        self.assertEqual(props["hangup"], "seen")
        self.assertNotIn("session_timeout", props)

    async def test_session_timer_expires(self):
        """When the caller stops refreshing, the script sees session_timeout and donkey sends BYE."""
        await self.start({"timers": TIMERS}, dsm_extra=self.TIMER_CONF)
        # the caller refreshes once, then stops; we give up and send BYE
        await self.uac("uac_st_timeout.xml", "timers")
        (props,) = await self.finished()
        self.assertEqual(props["session_timeout"], "seen")
        self.assertNotIn("hangup", props)

    # 8 ------------------------------------------------------------------------------
    async def test_sip_request_event_and_reply_request(self):
        """A caller's INFO reaches the script with body and headers, and the script's reply carries its header."""
        await self.start({"requests": REQUESTS})
        await self.uac("uac_info_request.xml", "requests")
        (props,) = await self.finished()
        self.assertEqual(props["info_body"].strip(), "ping")
        self.assertIn("X-Info-Test: hello", props["info_hdrs"])
        self.assertIn("> request >", self.graph(props))
        self.assertEqual(props["hangup"], "seen")

    async def test_hold_and_resume(self):
        """A caller's hold and resume re-INVITEs are answered recvonly and sendrecv; the call ends normally."""
        await self.start({"answer": ANSWER})
        # the scenario checks a=recvonly for the hold and a=sendrecv for the resume
        await self.uac("uac_hold_resume.xml", "answer")
        (props,) = await self.finished()
        self.assertEqual(props["hangup"], "seen")
        self.assertEqual(props["dsm_state"], "END")

    # 9 ------------------------------------------------------------------------------
    async def remote_disappeared(self, code: str):
        await self.start({"probe": PROBE})
        await self.uac(f"uac_info_reply_{code}.xml", "probe")
        (props,) = await self.finished()
        self.assertEqual(props["disappeared"], code)
        self.assertEqual(props["dsm_state"], "GONE")
        await self.no_calls_left()

    async def test_481_is_remote_disappeared(self):
        """A 481 to donkey's in-dialog INFO makes the script see remote-disappeared and end in GONE."""
        await self.remote_disappeared("481")

    async def test_408_is_remote_disappeared(self):
        """A 408 to donkey's in-dialog INFO makes the script see remote-disappeared and end in GONE."""
        await self.remote_disappeared("408")

    async def test_503_past_session_limit(self):
        """Past session_limit a second caller gets 503; once the first call ends a new one is taken."""
        await self.start(
            {"holder": HOLDER}, sems_extra="session_limit=1\n", dsm_extra="hold_seconds=3\n"
        )
        first = sipp_uac(self, "uac_wait_bye.xml", self.daemon.sip_port, ["-s", "holder"])
        await wait_for(lambda: self.daemon.call_xmlrpc("calls"), 10, "the first call")
        await self.uac("uac_expect_503.xml", "holder")
        code, out, err = await first.result()
        self.assertEqual(code, 0, out[-2000:] + self.daemon.output()[-3000:])
        (props,) = await self.finished()
        self.assertEqual(props["dsm_state"], "END")
        # the slot is free again
        await self.no_calls_left()
        second = sipp_uac(self, "uac_wait_bye.xml", self.daemon.sip_port, ["-s", "holder"])
        code, out, err = await second.result()
        self.assertEqual(code, 0, out[-2000:])


class SessionTimerConfigTests(unittest.TestCase):
    """The SEMS keys reach the SIP stack's SessionTimerConfig."""

    def config(self, dsm: str = "", sems: str = ""):
        from donkey.app.server import session_timer_config
        from donkey.config import load_server_config

        return session_timer_config(
            load_server_config(
                write_config(self, {"answer": ANSWER}, sems_extra=sems, dsm_extra=dsm)
            )
        )

    def test_off_by_default(self):
        """Session timers are off unless configured, with SEMS's default intervals."""
        st = self.config()
        self.assertEqual((st.enabled, st.session_expires, st.min_se), (False, 1800, 90))

    def test_from_dsm_conf(self):
        """Session timer settings are read from dsm.conf."""
        st = self.config(
            "enable_session_timer=yes\nsession_expires=240\nminimum_timer=90\n"
            "session_refresh_method=UPDATE\n"
        )
        self.assertEqual(
            (st.enabled, st.session_expires, st.min_se, st.refresh_method),
            (True, 240, 90, "UPDATE"),
        )

    def test_from_sems_conf(self):
        """Session timer settings are read from sems.conf too."""
        st = self.config(sems="enable_session_timer=yes\nsession_expires=120\n")
        self.assertEqual((st.enabled, st.session_expires), (True, 120))

    def test_bad_values(self):
        """A session_expires below minimum_timer, or a refresh method other than UPDATE/INVITE, is a ConfigError."""
        from donkey.config import ConfigError

        with self.assertRaises(ConfigError):
            self.config("enable_session_timer=yes\nsession_expires=30\nminimum_timer=90\n")
        with self.assertRaises(ConfigError):
            self.config("session_refresh_method=OPTIONS\n")


class LogFilterTests(unittest.TestCase):
    """Twisted's per-RTP-socket lines are debug; everything else keeps its level."""

    def test_port_chatter(self):
        """Twisted's per-RTP-port start/stop messages are recognised as chatter, other messages are not."""
        from donkey.app.server import is_port_chatter

        for text in (
            "RtpEndpoint starting on 30000",
            "_Discard starting on 30001",
            "Starting protocol <donkey.media.rtp.RtpEndpoint object at 0x1>",
            "Stopping protocol <donkey.media.rtp._Discard object at 0x1>",
            "(UDP Port 30000 Closed)",
        ):
            self.assertTrue(is_port_chatter({"message": (text,)}), text)
        for event in (
            {"message": ("_SipDatagramProtocol starting on 5060",)},
            {"message": ("(UDP Port 1 Closed)",), "isError": 1},
            {"log_format": "SIP stack listening"},
        ):
            self.assertFalse(is_port_chatter(event), event)

    def test_filtered_observer(self):
        """At loglevel 2 port chatter and debug messages are dropped; at loglevel 3 chatter is logged."""
        from twisted.logger import LogLevel

        from donkey.app.server import _FilteredObserver

        class Control:
            loglevel = 2

        seen = []
        observer = _FilteredObserver(seen.append, Control())
        observer({"message": ("RtpEndpoint starting on 30000",), "log_level": LogLevel.info})
        observer({"log_format": "x", "log_level": LogLevel.debug})
        observer({"log_format": "kept", "log_level": LogLevel.info})
        self.assertEqual([e["log_format"] for e in seen], ["kept"])
        Control.loglevel = 3
        observer({"message": ("RtpEndpoint starting on 30000",), "log_level": LogLevel.info})
        self.assertEqual(len(seen), 2)
