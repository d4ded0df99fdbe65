#!/usr/bin/env python3
"""Calls-per-second benchmark for donkey's SIP layer, driven by sipp.

Starts a SIP server (by default a bare :class:`donkey.sip.stack.SipStack`
that answers every INVITE and lets the caller hang up; ``--daemon`` runs the
real daemon instead, ``twistd -n donkeysm`` with an answer-then-hangup DSM
app, so session creation, RTP port allocation, the DSM engine, monitoring
(full state graphs) and logging are all in the path; ``--server-cmd`` puts
anything else there), then runs sipp on 127.0.0.1 at rising rates.  Each step is judged clean when
sipp reports 0 failed calls and 0 retransmissions; the highest clean rate
and the server's CPU time per call are printed.

The sipp scenario acknowledges the BYE's 200 by transaction
(``response_txn``): sipp's built-in uac would take a retransmitted INVITE 200
as the BYE reply and hide failures.

Usage::

    python bench/sip_cps.py                       # 100, 200, ... cps
    python bench/sip_cps.py --rates 300,500,700 --step-seconds 10
    python bench/sip_cps.py --daemon --rates 300,400,500 --step-seconds 30
    python bench/sip_cps.py --daemon --profile /tmp/donkey.prof   # cProfile via twistd
    python bench/sip_cps.py --server-cmd 'donkeysm-run -c conf/x.conf --sip-port {port}'

Bounds: every step <= 30 s of calls, the whole run <= 5 min, loopback only.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_STEP_SECONDS = 30
MAX_TOTAL_SECONDS = 300
CLK_TCK = os.sysconf("SC_CLK_TCK")

SDP = (
    "v=0\r\no=donkey 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def answer_bye_scenario(workdir: str) -> str:
    """The caller's scenario (INVITE, 200, ACK, BYE), from the tests' one sipp builder."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from test.sipp import scenario_file, uac_answer_bye

    path = os.path.join(workdir, "uac_answer_bye.xml")
    if not os.path.exists(path):
        path = scenario_file(uac_answer_bye(), workdir)
    return path


# --------------------------------------------------------------------------
# server side (``--serve``): the bare SIP stack with an answering listener
def serve(port: int) -> None:
    sys.path.insert(0, ROOT)
    from twisted.internet import reactor

    from donkey.sip.stack import SipStack

    class Answer:
        """Answer at once; the caller sends the BYE."""

        def __init__(self, leg):
            self.leg = leg

        def on_invite(self, leg):
            leg.accept(sdp=SDP)

    stack = SipStack(Answer, "127.0.0.1", port)
    stack.startService()
    # a daemon would do the same after start-up: keep the static heap out of
    # every full GC pass
    import gc

    gc.collect()
    gc.freeze()
    print("READY %d" % stack.port, flush=True)
    reactor.run()


# --------------------------------------------------------------------------
# server side (``--daemon``): twistd donkeysm with an answer-then-hangup app
DAEMON_APP = """\
-- bench: answered with the default 200 after the invite event; the caller hangs up
import(mod_dlg);
initial state START;
transition "invite" START - invite -> ANSWERING;
state ANSWERING;
transition "session start" START - sessionStart -> TALKING;
state TALKING;
transition "bye" (START, ANSWERING, TALKING) - hangup / stop(false) -> END;
state END;
"""


