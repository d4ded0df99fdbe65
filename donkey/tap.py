"""``twistd donkeysm``: command-line options and ``makeService``.

``Options`` reads the configuration (the bundled one without ``-c``) and the
command-line overrides; ``makeService`` hands it to
:func:`donkey.app.server.build_server`.  A script with an error stops the
start with ``file:line:col: message``.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.python import usage

from donkey.app.server import StartupError, build_server
from donkey.config import ConfigError, load_server_config


class Options(usage.Options):
    synopsis = "[-c sems.conf] [--sip-port N] [--xmlrpc-port N]"
    longdesc = (
        "Run the donkey DSM application server. Without --config it runs "
        "on its bundled configuration (SIP on 127.0.0.1:5060, XML-RPC on "
        "127.0.0.1:8090, the quizconnect demo on SQLite)."
    )
    optParameters = [
        ["config", "c", None, "the main configuration file (SEMS's sems.conf)"],
        ["sip-ip", None, None, "override sip_ip"],
        ["sip-port", None, None, "override sip_port", int],
        ["xmlrpc-port", None, None, "override xmlrpc_port of xmlrpc2di.conf", int],
        ["rtp-ports", None, None, "override the RTP range, as LOW-HIGH"],
    ]

    def postOptions(self) -> None:
        try:
            self.server_config = load_server_config(self["config"])
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None
        cfg = self.server_config
        if self["sip-ip"]:
            cfg.values["sip_ip"] = self["sip-ip"]
        if self["sip-port"] is not None:
            cfg.values["sip_port"] = str(self["sip-port"])
        if self["xmlrpc-port"] is not None:
            cfg.xmlrpc["xmlrpc_port"] = str(self["xmlrpc-port"])
        if self["rtp-ports"]:
            low, _, high = self["rtp-ports"].partition("-")
            cfg.values["rtp_low_port"], cfg.values["rtp_high_port"] = low, high


def makeService(options: Options, reactor: Any = None) -> service.MultiService:
    """twistd's entry point: the server for the parsed options."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    try:
        return build_server(options.server_config, reactor)
    except StartupError as e:
        raise usage.UsageError(str(e)) from None
