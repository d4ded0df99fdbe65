"""Small SIP header helpers shared by the leg and the stack.

sippy parses well-known headers into typed objects and, for some, splits
comma lists; header text coming from applications (DSM ``hdrs``) must go out
verbatim, so it is wrapped in :class:`RawHF` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from sippy.SipGenericHF import SipGenericHF
from sippy.SipHeader import SipHeader

# Headers the stack owns; SEMS leaves them out of the app-visible ``hdrs``.
CORE_HEADERS = frozenset(
    "via from to call-id cseq contact content-type content-length max-forwards "
    "route record-route".split()
)


class RawHF(SipGenericHF):
    """A header body sent exactly as given, name case preserved."""

    def __init__(self, body: str, name: str | None = None) -> None:
        super().__init__(body, name)
        self._canname = name

    def getCopy(self) -> RawHF:
        return RawHF(self.body, self._canname)

    def getCanName(self, name: str, compact: bool = False) -> str:
        return self._canname or name.capitalize()


HeaderSpec = None | str | Sequence[tuple[str, str]]


def split_headers(headers: HeaderSpec) -> list[tuple[str, str]]:
    """``"A: 1\\r\\nB: 2"`` (or a list of pairs) -> ``[("A", "1"), ("B", "2")]``."""
    if not headers:
        return []
    if not isinstance(headers, str):
        return [(n, v) for n, v in headers]
    out: list[tuple[str, str]] = []
    for line in headers.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if line[0] in " \t" and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        out.append((name.strip(), value.strip()))
    return out


def make_headers(headers: HeaderSpec) -> list[SipHeader]:
    return [SipHeader(name=n, body=RawHF(v, n)) for n, v in split_headers(headers)]


class SipHeaders(Mapping[str, str]):
    """Case-insensitive, multi-valued, ordered view of a message's headers.

    ``h['X-Foo']`` is the first value; :meth:`get_all` returns every value;
    :attr:`raw` is the CRLF-joined text of the non-core headers (SEMS
    ``hdrs``).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs: list[tuple[str, str]] = list(pairs)
        self._index: dict[str, list[str]] = {}
        for n, v in self._pairs:
            self._index.setdefault(n.lower(), []).append(v)

    @classmethod
    def from_msg(cls, msg) -> SipHeaders:
        pairs = []
        for h in msg.headers:
            try:
                if type(h.body) is SipGenericHF:
                    # sippy lowercases unknown names; Title-Case them back
                    name = "-".join(p[:1].upper() + p[1:] for p in h.name.split("-"))
                else:
                    name = h.body.getCanName(h.name)
                pairs.append((name, str(h.body)))
            except Exception:
                pairs.append((h.name, str(getattr(h.body, "body", ""))))
        return cls(pairs)

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()][0]

    def __iter__(self) -> Iterator[str]:
        seen = []
        for n, _ in self._pairs:
            if n.lower() not in seen:
                seen.append(n.lower())
                yield n

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def items_all(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    @property
    def raw(self) -> str:
        return "".join(
            "%s: %s\r\n" % (n, v) for n, v in self._pairs if n.lower() not in CORE_HEADERS
        )

    def __repr__(self) -> str:
        return "SipHeaders(%r)" % (self._pairs,)


def param_split(value: str) -> tuple[str, dict[str, str | None]]:
    """``"90;refresher=uac"`` -> ``("90", {"refresher": "uac"})``."""
    parts = [p.strip() for p in value.split(";")]
    params: dict[str, str | None] = {}
    for p in parts[1:]:
        if not p:
            continue
        k, sep, v = p.partition("=")
        params[k.strip().lower()] = v.strip() if sep else None
    return parts[0], params


def tokens(values: Iterable[str]) -> list[str]:
    """Comma-separated token headers (Supported, Require, Allow) -> lowercase list."""
    out: list[str] = []
    for v in values:
        out.extend(t.strip().lower() for t in v.split(",") if t.strip())
    return out


#: the methods a donkey leg answers (RFC 3261 20.5 ``Allow``); PRACK and
#: SUBSCRIBE are not among them: an in-dialog PRACK gets 501
ALLOW_METHODS = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "REFER",
    "NOTIFY",
    "MESSAGE",
)

#: the warn-agent of our ``Warning`` headers (RFC 3261 20.43: a pseudonym)
WARN_AGENT = "donkey"


def capability_headers(session_timer: bool) -> str:
    """``Allow`` and ``Supported`` for a 2xx to INVITE or an OPTIONS reply.

    Peers use them to choose how to talk to us (UPDATE or re-INVITE for a
    refresh, REFER, MESSAGE); ``timer`` is named only when session timers
    are on (RFC 4028 7.1).  An empty ``Supported`` says "no extensions".
    """
    supported = "timer" if session_timer else ""
    return "Allow: %s\r\nSupported: %s\r\n" % (", ".join(ALLOW_METHODS), supported)


def warning_header(code: int, text: str) -> str:
    """``Warning: 305 donkey "text"`` (RFC 3261 20.43), *text* made a safe quoted string."""
    safe = "".join(c if " " <= c < "\x7f" and c not in '"\\' else " " for c in text)
    return 'Warning: %03d %s "%s"\r\n' % (code, WARN_AGENT, " ".join(safe.split())[:120])
