#!/usr/bin/env python3
"""Media load test: N concurrent calls on donkey's MediaClock, loopback only.

The donkey side (this process) answers N SDP offers, plays a looped WAV to
every call and receives RTP.  A separate generator process (this script with
``--generator``) owns the N far-end sockets and echoes every packet back, so
donkey also receives 50 packets/s per call.  The generator timestamps each
arrival to measure jitter as seen by the far end (|inter-arrival - 20 ms|,
which includes the generator's own scheduling delays) and counts sequence
gaps; donkey records the send time of every 10th call's packets for its own
send-time jitter figure.  Both processes are pinned to different cores when possible.

    python bench/media_load.py --calls 500 --duration 20
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------- generator
def generator(n: int, host: str) -> None:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.bind((host, 0))
        s.setblocking(False)
        socks.append(s)
    print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
    ep = select.epoll()
    by_fd = {}
    for i, s in enumerate(socks):
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = (i, s.recvfrom, s.sendto)
    stdin_fd = sys.stdin.fileno()
    ep.register(stdin_fd, select.EPOLLIN)
    last_t = [0.0] * n
    last_seq = [-1] * n
    hist = [0] * 1001  # 0.1 ms buckets of |inter-arrival - 20 ms|, last = overflow
    stats = {"received": 0, "gaps": 0, "late_or_dup": 0}
    unpack_seq = struct.Struct("!H").unpack_from
    clock = time.perf_counter
    recording = False
    while True:
        for fd, _ in ep.poll():
            if fd == stdin_fd:
                line = sys.stdin.readline().strip()
                if line == "reset":
                    hist = [0] * 1001
                    stats = {"received": 0, "gaps": 0, "late_or_dup": 0}
                    recording = True
                    continue
                # "stop" or EOF
                total = sum(hist)
                acc, p99, p50 = 0, None, None
                for b, c in enumerate(hist):
                    acc += c
                    if p50 is None and acc >= 0.5 * total:
                        p50 = b / 10.0
                    if acc >= 0.99 * total:
                        p99 = b / 10.0
                        break
                stats.update(
                    jitter_p50_ms=p50,
                    jitter_p99_ms=p99,
                    jitter_samples=total,
                    jitter_max_ms=max((b for b, c in enumerate(hist) if c), default=0) / 10.0,
                )
                print(json.dumps(stats), flush=True)
                return
            i, recvfrom, sendto = by_fd[fd]
            while True:
                try:
                    data, addr = recvfrom(2048)
                except BlockingIOError:
                    break
                now = clock()
                sendto(data, addr)  # echo
                if len(data) < 12:
                    continue
                seq = unpack_seq(data, 2)[0]
                ls = last_seq[i]
                if ls >= 0:
                    gap = (seq - ls) & 0xFFFF
                    if gap == 0 or gap > 0x8000:
                        stats["late_or_dup"] += 1
                        continue
                    if gap > 1:
                        stats["gaps"] += gap - 1
                    elif recording:
                        d = abs(now - last_t[i] - 0.02)
                        b = int(d * 10000)
                        hist[b if b < 1000 else 1000] += 1
                last_seq[i] = seq
                last_t[i] = now
                stats["received"] += 1


# ------------------------------------------------------------------ donkey
def donkey(args) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor

    from donkey.media import MediaClock, MediaSession, PortAllocator
    from donkey.media.sdp import SdpNegotiator
    from test.media.helpers import tone, write_pcm_wav

    if args.nice:
        os.nice(args.nice)  # e.g. -10: media before batch work on a shared box
    cores = sorted(os.sched_getaffinity(0))
    gen_cpu = None
    if args.pin and len(cores) >= 2:
        os.sched_setaffinity(0, {cores[0]})
        gen_cpu = cores[1]

    def gen_setup():
        # The generator stands in for the network: let donkey's ticks preempt it.
        os.nice(args.generator_nice)
        if gen_cpu is not None:
            os.sched_setaffinity(0, {gen_cpu})

    gen = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--generator", "--calls", str(args.calls)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=gen_setup,
    )
    far_ports = json.loads(gen.stdout.readline())

    tmp = tempfile.mkdtemp(prefix="donkey-bench-")
    wav = os.path.join(tmp, "music.wav")
    write_pcm_wav(wav, tone([440, 660], 2000, 16000, amp=4000), 16000)

    clock = MediaClock(reactor)
    ports = PortAllocator(args.port_low, args.port_low + 4 * args.calls + 10, "127.0.0.1", reactor)
    sessions = []
    for fp in far_ports:
        s = MediaSession(clock, ports)
        far = SdpNegotiator("127.0.0.1", fp)
        s.answer(far.make_offer())
        s.play_file(wav, loop=True)
        sessions.append(s)
    # Send-time jitter measured in donkey itself: for every 10th call, when its
    # packet actually left vs. 20 ms after the previous one.
    from array import array

    send_times: list[array] = []
    for i, s in enumerate(sessions):
        if i % 10 == 0:
            times = array("d")
            send_times.append(times)
            inner = s.send_tick

            def timed(inner=inner, append=times.append, now=time.perf_counter):
                inner()
                append(now())

            s.send_tick = timed
    for s in sessions:
        s.connect()

    marks = {}

    def begin():
        gen.stdin.write("reset\n")
        gen.stdin.flush()
        marks["t0"] = time.monotonic()
        marks["cpu0"] = os.times()
        marks["ru0"] = resource.getrusage(resource.RUSAGE_SELF)
        marks["sent0"] = sum(s.stats.packets_sent for s in sessions)
        marks["recv0"] = sum(s.stats.packets_received for s in sessions)
        marks["lost0"] = sum(s.stats.packets_lost for s in sessions)
        marks["ticks0"] = clock.ticks
        marks["skip0"] = clock.skipped
        marks["lat0"] = clock._lat_n
        marks["st0"] = [len(t) for t in send_times]

    def end():
        t1 = time.monotonic()
        c1 = os.times()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = t1 - marks["t0"]
        c0 = marks["cpu0"]
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        n_lat = clock._lat_n - marks["lat0"]
        lat = (
            sorted(clock.lateness_samples()[-min(n_lat, len(clock.lateness)) :]) if n_lat else [0.0]
        )
        sent = sum(s.stats.packets_sent for s in sessions) - marks["sent0"]
        recv = sum(s.stats.packets_received for s in sessions) - marks["recv0"]
        lost = sum(s.stats.packets_lost for s in sessions) - marks["lost0"]
        ticks = clock.ticks - marks["ticks0"]
        skipped = clock.skipped - marks["skip0"]
        send_errors = sum(s.stats.send_errors for s in sessions)
        jit = []
        for t, k0 in zip(send_times, marks["st0"]):
            jit.extend(abs(b - a - 0.02) for a, b in zip(t[k0:], t[k0 + 1 :]))
        jit.sort()
        jit = jit or [0.0]
        gen.stdin.write("stop\n")
        gen.stdin.flush()
        g = json.loads(gen.stdout.readline())
        gen.wait()
        cpu_pct = 100.0 * cpu / wall
        res = {
            "calls": len(sessions),
            "measured_s": round(wall, 2),
            "cpu_pct_total": round(cpu_pct, 1),
            "cpu_pct_per_100_calls": round(cpu_pct * 100.0 / len(sessions), 2),
            "vol_ctx_switches": ru1.ru_nvcsw - marks["ru0"].ru_nvcsw,
            "invol_ctx_switches": ru1.ru_nivcsw - marks["ru0"].ru_nivcsw,
            "ticks": ticks,
            "expected_ticks": int(wall / 0.02),
            "ticks_skipped": skipped,
            "tick_lateness_p50_ms": round(1000 * lat[len(lat) // 2], 3),
            "tick_lateness_p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 3),
            "tick_lateness_max_ms": round(1000 * lat[-1], 3),
            "send_jitter_p50_ms (donkey)": round(1000 * jit[len(jit) // 2], 3),
            "send_jitter_p99_ms (donkey)": round(1000 * jit[int(len(jit) * 0.99)], 3),
            "send_jitter_max_ms (donkey)": round(1000 * jit[-1], 3),
            "send_jitter_p50_ms (at far end)": g["jitter_p50_ms"],
            "send_jitter_p99_ms (at far end)": g["jitter_p99_ms"],
            "send_jitter_max_ms (at far end)": g["jitter_max_ms"],
            "packets_sent": sent,
            "send_errors": send_errors,
            "far_end_received": g["received"],
            "frames_lost_donkey_to_far (seq gaps)": g["gaps"],
            "frames_lost_far_to_donkey (seq gaps)": lost,
            # A tick skipped (the process was descheduled > 100 ms) sends no
            # frame for any call: those frames never exist, so no seq gap shows.
            "frames_never_sent (skipped ticks x calls)": skipped * len(sessions),
            "echo_received_by_donkey": recv,
        }
        for k, v in res.items():
            print("%-40s %s" % (k, v))
        for s in sessions:
            s.close()
        reactor.callLater(0.1, reactor.stop)

    reactor.callLater(args.warmup, begin)
    reactor.callLater(args.warmup + args.duration, end)
    print(
        "running %d calls for %ss (+%ss warm-up) ..." % (len(sessions), args.duration, args.warmup),
        flush=True,
    )
    reactor.run()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--port-low", type=int, default=30000)
    ap.add_argument("--generator-nice", type=int, default=0)
    ap.add_argument("--nice", type=int, default=0, help="niceness increment for the donkey process")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin donkey and the generator to separate cores (only on an otherwise idle box)",
    )
    ap.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generator:
        generator(args.calls, "127.0.0.1")
    else:
        donkey(args)


if __name__ == "__main__":
    main()
