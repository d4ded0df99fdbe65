"""mod_utils: numbers, strings, counting prompts and ring tones for DSM scripts.

Actions
    ``utils.getNewId(name)``                 a new unique id into ``$name``
    ``utils.playCountRight(n[, dir])``       play ``n`` as prompts, units after tens (English)
    ``utils.playCountLeft(n[, dir])``        play ``n`` as prompts, units before tens (German)
    ``utils.getCountRight(n[, dir])``        the file names into ``$count_file[0..]``
    ``utils.getCountLeft(n[, dir])``         likewise, units before tens
    ``utils.getCountRightNoSuffix(n[, dir])`` / ``utils.getCountLeftNoSuffix(n[, dir])``
                                             the same without the ``.wav`` suffix
    ``utils.spell(word[, dir])``             play ``dir<char>.wav`` for every character
    ``utils.rand(name[, modulo])``           a random number into ``$name``
    ``utils.srand()``                        seed the generator with the (reactor's) time
    ``utils.add($v, x)`` / ``utils.sub($v, x)``   floating point ``$v +/- x``
    ``utils.mul($v, x)``                     integer ``$v * x``
    ``utils.int($v, x)``                     integer part of ``x`` into ``$v``
    ``utils.md5($v, x)``                     hex MD5 digest of ``x`` into ``$v``
    ``utils.replace($v, search=>replace)``   replace every ``search`` in ``$v``
    ``utils.splitStringCR(x[, $dst])``       split on newlines into ``$dst[0..]``
    ``utils.splitString($v, delim)``         split ``$v`` on ``delim`` (every character if empty)
    ``utils.decodeJson(x, $prefix)``         a JSON document into ``$prefix.key`` / ``$prefix[i]``
    ``utils.escapeCRLF($v)`` / ``utils.unescapeCRLF($v)``   CRLF <-> the text ``\\r\\n``
    ``utils.playRingTone(length[, on[, off[, f[, f2]]]])``  play a ring-back tone

Conditions
    ``utils.isInList(key, list)``            ``key`` is one of the comma-separated items
    ``utils.startsWith(subject, prefix)``

Behaviour follows SEMS's mod_utils, quirks included where a script could
notice them: ``getNewId`` and ``rand`` take the *value* of their first
argument as the variable name, ``add``/``sub`` (and ``decodeJson`` for
fractional numbers) print like SEMS's ``double2str``, which keeps one
trailing zero (``3`` + ``4`` gives ``7.0``, ``1.5`` + ``2.25`` gives
``3.750``), ``replace`` only resolves ``$`` references and never clears
``$errno``, ``playRingTone`` defaults to
on 2000 ms, off 4000 ms, 440 Hz and 480 Hz (the SEMS code; its README says
1000/2000).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import time
from typing import Any

from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import Module

module = Module("mod_utils")

_RAND_MAX = 2**31 - 1


# ---------------------------------------------------------------------------
# C-style number parsing, as the SEMS actions do it


def str2i(text: str) -> int | None:
    """SEMS's ``str2i``: unsigned, leading blanks, stops at a blank or line end.

    An empty text is 0, as in SEMS; ``None`` means "not a number".
    """
    i = 0
    n = len(text)
    while i < n and text[i] == " ":
        i += 1
    value = 0
    digits = 0
    while i < n:
        ch = text[i]
        if "0" <= ch <= "9":
            value = value * 10 + ord(ch) - 48
            digits += 1
            if digits > 10:
                return None
        elif ch in " \r\n\0":
            break
        else:
            return None
        i += 1
    return value & 0xFFFFFFFF


def str2int(text: str) -> int | None:
    """SEMS's ``str2int``: like :func:`str2i` with an optional ``-`` sign."""
    t = text.lstrip(" ")
    sign = 1
    if t.startswith("-"):
        sign = -1
        t = t[1:].lstrip(" ")
    value = 0
    digits = 0
    for ch in t:
        if "0" <= ch <= "9":
            value = value * 10 + ord(ch) - 48
            digits += 1
            if digits > 10 or value > 2**31 - 1:
                return None
        elif ch in " \r\n\0":
            break
        else:
            return None
    return sign * value


