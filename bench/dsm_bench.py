#!/usr/bin/env python3
"""DSM compiler and engine figures: compile time of quizconnect_caller, transitions/s.

Run: python3 bench/dsm_bench.py
Goals (issue 2): compile under 2 ms median; at least 50,000 transitions/s on one core.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from donkey.dsm.compiler import Compiler  # noqa: E402
from donkey.dsm.core import core  # noqa: E402
from donkey.dsm.events import KEY, Event  # noqa: E402
from donkey.dsm.harness import Harness  # noqa: E402
from donkey.dsm.loader import ModuleLoader  # noqa: E402

CALLER = os.path.join(os.path.dirname(HERE), "conf", "dsm", "quizconnect", "quizconnect_caller.dsm")


def compile_time(path: str, runs: int = 200) -> float:
    loader = ModuleLoader()
    compiler = Compiler(core, lambda name, at: loader.load(name, "", at))
    compiler.compile_file(path)  # warm the module cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        compiler.compile_file(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def chain_script(length: int) -> str:
    """S0 -> S1 -> ... -> S<length> by key(#key < 10) tests; every state but S0 reposts on entry."""
    lines = ["initial state S0;"]
    for i in range(1, length + 1):
        lines.append(f"state S{i} enter {{ repost(); }};" if i < length else f"state S{i};")
    for i in range(length):
        lines.append(f'transition "t{i}" S{i} - key(#key < 10) -> S{i + 1};')
    lines.append(f'transition "back" S{length} - key(#key < 10) -> S0;')
    return "\n".join(lines) + "\n"


def throughput(length: int = 20, events: int = 5000) -> float:
    directory = tempfile.mkdtemp()
    with open(os.path.join(directory, "chain.dsm"), "w") as f:
        f.write(chain_script(length))
    h = Harness()
    h.load("main", {"diag_path": directory, "load_diags": "chain"})
    session = h.system("chain").session
    transitions = 0
    t0 = time.perf_counter()
    for _ in range(events):
        session.post(Event(KEY, {"key": "1", "duration": "100"}))  # S0 -> ... -> S<length>
        session.post(Event(KEY, {"key": "2", "duration": "100"}))  # S<length> -> S0
        transitions += length + 1
    elapsed = time.perf_counter() - t0
    assert session.engine.state_name == "S0", session.engine.state_name
    return transitions / elapsed


def main() -> None:
    path = CALLER
    try:
        median = compile_time(path)
        print(
            f"compile quizconnect_caller.dsm: median {median * 1000:.3f} ms over 200 runs "
            f"(goal < 2 ms)"
        )
    except Exception as e:  # mod_mysql may be missing in a partial checkout
        print(f"compile quizconnect_caller.dsm: failed: {e}")
    rate = throughput()
    print(
        f"engine: {rate:,.0f} transitions/s through a chain of test() transitions "
        f"(goal >= 50,000/s)"
    )


if __name__ == "__main__":
    main()