def daemon_command(workdir: str, xmlrpc_port: int, profile: str = "") -> list:
    """Write a config for the bench app into *workdir*; the twistd command line."""
    etc = os.path.join(workdir, "etc")
    dsm = os.path.join(workdir, "dsm")
    os.makedirs(etc, exist_ok=True)
    os.makedirs(dsm, exist_ok=True)
    with open(os.path.join(dsm, "bench.dsm"), "w") as f:
        f.write(DAEMON_APP)
    with open(os.path.join(workdir, "sems.conf"), "w") as f:
        f.write(
            "sip_ip=127.0.0.1\nmedia_ip=127.0.0.1\nplugin_config_path=etc\n"
            "application=$(ruri.user)\nloglevel=2\nsession_limit=0\n"
        )
    with open(os.path.join(etc, "dsm.conf"), "w") as f:
        f.write(
            "diag_path=../dsm\nload_diags=bench\nregister_apps=bench\n"
            "run_invite_event=yes\nmonitoring_full_stategraph=yes\n"
            "monitoring_full_transitions=yes\n"
        )
    with open(os.path.join(etc, "xmlrpc2di.conf"), "w") as f:
        f.write(
            "server_ip=127.0.0.1\nxmlrpc_port=8090\nexport_di=yes\ndirect_export=dsm;monitoring\n"
        )
    with open(os.path.join(etc, "monitoring.conf"), "w") as f:
        f.write("run_garbage_collector=yes\ngarbage_collector_interval=10\n")
    argv = [
        sys.executable,
        "-c",
        "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
        "-n",
        "--pidfile=",
        "-l",
        os.path.join(workdir, "donkey.log"),
    ]
    if profile:
        argv += ["--profile", profile, "--profiler", "cprofile", "--savestats"]
    return argv + [
        "donkeysm",
        "-c",
        os.path.join(workdir, "sems.conf"),
        "--sip-port",
        "{port}",
        "--xmlrpc-port",
        str(xmlrpc_port),
        "--rtp-ports",
        "20000-59999",
    ]