_FLOAT_PREFIX = re.compile(
    r"\s*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))", re.IGNORECASE
)
_INT_PREFIX = re.compile(r"\s*([+-]?\d+)")


def atof(text: str) -> float:
    """C's ``atof``: the longest numeric prefix, 0.0 when there is none."""
    m = _FLOAT_PREFIX.match(text)
    return float(m.group(1)) if m else 0.0


def atoi(text: str) -> int:
    """C's ``atoi``: the leading integer, 0 when there is none."""
    m = _INT_PREFIX.match(text)
    return int(m.group(1)) if m else 0


def double2str(value: float) -> str:
    """SEMS's ``double2str``: ``%#.16g`` with trailing zeros cut down to one."""
    text = "%#.16g" % value
    if not text.endswith("0"):
        return text
    i = len(text) - 1
    while i > 0 and text[i] == "0":
        i -= 1
    last_nonzero = i
    while i >= 0:
        if text[i].isdigit():
            i -= 1
            continue
        if text[i] == ".":
            return text[: last_nonzero + 2]
        return text
    return text


def _name(text: str) -> str:
    """A target variable as written: the leading ``$`` is optional."""
    return text[1:] if text.startswith("$") else text


# ---------------------------------------------------------------------------
# per-runtime random generator (SEMS: the process-wide rand())


def _rng(session: Any) -> random.Random:
    return session.runtime.module_state("mod_utils.rng", random.Random)


# ---------------------------------------------------------------------------
# counting prompts


def count_files(count: int, basedir: str, suffix: str, right: bool) -> list[str]:
    """The prompt files SEMS plays for ``count``.

    Up to 20, and for round tens, one file; otherwise hundreds, thousands ...
    each as its own file (``300``, ``4000``), then the tens and an ``x<unit>``
    file, in the language's order.
    """
    if count <= 20:
        return [f"{basedir}{count}{suffix}"]
    files: list[str] = []
    for exponent in range(9, 1, -1):
        quot, count = divmod(count, 10**exponent)
        if quot:
            files.append(f"{basedir}{quot * 10**exponent}{suffix}")
    if not count:
        return files
    if count <= 20 or count % 10 == 0:
        files.append(f"{basedir}{count}{suffix}")
        return files
    tens, unit = divmod(count, 10)
    pair = [f"{basedir}{tens * 10}{suffix}", f"{basedir}x{unit}{suffix}"]
    files.extend(pair if right else reversed(pair))
    return files


def _play(session: Any, path: str, what: str) -> None:
    """Play one file; a missing file is the ``file`` exception with ``#path``."""
    media = session.require_media(what)
    try:
        media.play_file(path)
    except (OSError, LookupError) as e:
        raise DSMException("file", path=path, text=str(e)) from None


def _parse_count(session: Any, event: Event, text: str) -> int | None:
    raw = session.resolve(text, event)
    count = str2i(raw)
    if count is None:
        session.log.error("could not parse count '{raw}'", raw=raw)
        session.set_errno("arg", f"could not parse count '{raw}'\n")
    return count


def _play_count(right: bool, what: str):
    def action(session, event, args):
        count = _parse_count(session, event, args[0])
        if count is None:
            return
        basedir = session.resolve(args[1], event)
        for path in count_files(count, basedir, ".wav", right):
            _play(session, path, what)
        session.clear_errno()

    return action


def _get_count(right: bool, suffix: str):
    def action(session, event, args):
        count = _parse_count(session, event, args[0])
        if count is None:
            return
        basedir = session.resolve(args[1], event)
        for i, path in enumerate(count_files(count, basedir, suffix, right)):
            session.vars[f"count_file[{i}]"] = path
        session.clear_errno()

    return action


