"""mod_uri: take SIP URIs and name-addrs apart, read INVITE headers, URL-encode.

Actions
    ``uri.parse(uri, prefix)``           sets ``$<prefix>user``, ``host``, ``port``,
                                         ``headers``, ``param``
    ``uri.parseNameaddr(addr, prefix)``  the same plus ``$<prefix>display_name`` and one
                                         ``$<prefix>uri_param.<name>`` per parameter after
                                         the URI (``;tag=...``)
    ``uri.getHeader(name, dst)``         the first header ``name`` of the initial INVITE
                                         (from ``$hdrs``) into ``$dst``
    ``uri.encode($dst=text)``            percent-encode all but RFC 3986 unreserved chars
    ``uri.decode($dst=text)``            undo ``%XX`` escapes

No conditions.

Parsing follows SEMS's ``AmUriParser`` so scripts see the same pieces:
the scheme is found by scanning for ``sip:`` (so ``sips:`` works, and any
scheme works inside ``<...>``), the user part is everything up to an ``@``
that appears anywhere later, and a parse failure sets ``$errno=general``.
One deliberate difference: an IPv6 reference (``[2001:db8::1]:5060``) is kept
whole as the host instead of being cut at its first colon.

``$hdrs`` is what SEMS's mod_uri stores at the INVITE: the request's headers
as text.  donkey sets it when the session starts, from ``session.call``'s
``invite_hdrs`` (or ``request_headers.raw``), unless the script or the caller
already set it.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm.module import Module


class UriModule(Module):
    """mod_uri with the SEMS ``onInvite`` hook that fills ``$hdrs``."""

    def on_session_start(self, session: Any) -> None:
        if "hdrs" in session.vars or session.call is None:
            return
        hdrs = invite_headers(session.call)
        if hdrs is not None:
            session.vars["hdrs"] = hdrs


module = UriModule("mod_uri")


def invite_headers(call: Any) -> str | None:
    """The initial INVITE's header text from a call handle, if it offers it."""
    text = getattr(call, "invite_hdrs", None)
    if isinstance(text, str):
        return text
    headers = getattr(call, "request_headers", None)
    raw = getattr(headers, "raw", None)
    return raw if isinstance(raw, str) else None


# ---------------------------------------------------------------------------
# URI parsing (AmUriParser's results)


class ParsedUri:
    """The parts of a URI or name-addr, named as SEMS names them."""

    __slots__ = ("display_name", "user", "host", "port", "headers", "param", "params")

    def __init__(self) -> None:
        self.display_name = ""
        self.user = ""
        self.host = ""
        self.port = ""
        self.headers = ""
        self.param = ""
        self.params: dict[str, str] = {}


