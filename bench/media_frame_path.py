#!/usr/bin/env python3
"""CPU cost of donkey's per-frame media path, without sockets or a generator.

N sessions play a looped WAV; each tick every session receives one PCMU
packet (``RtpEndpoint.datagramReceived``) and the clock runs one tick (receive,
mix, send).  ``sendto`` is a no-op, so the figure is the Python work per call
per 20 ms frame, free of kernel and scheduling noise -- the number to watch
when optimising ``donkey/media/``.  Modes: ``play`` (playlist in/out, the
common IVR case), ``record`` (also recording to /dev/null-like temp file),
``conference`` (pairs of calls in two-party rooms).

    python bench/media_frame_path.py --calls 500 --ticks 500
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--mode", choices=("play", "record", "conference"), default="play")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from twisted.internet.task import Clock

    from donkey.media import ConferenceBridge, MediaClock, MediaSession
    from donkey.media._audioop import audioop
    from donkey.media.rtp import RtpEndpoint
    from donkey.media.sdp import SdpNegotiator
    from test.media.helpers import tone, write_pcm_wav

    tmp = tempfile.mkdtemp(prefix="donkey-fp-")
    wav = os.path.join(tmp, "music.wav")
    write_pcm_wav(wav, tone([440, 660], 2000, 8000, amp=4000), 8000)

    class _Transport:
        def __init__(self):
            self.socket = self

        def sendto(self, data, addr):
            return len(data)

        def getHost(self):
            return None

    time_ = Clock()
    clock = MediaClock(time_)
    bridge = ConferenceBridge(clock) if args.mode == "conference" else None
    sessions, feeds = [], []
    payload = audioop.lin2ulaw(tone([1000], 20, 8000, amp=3000), 2)
    for i in range(args.calls):
        ep = RtpEndpoint()
        ep.local_port = 20000 + 2 * i
        ep.makeConnection(_Transport())
        s = MediaSession(clock, endpoint=ep, local_ip="127.0.0.1")
        far = SdpNegotiator("127.0.0.1", 40000 + 2 * i)
        s.answer(far.make_offer())
        if args.mode == "conference":
            ch = bridge.join("room%d" % (i // 2))
            s.set_input(ch)
            s.set_output(ch)
        else:
            s.play_file(wav, loop=True)
        if args.mode == "record":
            s.record_file(os.path.join(tmp, "rec%d.wav" % i))
        sessions.append(s)
        feeds.append((ep.datagramReceived, ("127.0.0.1", 40000 + 2 * i)))
    for s in sessions:
        s.connect()
    time_.advance(0)

    hdr = struct.Struct("!BBHII")
    best = None
    seq = 0
    for _ in range(args.repeat):
        # Prebuilt packets (the socket would hand us fresh bytes anyway).
        pkts = [
            hdr.pack(0x80, 0, (seq + k) & 0xFFFF, 160 * (seq + k), 0x1234) + payload
            for k in range(args.ticks)
        ]
        seq += args.ticks
        t0 = time.process_time()
        for k in range(args.ticks):
            pkt = pkts[k]
            for feed, addr in feeds:
                feed(pkt, addr)
            time_.advance(0.02)
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    frames = args.calls * args.ticks
    us = best * 1e6 / frames
    print(
        "mode %-10s calls %d ticks %d: %.2f us per call per frame "
        "(= %.2f%% of one core per 100 calls)"
        % (args.mode, args.calls, args.ticks, us, us * 100 * 50 / 1e6 * 100)
    )
    for s in sessions:
        s.close()


if __name__ == "__main__":
    main()