module.action("utils.playCountRight", split=",", optional=True)(
    _play_count(True, "utils.playCountRight")
)
module.action("utils.playCountLeft", split=",", optional=True)(
    _play_count(False, "utils.playCountLeft")
)
module.action("utils.getCountRight", split=",", optional=True)(_get_count(True, ".wav"))
module.action("utils.getCountLeft", split=",", optional=True)(_get_count(False, ".wav"))
module.action("utils.getCountRightNoSuffix", split=",", optional=True)(_get_count(True, ""))
module.action("utils.getCountLeftNoSuffix", split=",", optional=True)(_get_count(False, ""))


@module.action("utils.spell", split=",", optional=True)
def _spell(session, event, args):
    word = session.resolve(args[0], event)
    basedir = session.resolve(args[1], event)
    for ch in word:
        _play(session, f"{basedir}{ch}.wav", "utils.spell")


# ---------------------------------------------------------------------------
# ids and random numbers


def new_id() -> str:
    """A unique id shaped like the session ids SEMS makes (hex groups joined by dashes)."""
    now = time.time()
    sec = int(now) & 0xFFFFFFFF
    usec = int((now - int(now)) * 1_000_000)
    return f"{os.urandom(4).hex().upper()}-{sec:08X}{usec:08X}-{os.urandom(4).hex().upper()}"


@module.action("utils.getNewId")
def _get_new_id(session, event, args):
    session.vars[session.resolve(args[0], event)] = new_id()


@module.action("utils.rand", split=",", optional=True)
def _rand(session, event, args):
    name = session.resolve(args[0], event)
    modulo_text = session.resolve(args[1], event)
    modulo = (str2i(modulo_text) or 0) if modulo_text else 0
    value = _rng(session).randint(0, _RAND_MAX)
    session.vars[name] = str(value % modulo if modulo else value)


@module.action("utils.srand")
def _srand(session, event, args):
    """Seed from the reactor's clock, so a test clock gives repeatable numbers."""
    _rng(session).seed(int(session.runtime.reactor.seconds()))


# ---------------------------------------------------------------------------
# arithmetic and strings


@module.action("utils.add", split=",")
def _add(session, event, args):
    a = atof(session.resolve(args[0], event))
    b = atof(session.resolve(args[1], event))
    session.vars[_name(args[0])] = double2str(a + b)


@module.action("utils.sub", split=",")
def _sub(session, event, args):
    a = atof(session.resolve(args[0], event))
    b = atof(session.resolve(args[1], event))
    session.vars[_name(args[0])] = double2str(a - b)


@module.action("utils.mul", split=",")
def _mul(session, event, args):
    a = atoi(session.resolve(args[0], event))
    b = atoi(session.resolve(args[1], event))
    session.vars[_name(args[0])] = str(a * b)


@module.action("utils.int", split=",")
def _int(session, event, args):
    value = atof(session.resolve(args[1], event))
    session.vars[_name(args[0])] = str(int(value)) if math.isfinite(value) else "0"


@module.action("utils.md5", split=",")
def _md5(session, event, args):
    text = session.resolve(args[1], event)
    session.vars[_name(args[0])] = hashlib.md5(text.encode("utf-8")).hexdigest()


@module.action("utils.replace", split=",")
def _replace(session, event, args):
    subject = session.resolve(args[0], event)
    parts = [p for p in args[1].split("=>") if p]
    if len(parts) != 2:
        session.log.error("could not parse search=>replace '{spec}'", spec=args[1])
        session.set_errno("arg", f"could not parse search=>replace '{args[1]}'\n")
        return
    search, replace = parts
    if search.startswith("$"):
        value = session.resolve(search, event)
        if not value:
            session.log.error("search var '{var}' value is empty", var=search)
            session.set_errno("arg", f"search var '{search}' value is empty\n")
            return
        search = value
    if replace.startswith("$"):
        replace = session.resolve(replace, event)
    session.vars[_name(args[0])] = subject.replace(search, replace)


