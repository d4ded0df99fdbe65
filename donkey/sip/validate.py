"""Checks a SIP datagram before sippy sees it, and answers what sippy cannot.

sippy parses leniently in some places (a negative ``Content-Length``, a
CSeq whose method differs from the request's, ``SIP/7.0``) and raises in
others without answering (a missing ``Call-ID``, a non-numeric CSeq, bytes
that are not UTF-8, a ``Content-Length`` past the end of the datagram, where
sippy 2.5 even fails inside its own error path).  RFC 3261 §8.2 wants a
reply to each: 400 for a malformed request, 505 for an unsupported SIP
version, 416 for a Request-URI scheme we do not speak.  This module decides,
from the raw bytes alone and without raising for any input, whether a
datagram goes on to sippy, gets one of those replies, or is dropped: a
datagram with no request line, no usable ``Via`` (nowhere to send a
reply), an ACK (never answered) or a broken response is dropped.

Decisions taken where the RFCs leave room (RFC 4475 §1: be liberal where it
does no harm):

* Lines ending in a bare LF instead of CRLF are accepted: the header
  section is rewritten with CRLF before sippy sees it (RFC 3261 §7 requires
  CRLF; RFC 4475 asks receivers to be liberal, and nothing is ambiguous
  about a bare LF).  The body is passed on unchanged.
* CRLFs before the request line are ignored (RFC 3261 §7.5); a datagram of
  only CRLFs is a keep-alive (RFC 5626) and is dropped without a log line.
* Whitespace in the request line other than the two single spaces of
  RFC 3261 §7.1 is a 400 (RFC 4475 §3.1.2.4 and §3.1.2.5).
* A ``Content-Length`` smaller than the body truncates it (RFC 3261
  §18.3); a larger one, a negative or non-numeric one, or two of them, is a
  400 (RFC 4475 §3.1.2.2, §3.1.2.3, §3.1.2.12).
* A reply goes back to the datagram's source address, never to a host or
  port named in the ``Via``: a stranger's message cannot aim our replies at
  a third party.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

#: RFC 3261 §20 compact forms (and the RFC 3515/3892/4028/6665 ones).
COMPACT = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
}

#: Headers a request may carry only once (RFC 3261 §7.3.1: not list-valued).
SINGLE = ("call-id", "cseq", "from", "to", "content-length", "max-forwards")

MAX_CSEQ = 2**31 - 1
MAX_TEXT = 80  # longest problem text we put in a reply or a log line

_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"
_TOKEN_RE = re.compile(_TOKEN + r"\Z")
_REQUEST_LINE = re.compile(r"(" + _TOKEN + r") (\S+) ([Ss][Ii][Pp]/\d+\.\d+)\Z")
_LOOSE_REQUEST_LINE = re.compile(r"(" + _TOKEN + r")[ \t]+.*[ \t][Ss][Ii][Pp]/\S*[ \t]*\Z")
_STATUS_LINE = re.compile(r"SIP/2\.0 [1-9]\d\d(?: |\Z)")
_HEADER_NAME = re.compile(_TOKEN + r"\Z")
_VIA = re.compile(r"\s*[Ss][Ii][Pp]\s*/\s*2\.0\s*/\s*" + _TOKEN + r"\s+[^\s;,]+", re.ASCII)
_CSEQ = re.compile(r"\s*(\d{1,20})\s+(" + _TOKEN + r")\s*\Z")
_DIGITS = re.compile(r"\s*(\d{1,20})\s*\Z")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_TAG = re.compile(r";\s*tag\s*=", re.IGNORECASE)
_PRINTABLE = re.compile(r"[^ -~]")
#: control characters SIP text never holds (RFC 3261 §25.1: TEXT-UTF8char, LWS)
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class Head:
    """What a reply must echo (RFC 3261 §8.2.6.2), as received (latin-1 text)."""

    method: str = ""
    vias: list[str] = field(default_factory=list)
    from_: str | None = None
    to: str | None = None
    call_id: str | None = None
    cseq: str | None = None


@dataclass
class Verdict:
    """What to do with one datagram.

    ``pass``: hand :attr:`data` to sippy (maybe rewritten with CRLF lines);
    ``reply``: answer :attr:`code` statelessly naming :attr:`problem`;
    ``drop``: nothing can be answered (:attr:`problem` says why; empty for a
    keep-alive, which is not worth a log line).
    """

    action: Literal["pass", "reply", "drop"]
    problem: str = ""
    code: int = 0
    data: bytes = b""
    head: Head | None = None
    #: ``pass`` only: a new INVITE (no To tag), which the overload check sees
    initial_invite: bool = False
    #: ``pass`` only: the datagram is a response
    response: bool = False


def clean(text: str) -> str:
    """*text* as one short line of printable ASCII (it goes into logs and replies)."""
    return _PRINTABLE.sub("?", text)[:MAX_TEXT]


def _drop(problem: str) -> Verdict:
    return Verdict("drop", clean(problem))


def _split(data: bytes) -> tuple[bytes, bytes, bool]:
    """``(head, body, crlf)``: the header section, the body, whether lines end in CRLF."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf + 1 <= lf):
        return data[:crlf], data[crlf + 4 :], b"\n" not in data[:crlf].replace(b"\r\n", b"")
    if lf != -1:
        return data[:lf].rstrip(b"\r"), data[lf + 2 :], False
    # no blank line: all header, no body (sippy accepts that too)
    head = data.rstrip(b"\r\n")
    return head, b"", b"\n" not in head.replace(b"\r\n", b"")


