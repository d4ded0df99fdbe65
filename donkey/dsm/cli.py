"""Command-line tools: ``donkeysm-check`` (compile only), ``donkeysm-run`` (harness), ``donkeysm-graph``.

``donkeysm-check FILE...`` prints ``file:line:col: message`` for every problem
and exits 1, or prints nothing and exits 0.

``donkeysm-run SCRIPT [--events FILE]`` runs a script on the harness and
prints what it did: the states it went through, replies, prompts played, the
script's ``log()`` lines, and every exception with the ``file:line:col`` of
the action that raised it.  ``donkeysm-run --help-events`` describes the
events file (:data:`EVENTS_HELP`); ``--trace`` adds every transition taken,
with its ``file:line``, the event and the variables it changed
(:class:`TransitionTrace`).

``donkeysm-graph FILE... [-o app.svg | --dot]`` draws the scripts as state
graphs (:mod:`donkey.dsm.graph`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from donkey.common.dtmf import key_from_char
from donkey.dsm import events as ev
from donkey.dsm.compiler import Compiler
from donkey.dsm.core import core
from donkey.dsm.diagram import Action, Transition, rewrite_actions
from donkey.dsm.engine import StateObserver
from donkey.dsm.errors import CompileError, CompileErrors, DSMException, Location
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle, ModuleLoader

EVENTS_HELP = """\
The events file of donkeysm-run has one event a line; '#' at the start of a
line, or after a space, starts a comment (except the key '#' itself):

    key 1                    a DTMF key: 0-9, *, #, A-D (or its number 0-15)
    key #                    the hash key
    event a_status=CANCEL    an 'event' with #params (name=value ...)
    hangup                   the caller hangs up
    timer id=1               timer 1 fires now
    advance 5                let 5 seconds pass on the clock (timers fire)
    answer                   the far end answers an outbound call
    <event> name=value ...   any other DSM event by name (sipRequest, noAudio, ...)
"""


def _problems(error: CompileError) -> list[CompileError]:
    return error.errors if isinstance(error, CompileErrors) else [error]


def check(paths: Sequence[str], mod_path: str = "") -> tuple[list[str], list[str]]:
    """Compile each script; return its error lines and its warning lines.

    Warnings are what SEMS loads anyway (a transition to an unknown state, a
    ``test()`` it cannot read): the script runs, but probably not as meant.
    """
    loader = ModuleLoader()
    compiler = Compiler(core, lambda name, at: loader.load(name, mod_path, at))
    errors: list[str] = []
    warnings: list[str] = []
    for path in paths:
        try:
            compiler.compile_file(path)
        except CompileError as e:
            errors.extend(str(p) for p in _problems(e))
        warnings.extend(str(w) for w in compiler.warnings)
    return errors, warnings


def check_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="donkeysm-check", description="Compile and check DSM scripts without running them."
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--mod-path", default="", help="where mod_x.py files are (';'-separated)")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings too, not only on errors"
    )
    args = parser.parse_args(argv)
    errors, warnings = check(args.files, args.mod_path)
    for line in errors + warnings:
        print(line)
    return 1 if errors or (args.strict and warnings) else 0


def _parse_kv(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


_KEY_HASH = re.compile(r"\s*key\s+#(?=\s|$)")
_COMMENT = re.compile(r"(?:^|\s)#")


def parse_event_line(line: str) -> list[str]:
    """The words of one events-file line, without its comment.

    ``#`` starts a comment at the start of a line or after a space, except as
    the argument of ``key`` (``key #`` is the hash key, not ``key`` and a
    comment), which is why ``shlex``'s own comment rule is not used.
    """
    keep = _KEY_HASH.match(line)
    start = keep.end() if keep else 0
    comment = _COMMENT.search(line, start)
    if comment is not None:
        line = line[: comment.start()]
    return shlex.split(line)


def parse_key(word: str) -> int:
    """A key as the events file names it: ``0-9 * # A-D`` or a number 0..15."""
    if word.isdigit():
        number = int(word)
        if number > 15:
            raise ValueError(f"not a DTMF key number: {word}")
        return number
    return key_from_char(word)