@module.action("utils.splitStringCR", split=",", optional=True)
def _split_string_cr(session, event, args):
    text = session.resolve(args[0], event)
    target = _name(args[1] or args[0])
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a trailing newline makes no empty last item
    for i, line in enumerate(lines):
        session.vars[f"{target}[{i}]"] = line


@module.action("utils.splitString", split=",", optional=True)
def _split_string(session, event, args):
    if not args[0]:
        session.set_errno("arg", "varname is empty\n")
        return
    text = session.resolve(args[0], event)
    delim = session.resolve(args[1], event)
    target = _name(args[0])
    items = list(text) if not delim else text.split(delim)
    for i, item in enumerate(items):
        session.vars[f"{target}[{i}]"] = item


def _set_json(variables: dict[str, str], name: str, value: Any) -> None:
    """Flatten a decoded JSON value the way SEMS stores an AmArg in variables."""
    if isinstance(value, dict):
        for key, item in value.items():
            _set_json(variables, f"{name}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _set_json(variables, f"{name}[{i}]", item)
    elif value is None:
        variables[name] = ""
    elif isinstance(value, bool):
        variables[name] = "true" if value else "false"
    elif isinstance(value, float):
        variables[name] = double2str(value)
    else:
        variables[name] = str(value)


@module.action("utils.decodeJson", split=",", optional=True)
def _decode_json(session, event, args):
    text = session.resolve(args[0], event)
    prefix = _name(args[1])
    if not prefix:
        session.set_errno("arg", "struct name is empty\n")
        return
    try:
        value = json.loads(text)
    except ValueError:
        session.log.error("failed to decode json string '{text}'", text=text)
        session.set_errno("arg", "failed to decode json string\n")
        return
    _set_json(session.vars, prefix, value)


@module.action("utils.escapeCRLF")
def _escape_crlf(session, event, args):
    name = _name(args[0])
    session.vars[name] = session.vars.get(name, "").replace("\r\n", "\\r\\n")


@module.action("utils.unescapeCRLF")
def _unescape_crlf(session, event, args):
    name = _name(args[0])
    session.vars[name] = session.vars.get(name, "").replace("\\r\\n", "\r\n")


# ---------------------------------------------------------------------------
# ring tone

_RINGTONE_DEFAULTS = (2000, 4000, 440, 480)  # on, off, f, f2 (SEMS code values)


@module.action("utils.playRingTone", split=",", optional=True)
def _play_ring_tone(session, event, args):
    length_text = session.resolve(args[0], event)
    length = str2int(length_text)
    if length is None:
        session.log.warn("could not decipher ringtone length: '{text}'", text=length_text)
        length = 0
    values = list(_RINGTONE_DEFAULTS)
    items = [p for p in args[1].split(",") if p] if args[1] else []
    for i, item in enumerate(items[:4]):
        text = session.resolve(item.strip(' \t"'), event)
        if not text:
            continue
        n = str2int(text)
        if n is None:
            session.log.warn(
                "could not decipher ringtone parameter {i}: '{text}', using default", i=i, text=text
            )
            continue
        values[i] = n
    on, off, f, f2 = values
    session.require_media("utils.playRingTone").play_ringtone(
        length_ms=length, on_ms=on, off_ms=off, f=f, f2=f2, front=False
    )


# ---------------------------------------------------------------------------
# conditions


@module.condition("utils.isInList", split=",")
def _is_in_list(session, event, args) -> bool:
    key = session.resolve(args[0], event)
    items = session.resolve(args[1], event).split(",")
    return any(key == item.strip(" \t") for item in items if item)


@module.condition("utils.startsWith", split=",")
def _starts_with(session, event, args) -> bool:
    return session.resolve(args[0], event).startswith(session.resolve(args[1], event))
