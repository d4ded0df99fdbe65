"""SEMS's value conventions on the wire: Python results to XML-RPC ``methodResponse`` bodies.

Written by hand rather than through :mod:`xmlrpc.client`'s marshaller so the
output is as compact and typed as SEMS's XmlRpc++ sends it.
"""

from __future__ import annotations

import re
import xmlrpc.client as xmlrpclib
from collections.abc import Mapping
from typing import Any

from twisted.web.xmlrpc import Fault

# the failure code, for a fault whose own code cannot be sent (faults.py imports
# DI names; this module stays free of them)
FAULT_FAILURE = 500
_XMLRPC_INT_MIN, _XMLRPC_INT_MAX = -(2**31), 2**31 - 1

#: What XML 1.0 cannot carry at all, not even as a character reference:
#: control characters other than tab, newline and carriage return, lone
#: surrogates, U+FFFE and U+FFFF.  Values from SIP (a From display name with
#: ``\x1b\x01``) and error texts quoting a NUL contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

#: What each of those characters is sent as.
REPLACEMENT = "\ufffd"


def xml_safe(s: str) -> str:
    """``s`` with every character XML 1.0 cannot carry replaced by U+FFFD.

    Replaced rather than escaped: a character reference such as ``&#1;`` is
    not well-formed XML 1.0 either, and every client's parser (Python's
    :mod:`xmlrpc.client`, XmlRpc++) would refuse the whole reply.
    """
    if _NOT_XML.search(s) is None:
        return s
    return _NOT_XML.sub(REPLACEMENT, s)


class _Sink(list):
    """Lets xmlrpclib's Binary/DateTime encoders write into our buffer."""

    write = list.append


def encode(value: Any, out: _Sink, allow_none: bool) -> None:
    """Append the XML-RPC ``<value>`` for ``value`` to ``out``.

    Compact, typed output like SEMS's XmlRpc++ (no whitespace between
    elements, which also halves the parse work of clients for big lists).
    ``None`` becomes ``<nil/>`` if allowed, else ``0`` as SEMS sends for an
    undefined value; integers beyond 32 bits become doubles; tuples and
    sets become arrays; mapping keys are made strings; bytes are base64;
    anything else is sent as its ``str()``.
    """
    t = type(value)
    if t is str:
        out.append("<value><string>%s</string></value>" % _escape(value))
    elif t is list or t is tuple:
        out.append("<value><array><data>")
        for v in value:
            encode(v, out, allow_none)
        out.append("</data></array></value>")
    elif t is dict:
        out.append("<value><struct>")
        for k, v in value.items():
            out.append("<member><name>%s</name>" % _escape(str(k)))
            encode(v, out, allow_none)
            out.append("</member>")
        out.append("</struct></value>")
    elif t is bool:
        out.append("<value><boolean>%d</boolean></value>" % value)
    elif t is int:
        if _XMLRPC_INT_MIN <= value <= _XMLRPC_INT_MAX:
            out.append("<value><int>%d</int></value>" % value)
        else:
            out.append("<value><double>%r</double></value>" % float(value))
    elif t is float:
        out.append("<value><double>%r</double></value>" % value)
    elif value is None:
        out.append("<value><nil/></value>" if allow_none else "<value><int>0</int></value>")
    elif isinstance(value, xmlrpclib.DateTime):
        out.append(
            "<value><dateTime.iso8601>%s</dateTime.iso8601></value>" % _escape(str(value.value))
        )
    elif isinstance(value, xmlrpclib.Binary):
        value.encode(out)
    elif isinstance(value, (bytes, bytearray)):
        xmlrpclib.Binary(bytes(value)).encode(out)
    elif isinstance(value, bool):
        encode(bool(value), out, allow_none)
    elif isinstance(value, int):
        encode(int(value), out, allow_none)
    elif isinstance(value, float):
        encode(float(value), out, allow_none)
    elif isinstance(value, str):
        encode(str(value), out, allow_none)
    elif isinstance(value, Mapping):
        encode(dict(value), out, allow_none)
    elif isinstance(value, (list, tuple, set, frozenset)):
        encode(list(value), out, allow_none)
    else:
        encode(str(value), out, allow_none)


def _escape(s: str) -> str:
    """XML-escape text content (quotes need no escaping there), made XML-safe first."""
    s = xml_safe(s)
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def marshal_response(result: Any, allow_none: bool = False) -> bytes:
    """A complete ``methodResponse`` document for ``result`` (or a :class:`Fault`)."""
    if isinstance(result, Fault):
        code = result.faultCode if type(result.faultCode) is int else FAULT_FAILURE
        if not _XMLRPC_INT_MIN <= code <= _XMLRPC_INT_MAX:
            code = FAULT_FAILURE
        safe = Fault(code, xml_safe(str(result.faultString)))
        return xmlrpclib.dumps(safe, methodresponse=True).encode("utf-8", "xmlcharrefreplace")
    out = _Sink()
    out.append("<?xml version='1.0'?>\n<methodResponse><params><param>")
    encode(result, out, allow_none)
    out.append("</param></params></methodResponse>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")