class ExceptionTrace:
    """Notes every exception an action raises, with the action's ``file:line:col``.

    The engine turns a :class:`DSMException` into an ``exception`` event and
    says nothing when no transition handles it; this trace is how
    ``donkeysm-run`` shows where it came from.  It wraps the actions of a
    compiled bundle (a copy of each state, the diagrams stay immutable).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def instrument(self, bundle: AppBundle) -> None:
        rewrite_actions(bundle.diagrams.values(), self._wrap)

    def _wrap(self, action: Action) -> Action:
        func = self._located(action.spec.func, action.location, action.text)
        return dataclasses.replace(action, spec=dataclasses.replace(action.spec, func=func))

    def _located(
        self, func: Callable[..., Any], location: Location, text: str
    ) -> Callable[..., Any]:
        def note(exc: BaseException) -> None:
            if isinstance(exc, DSMException):
                params = " ".join(f"{k}={v}" for k, v in exc.params.items())
                self.lines.append(f"{location}: {text} threw {params}")
            else:
                self.lines.append(f"{location}: {text} failed: {type(exc).__name__}: {exc}")

        def run(session: Any, event: Any, args: Any) -> Any:
            try:
                result = func(session, event, args)
            except Exception as exc:
                note(exc)
                raise
            if isinstance(result, Deferred):

                def failed(failure: Failure) -> Failure:
                    if failure.value is not None:
                        note(failure.value)
                    return failure

                result.addErrback(failed)
            return result

        return run


class TransitionTrace(StateObserver):
    """One session's transitions as ``donkeysm-run --trace`` prints them.

    A transition's line is written when the next one starts (or its event
    is done), so the variables it shows as changed are everything its exit
    actions, its own actions and the new state's enter actions did.
    """

    def __init__(self, session: Any, lines: list[str], label: str = "") -> None:
        self.session = session
        self.lines = lines
        self.label = label
        self._pending: tuple[Transition, Event, dict[str, str]] | None = None

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        self.flush()
        self._pending = (transition, event, dict(self.session.vars))

    def event_done(self, event: Event, took: float) -> None:
        self.flush()

    def flush(self) -> None:
        """Write the pending transition's line (``run_main`` calls it once more at the end)."""
        if self._pending is None:
            return
        tr, event, before = self._pending
        self._pending = None
        params = " ".join(f"{k}={v}" for k, v in (event.params or {}).items())
        on = f"{event.type}({params})" if params else event.type
        line = f"{self.label}{tr.location.file}:{tr.location.line}: {tr.source} -> {tr.target}"
        line += f' "{tr.name}" on {on}'
        after = self.session.vars
        changed = [f"${k}={_shown(v)}" for k, v in sorted(after.items()) if before.get(k) != v]
        changed += [f"${k} unset" for k in sorted(before) if k not in after]
        if changed:
            line += "; " + ", ".join(changed)
        self.lines.append(line)


def _shown(value: str) -> str:
    """A variable's value on one line: quoted, with newlines as ``\\n``."""
    return "'" + value.replace("\\", "\\\\").replace("\n", "\\n") + "'"


def run_main(argv: Sequence[str] | None = None) -> int:
    """``donkeysm-run``: one script on the harness, its events from a file."""
    from donkey.dsm.harness import Harness

    parser = argparse.ArgumentParser(
        prog="donkeysm-run", description="Run a DSM script against scripted events (no SIP)."
    )
    parser.add_argument("script", nargs="?")
    parser.add_argument("--events", help="file with one event a line (see --help-events)")
    parser.add_argument(
        "--help-events", action="store_true", help="describe the events file and exit"
    )
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
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print every transition taken: file:line, the event, the variables changed",
    )
    args = parser.parse_args(argv)
    if args.help_events:
        print(EVENTS_HELP, end="")
        return 0
    if not args.script:
        parser.error("the script is required")

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
    transitions: list[str] = []
    tracers: list[TransitionTrace] = []
    if args.trace:

        def watch(session: Any) -> StateObserver:
            label = f"[leg {len(tracers) + 1}] " if tracers else ""
            tracers.append(TransitionTrace(session, transitions, label))
            return tracers[-1]

        harness.runtime.state_watchers.append(watch)
    trace = ExceptionTrace()
    try:
        trace.instrument(harness.load("main", conf))
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
        status = _play_events(harness, session, args.events, sys.stderr)
        if status:
            return status
    for tracer in tracers:
        tracer.flush()
    for line in transitions:
        print(f"trace:   {line}")
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
        dialed = leg.call  # the session drops its call handle when it ends
        print(f"dialout: {dialed.ruri if dialed is not None else ''} ({leg.session.ltag})")
    for line in record.logs:
        print(f"log:     {line}")
    for line in trace.lines:
        print(f"exception: {line}")
    print("vars:")
    for key, value in sorted(session.vars.items()):
        print(f"  ${key}='{value}'")
    for line in harness.errors():
        print("error:   " + line.splitlines()[0])
    return 0