def _display_name_end(text: str) -> int | None:
    """Index of the ``<`` that opens the URI (0 for a bare addr-spec); None: bad quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if quoted:
            if ch == '"' and text[i - 1] != "\\":
                quoted = False
        elif ch == "<":
            return i
        elif ch == '"':
            quoted = True
    return None if quoted else 0


def _uri_end(text: str, start: int) -> int | None:
    """Where the URI starting at ``start`` ends: at ``,`` or ``;`` outside ``<>`` and quotes."""
    in_angle = in_quote = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if escaped:
            escaped = False
            continue
        if in_quote:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            continue
        if ch == '"':
            in_quote = True
        elif ch == "<":
            if in_angle:
                return None
            in_angle = True
        elif ch == ">":
            if not in_angle:
                return None
            in_angle = False
        elif ch in ",;" and not in_angle:
            return i
    if in_angle or in_quote:
        return None
    return len(text)


# parse_uri states
_START, _SCHEME, _USER, _HOST, _HOST_WS, _PORT, _PORT_WS, _HDR, _HDR_WS, _PARAM, _PARAM_WS, _END = (
    range(12)
)


def parse_uri(uri: str, out: ParsedUri | None = None) -> ParsedUri | None:
    """Split ``uri`` (optionally inside ``<>``, after a display name); None if no scheme."""
    out = out or ParsedUri()
    out.user = out.host = out.port = out.param = ""
    if not uri:
        return None
    pos = _display_name_end(uri)
    if pos is None:
        return None
    state = _START
    mark = 0  # index of the separator before the current field
    matched = 0  # how much of "SIP:" was seen before a '<'
    n = len(uri)
    in_bracket = False

    def field() -> str:
        return uri[mark + 1 : i]

    i = pos
    while i < n:
        c = uri[i]
        if state == _START:
            if c == "<":
                state = _SCHEME
            else:
                if matched < 4 and c.upper() == "SIP:"[matched]:
                    matched += 1
                if matched == 4:
                    state = _USER if "@" in uri[i + 1 :] else _HOST
                    mark = i
        elif state == _SCHEME:
            if c == ":":
                state = _USER if "@" in uri[i + 1 :] else _HOST
                mark = i
        elif state == _USER:
            if c == "@":
                out.user, state, mark = field(), _HOST, i
            elif c == ">":
                out.host, state, mark = field(), _END, i
        elif state == _HOST:
            if c == "[" and i == mark + 1:
                in_bracket = True
            elif in_bracket:
                if c == "]":
                    in_bracket = False
            elif c in ":?;> \t":
                out.host = field()
                state = {":": _PORT, "?": _HDR, ";": _PARAM, ">": _END}.get(c, _HOST_WS)
                mark = i
        elif state == _HOST_WS:
            if c in ":?;>":
                state = {":": _PORT, "?": _HDR, ";": _PARAM, ">": _END}[c]
                mark = i
        elif state == _PORT:
            if c in ";?> \t":
                out.port = field()
                state = {";": _PARAM, "?": _HDR, ">": _END}.get(c, _PORT_WS)
                mark = i
        elif state == _PORT_WS:
            if c in "?;>":
                state = {"?": _HDR, ";": _PARAM, ">": _END}[c]
                mark = i
        elif state == _HDR:
            if c in "> \t":
                out.headers = field()
                state = _END if c == ">" else _HDR_WS
                mark = i
        elif state == _HDR_WS:
            if c in ";>":
                state = _PARAM if c == ";" else _END
                mark = i
        elif state == _PARAM:
            if c in ">? \t":
                out.param = field()
                state = {">": _END, "?": _HDR}.get(c, _PARAM_WS)
                mark = i
        elif state == _PARAM_WS:
            if c == ">":
                state, mark = _END, i
        i += 1
    rest = uri[mark + 1 : n]
    if state in (_USER, _HOST):
        out.host = rest
    elif state == _PORT:
        out.port = rest
    elif state == _HDR:
        out.headers = rest
    elif state == _PARAM:
        out.param = rest
    elif state in (_START, _SCHEME):
        return None
    return out


def _header_params(text: str, start: int) -> dict[str, str]:
    """``;name=value;flag`` after a URI, up to an unquoted ``,``."""
    params: dict[str, str] = {}
    end = len(text)
    quoted = False
    prev = " "
    for i in range(start, len(text)):
        ch = text[i]
        if quoted:
            if ch == '"' and prev != "\\":
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ",":
            end = i
            break
        prev = ch
    for item in _split_unquoted(text[start:end], ";"):
        if not item:
            continue
        eq = _last_unquoted(item, "=")
        name, value = (item[:eq], item[eq + 1 :]) if eq >= 0 else (item, "")
        if name.lower() == "expires":
            name = "expires"
        params[name] = value
    return params


def _split_unquoted(text: str, sep: str) -> list[str]:
    out, start, quoted, prev = [], 0, False, " "
    for i, ch in enumerate(text):
        if quoted:
            if ch == '"' and prev != "\\":
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == sep:
            out.append(text[start:i])
            start = i + 1
        prev = ch
    out.append(text[start:])
    return out


def _last_unquoted(text: str, ch: str) -> int:
    """SEMS takes the name up to the *last* ``=`` outside quotes."""
    found, quoted, prev = -1, False, " "
    for i, c in enumerate(text):
        if quoted:
            if c == '"' and prev != "\\":
                quoted = False
        elif c == '"':
            quoted = True
        elif c == ch:
            found = i
        prev = c
    return found


def parse_nameaddr(text: str) -> ParsedUri | None:
    """Split ``"Name" <sip:u@h;p>;tag=x`` (or a bare addr-spec with parameters)."""
    start = _display_name_end(text)
    if start is None:
        return None
    out = ParsedUri()
    if start > 0:
        name = text[:start].strip(" ")
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1]
        out.display_name = name
    end = _uri_end(text, start)
    if end is None:
        return None
    if parse_uri(text[start:end], out) is None:
        return None
    out.params = _header_params(text, end)
    return out


# ---------------------------------------------------------------------------
# headers and URL encoding


def get_header(hdrs: str, name: str) -> str:
    """The value of the first header called ``name`` (any case) in ``hdrs``, or ''."""
    if not name:
        return ""
    wanted = name.lower()
    for line in hdrs.replace("\r\n", "\n").split("\n"):
        head, colon, value = line.partition(":")
        if colon and head.rstrip(" \t").lower() == wanted:
            return value.lstrip(" ")
    return ""


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def url_encode(text: str) -> str:
    """Percent-encode every byte but the RFC 3986 unreserved characters."""
    return "".join(chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


_HEX = frozenset(b"0123456789abcdefABCDEF")


def url_decode(text: str) -> str:
    """Decode ``%XX``; ``%%`` is a ``%``; a bad escape is dropped (as SEMS does)."""
    out = bytearray()
    data = text.encode("utf-8")
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b != 0x25:  # '%'
            out.append(b)
            i += 1
            continue
        if i + 1 < n and data[i + 1] == 0x25:
            out.append(0x25)
            i += 2
            continue
        pair = data[i + 1 : i + 3]
        i += 3
        if len(pair) == 2 and all(c in _HEX for c in pair):
            out.append(int(pair.decode("ascii"), 16))
    return out.decode("utf-8", errors="replace")


def _name(text: str) -> str:
    return text[1:] if text.startswith("$") else text


# ---------------------------------------------------------------------------
# actions

_URI_PARTS = ("user", "host", "port", "headers", "param")


@module.action("uri.parse", split=",", optional=True)
def _parse(session, event, args):
    uri = session.resolve(args[0], event)
    prefix = session.resolve(args[1], event)
    parsed = parse_uri(uri)
    if parsed is None:
        session.set_errno("general", f"parsing URI '{uri}' failed")
        return
    for part in _URI_PARTS:
        session.vars[prefix + part] = getattr(parsed, part)
    session.clear_errno()


@module.action("uri.parseNameaddr", split=",", optional=True)
def _parse_nameaddr(session, event, args):
    text = session.resolve(args[0], event)
    prefix = session.resolve(args[1], event)
    parsed = parse_nameaddr(text)
    if parsed is None:
        session.set_errno("general", f"parsing nameaddr '{text}' failed")
        return
    session.vars[prefix + "display_name"] = parsed.display_name
    for part in _URI_PARTS:
        session.vars[prefix + part] = getattr(parsed, part)
    for key, value in parsed.params.items():
        session.vars[f"{prefix}uri_param.{key}"] = value
    session.clear_errno()


@module.action("uri.getHeader", split=",")
def _get_header(session, event, args):
    name = session.resolve(args[0], event)
    target = session.resolve(args[1], event)
    session.vars[target] = get_header(session.vars.get("hdrs", ""), name)


@module.action("uri.encode", split="=")
def _encode(session, event, args):
    session.vars[_name(args[0])] = url_encode(session.resolve(args[1], event))


@module.action("uri.decode", split="=")
def _decode(session, event, args):
    session.vars[_name(args[0])] = url_decode(session.resolve(args[1], event))