# --------------------------------------------------------------------------
# driver side
def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_sip_ready(port: int, timeout: float = 15.0) -> bool:
    """Poll with OPTIONS until the server answers anything."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.3)
    lport = s.getsockname()[1]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            cid = uuid.uuid4().hex
            msg = (
                "OPTIONS sip:ping@127.0.0.1:%d SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"
                "From: <sip:bench@127.0.0.1>;tag=%s\r\nTo: <sip:ping@127.0.0.1>\r\n"
                "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                % (port, lport, cid[:16], cid[:8], cid)
            )
            s.sendto(msg.encode(), ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(65535)
                if data.startswith(b"SIP/2.0"):
                    return True
            except TimeoutError:
                pass
        return False
    finally:
        s.close()


def cpu_seconds(pid: int) -> float:
    """utime+stime of *pid* and its reaped children, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime=14, stime=15, cutime=16, cstime=17
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def rss_mb(pid: int) -> float:
    """The server's resident memory, to see whether calls leave anything behind."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def server_pid(proc: subprocess.Popen) -> int:
    """The process to meter: the command itself or its single child (shell wrappers)."""
    try:
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            kids = f.read().split()
        if len(kids) == 1:
            return int(kids[0])
    except OSError:
        pass
    return proc.pid


def run_step(
    port: int, rate: int, seconds: int, workdir: str, pid: int, service: str = "service"
) -> dict:
    calls = rate * seconds
    stf = os.path.join(workdir, "stat_%d.csv" % rate)
    args = [
        "sipp",
        "-sf",
        answer_bye_scenario(workdir),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-s",
        service,
        "-r",
        str(rate),
        "-m",
        str(calls),
        "-l",
        str(max(100, rate * 5)),
        "-nostdin",
        "-trace_stat",
        "-stf",
        stf,
        "-fd",
        "1",
        "-timeout",
        "%ds" % (seconds + 20),
        "-timeout_error",
        "-max_socket",
        "2000",
        "127.0.0.1:%d" % port,
    ]
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    p = subprocess.run(
        args,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=seconds + 40,
    )
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    row = {}
    if os.path.exists(stf):
        with open(stf) as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        if rows:
            row = rows[-1]

    def num(key: str) -> int:
        try:
            return int(row.get(key, "0") or 0)
        except ValueError:
            return 0

    ok = num("SuccessfulCall(C)")
    failed = num("FailedCall(C)")
    retrans = num("Retransmissions(C)")
    return {
        "rate": rate,
        "calls": calls,
        "ok": ok,
        "failed": failed,
        "retrans": retrans,
        "rc": p.returncode,
        "wall": wall,
        "cpu": cpu,
        "cpu_ms_per_call": (cpu * 1000.0 / ok) if ok else float("nan"),
        "stderr": p.stderr[-500:],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--port", type=int, default=0, help="SIP port of the server (default: a free one)"
    )
    ap.add_argument(
        "--server-cmd",
        default=None,
        help="server command line; '{port}' is replaced (default: bare SipStack)",
    )
    ap.add_argument(
        "--daemon",
        action="store_true",
        help="run the real daemon (twistd donkeysm, a DSM app) as the server",
    )
    ap.add_argument(
        "--profile",
        default="",
        help="with --daemon: cProfile the daemon into this file (twistd --profile)",
    )
    ap.add_argument(
        "--rates", default="100,200,300,400,500,600,700,800", help="comma-separated cps steps"
    )
    ap.add_argument(
        "--step-seconds", type=int, default=10, help="seconds of calls per step (<= 30)"
    )
    ap.add_argument(
        "--keep-going", action="store_true", help="do not stop at the first unclean step"
    )
    opts = ap.parse_args(argv)

    if opts.serve:
        serve(opts.port)
        return 0

    step_seconds = max(1, min(opts.step_seconds, MAX_STEP_SECONDS))
    port = opts.port or free_port()
    workdir = tempfile.mkdtemp(prefix="sip_cps_")
    env = dict(os.environ)
    if opts.daemon:
        xs = socket.socket()
        xs.bind(("127.0.0.1", 0))
        xmlrpc_port = xs.getsockname()[1]
        xs.close()
        argv = daemon_command(workdir, xmlrpc_port, opts.profile)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    else:
        cmd = opts.server_cmd or "%s %s --serve --port {port}" % (
            shlex.quote(sys.executable),
            shlex.quote(__file__),
        )
        argv = shlex.split(cmd)
    argv = [a.replace("{port}", str(port)) for a in argv]
    server = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=workdir if opts.daemon else ROOT,
        env=env,
    )
    started = time.monotonic()
    best = None
    results = []
    try:
        if not wait_sip_ready(port):
            print("server did not answer OPTIONS on 127.0.0.1:%d" % port, file=sys.stderr)
            return 2
        pid = server_pid(server)
        print("server pid %d on udp 127.0.0.1:%d; %ds per step" % (pid, port, step_seconds))
        print(
            "%6s %7s %7s %6s %7s %7s %9s %8s"
            % ("cps", "calls", "ok", "fail", "retrans", "cpu%", "ms/call", "rss MB")
        )
        for rate in [int(r) for r in opts.rates.split(",") if r.strip()]:
            if time.monotonic() - started + step_seconds + 40 > MAX_TOTAL_SECONDS:
                print("time budget reached")
                break
            if server.poll() is not None:
                print("server died (rc=%s)" % server.returncode)
                break
            r = run_step(
                port, rate, step_seconds, workdir, pid, "bench" if opts.daemon else "service"
            )
            results.append(r)
            clean = r["failed"] == 0 and r["retrans"] == 0 and r["ok"] == r["calls"]
            print(
                "%6d %7d %7d %6d %7d %6.1f%% %9.3f %8.1f%s"
                % (
                    rate,
                    r["calls"],
                    r["ok"],
                    r["failed"],
                    r["retrans"],
                    100.0 * r["cpu"] / r["wall"],
                    r["cpu_ms_per_call"],
                    rss_mb(pid),
                    "" if clean else "   <- not clean",
                ),
                flush=True,
            )
            if clean:
                best = r
            elif not opts.keep_going:
                break
            time.sleep(2)  # let the previous step's calls drain
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    if best is None:
        print("RESULT: no clean step")
        return 1
    print(
        "RESULT: %d cps held with 0 failed calls and 0 retransmissions; server CPU %.1f%% "
        "(%.3f ms/call)"
        % (best["rate"], 100.0 * best["cpu"] / best["wall"], best["cpu_ms_per_call"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