def _play_events(harness: Any, session: Any, path: str, err: TextIO) -> int:
    """Feed the events file to ``session``; 2 (after a ``file:line:col`` message) on a bad line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        print(f"{path}: cannot read: {e.strerror}", file=err)
        return 2
    for number, line in enumerate(lines, 1):
        try:
            words = parse_event_line(line)
        except ValueError as e:
            print(f"{path}:{number}:1: {e}", file=err)
            return 2
        if not words:
            continue
        kind, rest = words[0], words[1:]
        try:
            if kind == "advance":
                harness.advance(float(rest[0]) if rest else 0)
            elif kind == "key":
                if len(rest) != 1:
                    raise ValueError("'key' takes one key: 0-9, *, #, A-D or 0-15")
                session.key(parse_key(rest[0]))
            elif kind == "answer":
                session.answer()
            elif kind in ev.ALL:
                session.post(kind, **_parse_kv(rest))
            else:
                raise ValueError(f"unknown event '{kind}' (see --help-events)")
        except ValueError as e:
            print(f"{path}:{number}:1: {e}", file=err)
            return 2
        harness.advance(0)
    return 0


#: output formats ``donkeysm-graph -o`` knows from the file name's extension
GRAPH_FORMATS = ("svg", "png", "pdf", "dot")


def graph_main(argv: Sequence[str] | None = None, dot: str = "dot") -> int:
    """``donkeysm-graph``: scripts (with includes and called sub-FSMs) as a state graph.

    Graphviz's ``dot`` lays it out; without it, the DOT text goes to stdout
    with a line on stderr saying how to render it, so the tool is useful on
    a machine without Graphviz too.
    """
    import shutil
    import subprocess

    from donkey.dsm.graph import build_graph, collect_diagrams

    parser = argparse.ArgumentParser(
        prog="donkeysm-graph",
        description="Draw DSM scripts as state graphs (Graphviz's dot does the layout).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", help="write the picture here (.svg, .png, .pdf, .dot)")
    target.add_argument("--dot", action="store_true", help="print the DOT text and exit")
    parser.add_argument("--mod-path", default="", help="where mod_x.py files are (';'-separated)")
    args = parser.parse_args(argv)

    loader = ModuleLoader()
    compiler = Compiler(core, lambda name, at: loader.load(name, args.mod_path, at))
    try:
        diagrams, roots, missing = collect_diagrams(args.files, compiler.compile_file)
    except CompileError as e:
        for p in _problems(e):
            print(p, file=sys.stderr)
        return 1
    graph = build_graph(diagrams, roots)
    for line in missing + graph.warnings:
        print(f"warning: {line}", file=sys.stderr)
    text = graph.to_dot(title=", ".join(os.path.basename(f) for f in args.files))
    if args.dot or args.output is None and shutil.which(dot) is None:
        if not args.dot:
            print(
                f"donkeysm-graph: Graphviz's '{dot}' is not installed (Debian: apt-get install "
                "graphviz); render this DOT text with: dot -Tsvg app.dot -o app.svg",
                file=sys.stderr,
            )
        sys.stdout.write(text)
        return 0
    output = args.output or os.path.splitext(os.path.basename(args.files[0]))[0] + ".svg"
    fmt = os.path.splitext(output)[1].lstrip(".").lower() or "svg"
    if fmt not in GRAPH_FORMATS:
        parser.error(f"unknown output format '.{fmt}' (use one of {', '.join(GRAPH_FORMATS)})")
    if fmt == "dot":
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {output}")
        return 0
    if shutil.which(dot) is None:
        sys.stdout.write(text)
        print(
            f"donkeysm-graph: Graphviz's '{dot}' is not installed (Debian: apt-get install "
            f"graphviz); the DOT text is on stdout: save it and run dot -T{fmt} app.dot -o {output}",
            file=sys.stderr,
        )
        return 1
    done = subprocess.run(
        [dot, f"-T{fmt}", "-o", output], input=text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        print(
            f"donkeysm-graph: dot failed: {done.stderr.decode(errors='replace')}", file=sys.stderr
        )
        return 1
    print(f"wrote {output}")
    return 0