def _lines(head: str) -> list[str]:
    """Header lines, folded continuation lines joined (RFC 3261 §7.3.1)."""
    out: list[str] = []
    for raw in re.split(r"\r?\n", head):
        line = raw.rstrip("\r")
        if line[:1] in (" ", "\t") and out:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return out


def _quotes_balanced(value: str) -> bool:
    """No unterminated ``"..."`` (backslash escapes honoured) and no stray ``<``/``>``."""
    quoted = False
    escaped = False
    angle = 0
    for ch in value:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
            if angle > 1:
                return False
        elif ch == ">":
            angle -= 1
            if angle < 0:
                return False
    return not quoted and angle == 0


def _address_problem(name: str, value: str) -> str | None:
    """What is wrong with a From/To/Contact value, or None."""
    if not value.strip():
        return f"empty {name}"
    if not _quotes_balanced(value):
        return f"unbalanced quotes or brackets in {name}"
    if name == "Contact" and value.strip() == "*":
        return None
    uri = value
    if "<" in value:
        uri = value[value.index("<") + 1 : value.rindex(">")] if ">" in value else ""
    if not _SCHEME.match(uri.strip()):
        return f"no URI in {name}"
    return None


def check(data: bytes) -> Verdict:
    """Decide what becomes of one received datagram; never raises."""
    try:
        return _check(data)
    except Exception as ex:  # a bug here must not turn into a lost datagram
        return _drop(f"validator error {type(ex).__name__}")


def _check(data: bytes) -> Verdict:
    stripped = data.lstrip(b"\r\n")
    if not stripped:
        return Verdict("drop")  # keep-alive
    head_b, body, crlf = _split(stripped)
    text = head_b.decode("latin-1")
    lines = _lines(text)
    start = lines[0]
    if start.startswith("SIP/"):
        if not _STATUS_LINE.match(start):
            return _drop("malformed status line")
        return _pass_through(data, head_b, body, crlf, response=True)
    match = _REQUEST_LINE.match(start)
    if match is None and _LOOSE_REQUEST_LINE.match(start) is None:
        return _drop("no request line")
    head = Head(method=start.split()[0])
    headers: dict[str, list[str]] = {}
    bad_line = ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or not _HEADER_NAME.match(name):
            bad_line = bad_line or "malformed header line"
            continue
        key = name.lower()
        key = COMPACT.get(key, key)
        value = value.strip(" \t")
        headers.setdefault(key, []).append(value)
        if key == "via":
            head.vias.append(value)
    head.from_ = _first(headers, "from")
    head.to = _first(headers, "to")
    head.call_id = _first(headers, "call-id")
    head.cseq = _first(headers, "cseq")
    if not head.vias or not _VIA.match(head.vias[0]):
        return _drop(f"{head.method} without a usable Via")
    if head.method == "ACK":
        problem = _problem(match, head, headers, body, bad_line, head_b)
        if problem is not None:
            return _drop(f"ACK: {problem[1]}")
    else:
        problem = _problem(match, head, headers, body, bad_line, head_b)
        if problem is not None:
            return Verdict("reply", clean(problem[1]), problem[0], head=head)
    verdict = _pass_through(data, head_b, body, crlf, response=False, headers=headers)
    verdict.head = head
    verdict.initial_invite = (
        head.method == "INVITE" and head.to is not None and not _TAG.search(head.to)
    )
    return verdict


def _first(headers: dict[str, list[str]], key: str) -> str | None:
    values = headers.get(key)
    return values[0] if values else None


