"""Command-line tools: ``donkeysm-check`` (compile only) and ``donkeysm-run`` (harness).

``donkeysm-check FILE...`` prints ``file:line:col: message`` for every problem
and exits 1, or prints nothing and exits 0.

``donkeysm-run SCRIPT [--events FILE]`` runs a script on the harness and
prints what it did.  The events file has one event a line::

    # comment
    key 1              # a DTMF key (0-9, *, #, A-D or the number)
    event a_status=CANCEL b=2
    hangup
    timer id=1
    advance 5          # let 5 seconds pass (timers fire)
    answer             # the far end answers an outbound call
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from donkey.dsm import events as ev
from donkey.dsm.compiler import Compiler
from donkey.dsm.core import core
from donkey.dsm.errors import CompileError, CompileErrors
from donkey.dsm.loader import ModuleLoader


def _problems(error: CompileError) -> list[CompileError]:
    return error.errors if isinstance(error, CompileErrors) else [error]


def check(paths: Sequence[str], mod_path: str = "") -> list[str]:
    """Compile each script; return the problem lines (empty when all is well)."""
    loader = ModuleLoader()
    compiler = Compiler(core, lambda name, at: loader.load(name, mod_path, at))
    lines: list[str] = []
    for path in paths:
        try:
            compiler.compile_file(path)
        except CompileError as e:
            lines.extend(str(p) for p in _problems(e))
    return lines


def check_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="donkeysm-check", description="Compile and check DSM scripts without running them."
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--mod-path", default="", help="where mod_x.py files are (';'-separated)")
    args = parser.parse_args(argv)
    problems = check(args.files, args.mod_path)
    for line in problems:
        print(line)
    return 1 if problems else 0


def _parse_kv(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def run_main(argv: Sequence[str] | None = None) -> int:
    from donkey.dsm.harness import Harness

    parser = argparse.ArgumentParser(
        prog="donkeysm-run", description="Run a DSM script against scripted events (no SIP)."
    )
    parser.add_argument("script")
    parser.add_argument("--events", help="file with one event a line (see --help-events)")
    parser.add_argument(
        "--call",
        action="store_true",
        help="run as an inbound call (invite, sessionStart) instead of a system DSM (startup)",
    )
    parser.add_argument("--user", default="", help="@user of the call")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="bundle config ($config.KEY); may repeat",
    )
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--mod-path", default="")
    args = parser.parse_args(argv)

    script = os.path.abspath(args.script)
    name = os.path.splitext(os.path.basename(script))[0]
    conf = {
        "diag_path": os.path.dirname(script),
        "load_diags": name,
        "mod_path": args.mod_path,
        "run_invite_event": "yes",
    }
    conf.update(_parse_kv(args.config))
    harness = Harness()
    try:
        harness.load("main", conf)
    except CompileError as e:
        for p in _problems(e):
            print(p)
        return 1
    variables = _parse_kv(args.var)
    if args.call:
        session = harness.call(name, user=args.user, variables=variables)
    else:
        session = harness.system(name)
        session.session.vars.update(variables)
    harness.advance(0)
    if args.events:
        with open(args.events, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                words = shlex.split(line, comments=True)
                if not words:
                    continue
                kind, rest = words[0], words[1:]
                if kind == "advance":
                    harness.advance(float(rest[0]) if rest else 0)
                elif kind == "key":
                    session.key(rest[0] if not rest[0].isdigit() else int(rest[0]))
                elif kind == "answer":
                    session.answer()
                elif kind in ev.ALL:
                    session.post(kind, **_parse_kv(rest))
                else:
                    print(f"{args.events}:{number}:1: unknown event '{kind}'", file=sys.stderr)
                    return 2
                harness.advance(0)
    record = session.record
    print("path:    " + " -> ".join(record.path))
    print("state:   " + session.state + (" (ended)" if session.ended else ""))
    for code, reason in record.replies:
        print(f"reply:   {code} {reason}")
    for path in record.played:
        print(f"played:  {path}")
    for call in record.media_calls:
        if call[0] != "play_file":
            print("media:   " + " ".join(str(c) for c in call))
    for leg in harness.dialed:
        print(f"dialout: {leg.session.call.ruri} ({leg.session.ltag})")
    print("vars:")
    for key, value in sorted(session.vars.items()):
        print(f"  ${key}='{value}'")
    for line in harness.errors():
        print("error:   " + line.splitlines()[0])
    return 0
