"""XML-RPC control plane: DI interfaces and core controls over HTTP, as SEMS's ``xmlrpc2di`` offers them.

SEMS operator scripts keep working against it.  The parts:

- :mod:`~donkey.di.xmlrpc.config`: ``xmlrpc2di.conf`` read and checked
  (:class:`XmlRpcConfig`, :class:`AccessPolicy`);
- :mod:`~donkey.di.xmlrpc.control`: what the built-in methods act on
  (:class:`CoreControl`);
- :mod:`~donkey.di.xmlrpc.marshalling`: results to XML-RPC the way SEMS
  sends them (``None`` as ``0`` unless ``xmlrpc_allow_none=yes``, 32-bit
  integers, compact output);
- :mod:`~donkey.di.xmlrpc.faults`: SEMS's fault codes (``-1`` unknown
  method, ``300`` argument mismatch, ``400`` malformed ``di`` call, ``500``
  failure, ``504`` function not implemented);
- :mod:`~donkey.di.xmlrpc.resource`: the ``twisted.web`` resource;
- :mod:`~donkey.di.xmlrpc.service`: the listening service and
  :func:`make_xmlrpc_service`, which builds it from the configuration.
"""

from __future__ import annotations

from donkey.di.xmlrpc.config import AccessPolicy, XmlRpcConfig
from donkey.di.xmlrpc.control import CoreControl, InMemoryCoreControl
from donkey.di.xmlrpc.faults import (
    FAULT_ARGS,
    FAULT_BAD_REQUEST,
    FAULT_FAILURE,
    FAULT_NOT_IMPLEMENTED,
    FAULT_UNKNOWN_METHOD,
)
from donkey.di.xmlrpc.marshalling import marshal_response
from donkey.di.xmlrpc.resource import DIXmlRpcResource
from donkey.di.xmlrpc.service import XmlRpcService, make_xmlrpc_service

__all__ = [
    "CoreControl",
    "InMemoryCoreControl",
    "XmlRpcConfig",
    "AccessPolicy",
    "DIXmlRpcResource",
    "XmlRpcService",
    "make_xmlrpc_service",
    "marshal_response",
    "FAULT_UNKNOWN_METHOD",
    "FAULT_ARGS",
    "FAULT_BAD_REQUEST",
    "FAULT_FAILURE",
    "FAULT_NOT_IMPLEMENTED",
]
