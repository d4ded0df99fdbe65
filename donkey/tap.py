"""``twistd donkeysm``: command-line options and ``makeService``.

``Options`` reads the configuration (the bundled one without ``-c``) and the
command-line overrides; ``makeService`` hands it to
:func:`donkey.app.server.build_server`.

A server that cannot start says why in one line on stderr and exits with
status 1 (``SystemExit`` with the message): a ``-c`` file that cannot be read,
a port in use, a bad configuration value; a script error prints its
``file:line:col: message`` lines.  twistd's usage dump is kept for mistakes in
the command line itself (``--rtp-ports 10000``), where it helps.  Both
happen before twistd starts logging, so the message reaches the terminal.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.python import usage

from donkey.app.server import StartupError, build_server, check_ports
from donkey.config import ConfigError, ServerConfig, load_server_config

#: SEMS's log levels, as ``loglevel`` in sems.conf and ``--loglevel`` name them.
LOGLEVELS = {0: "error", 1: "warning", 2: "info", 3: "debug"}


def parse_rtp_ports(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` as two ports: 1..65535, ``LOW < HIGH``, ``LOW`` even (RTP; RTCP is +1)."""
    low_text, sep, high_text = text.partition("-")
    try:
        if not sep:
            raise ValueError
        low, high = int(low_text), int(high_text)
    except ValueError:
        raise usage.UsageError(
            f"--rtp-ports takes LOW-HIGH (e.g. 10000-10999), got '{text}'"
        ) from None
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise usage.UsageError(f"--rtp-ports {text}: {port} is not a port (1-65535)")
    if low >= high:
        raise usage.UsageError(f"--rtp-ports {text}: LOW must be below HIGH")
    if low % 2:
        raise usage.UsageError(f"--rtp-ports {text}: LOW must be even (RTP even, RTCP odd)")
    return low, high


def parse_loglevel(text: str) -> int:
    """A SEMS log level, 0 (error) to 3 (debug)."""
    try:
        level = int(text)
    except ValueError:
        level = -1
    if level not in LOGLEVELS:
        names = ", ".join(f"{n} {name}" for n, name in LOGLEVELS.items())
        raise usage.UsageError(f"--loglevel takes 0-3 ({names}), got '{text}'")
    return level


class Options(usage.Options):
    synopsis = "[-c sems.conf] [--sip-port N] [--xmlrpc-port N] [--rtp-ports LOW-HIGH]"
    longdesc = (
        "Run the donkey DSM application server. Without --config it runs "
        "on its bundled configuration (SIP on 127.0.0.1:5060, XML-RPC on "
        "127.0.0.1:8090, the quizconnect demo on SQLite in the state directory, "
        "$XDG_STATE_HOME/donkey or ~/.local/state/donkey)."
    )
    optParameters = [
        ["config", "c", None, "the main configuration file (SEMS's sems.conf)"],
        ["sip-ip", None, None, "override sip_ip"],
        ["sip-port", None, None, "override sip_port", int],
        ["xmlrpc-port", None, None, "override xmlrpc_port of xmlrpc2di.conf", int],
        ["rtp-ports", None, None, "override the RTP range, as LOW-HIGH (LOW even)"],
        ["loglevel", None, None, "override loglevel: 0 error, 1 warning, 2 info, 3 debug"],
        ["state-dir", None, None, "override state_dir, where donkey writes its files"],
    ]

    server_config: ServerConfig

    def postOptions(self) -> None:
        rtp = parse_rtp_ports(self["rtp-ports"]) if self["rtp-ports"] else None
        loglevel = parse_loglevel(self["loglevel"]) if self["loglevel"] is not None else None
        try:
            self.server_config = load_server_config(self["config"])
        except ConfigError as e:
            # one line, without twistd's usage dump: the command line was fine
            raise SystemExit(f"donkeysm: {e}") from None
        cfg = self.server_config
        if self["sip-ip"]:
            cfg.values["sip_ip"] = self["sip-ip"]
        if self["sip-port"] is not None:
            cfg.values["sip_port"] = str(self["sip-port"])
        if self["xmlrpc-port"] is not None:
            cfg.xmlrpc["xmlrpc_port"] = str(self["xmlrpc-port"])
        if rtp is not None:
            cfg.values["rtp_low_port"], cfg.values["rtp_high_port"] = map(str, rtp)
        if loglevel is not None:
            cfg.values["loglevel"] = str(loglevel)
        if self["state-dir"]:
            cfg.values["state_dir"] = self["state-dir"]


def makeService(options: Options, reactor: Any = None) -> service.MultiService:
    """twistd's entry point: the server for the parsed options (SystemExit when it cannot run)."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    try:
        check_ports(options.server_config)
        return build_server(options.server_config, reactor)
    except (StartupError, ConfigError) as e:
        raise SystemExit(f"donkeysm: {e}") from None