def _problem(
    match: re.Match[str] | None,
    head: Head,
    headers: dict[str, list[str]],
    body: bytes,
    bad_line: str,
    head_b: bytes,
) -> tuple[int, str] | None:
    """``(code, what is wrong)`` for a request that must not reach sippy."""
    if match is None:
        return 400, "malformed request line"
    method, ruri, version = match.groups()
    if version.upper() != "SIP/2.0":
        return 505, f"SIP version {version} not supported"
    scheme = _SCHEME.match(ruri)
    if scheme is None:
        return 400, "malformed Request-URI"
    if scheme.group(1).lower() not in ("sip", "sips"):
        return 416, f"URI scheme {scheme.group(1)} not supported"
    if bad_line:
        return 400, bad_line
    if CONTROL.search(head_b.decode("latin-1").replace("\r\n", "\n").replace("\n", "")):
        return 400, "control character in the header section"
    try:
        head_b.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "header bytes are not UTF-8"
    for name in ("From", "To", "Call-ID", "CSeq"):
        if name.lower() not in headers:
            return 400, f"missing {name}"
    for key in SINGLE:
        if len(headers.get(key, ())) > 1:
            return 400, f"more than one {key} header"
    if not (head.call_id or "").strip():
        return 400, "empty Call-ID"
    cseq = _CSEQ.match(head.cseq or "")
    if cseq is None:
        return 400, "malformed CSeq"
    if int(cseq.group(1)) > MAX_CSEQ:
        return 400, "CSeq number out of range"
    if cseq.group(2) != method:
        return 400, "CSeq method does not match the request method"
    for name, key in (("From", "from"), ("To", "to")):
        why = _address_problem(name, headers[key][0])
        if why is not None:
            return 400, why
    if method == "INVITE":
        contacts = headers.get("contact")
        if not contacts:
            return 400, "missing Contact"
        for value in contacts:
            why = _address_problem("Contact", value)
            if why is not None:
                return 400, why
    max_forwards = _first(headers, "max-forwards")
    if max_forwards is not None and not _DIGITS.match(max_forwards):
        return 400, "malformed Max-Forwards"
    expires = _first(headers, "expires")
    if expires is not None and not _DIGITS.match(expires):
        return 400, "malformed Expires"
    length = _first(headers, "content-length")
    if length is not None:
        number = _DIGITS.match(length)
        if number is None:
            return 400, "malformed Content-Length"
        if int(number.group(1)) > len(body):
            return 400, "Content-Length larger than the body"
    try:
        body[: _body_length(headers, body)].decode("utf-8")
    except UnicodeDecodeError:
        return 400, "body is not UTF-8"
    return None


def _body_length(headers: dict[str, list[str]], body: bytes) -> int:
    length = _first(headers, "content-length")
    number = _DIGITS.match(length) if length is not None else None
    return int(number.group(1)) if number is not None else len(body)


def _pass_through(
    data: bytes,
    head_b: bytes,
    body: bytes,
    crlf: bool,
    response: bool,
    headers: dict[str, list[str]] | None = None,
) -> Verdict:
    """Hand the datagram on, rewritten only when its lines end in a bare LF."""
    if not crlf:
        lines = [line.rstrip(b"\r") for line in head_b.split(b"\n")]
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    elif data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _drop("response is not UTF-8" if response else "datagram is not UTF-8")
    return Verdict("pass", data=data, response=response)


# -- replies ---------------------------------------------------------------------------


def reply_tag(head: Head) -> str:
    """A To tag for a stateless reply, the same for every retransmission (RFC 3261 §8.2.7)."""
    seed = "\n".join([head.call_id or "", head.from_ or "", head.vias[0] if head.vias else ""])
    return hashlib.sha1(seed.encode("latin-1", "replace")).hexdigest()[:16]


def build_reply(
    head: Head,
    code: int,
    reason: str,
    warning: str = "",
    host: str = "donkey",
    server: str = "DonkeySM",
    extra: str = "",
) -> bytes:
    """A stateless reply echoing *head*, with a Warning (RFC 3261 §20.43) saying why."""
    lines = [f"SIP/2.0 {code} {clean(reason)}"]
    lines += [f"Via: {_echo(via)}" for via in head.vias]
    if head.from_ is not None:
        lines.append(f"From: {_echo(head.from_)}")
    if head.to is not None:
        to = _echo(head.to)
        if not _TAG.search(to):
            to += f";tag={reply_tag(head)}"
        lines.append(f"To: {to}")
    if head.call_id is not None:
        lines.append(f"Call-ID: {_echo(head.call_id)}")
    if head.cseq is not None:
        lines.append(f"CSeq: {_echo(head.cseq)}")
    if warning:
        text = clean(warning).replace("\\", "/").replace('"', "'")
        lines.append(f'Warning: 399 {host} "{text}"')
    if server:
        lines.append(f"Server: {server}")
    lines += [line for line in extra.split("\r\n") if line]
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _echo(value: str) -> str:
    """A received header value as it can be echoed: without control characters."""
    return CONTROL.sub("", value)


REASONS = {400: "Bad Request", 416: "Unsupported URI Scheme", 505: "Version Not Supported"}
