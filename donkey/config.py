"""SEMS-style configuration: ``key=value`` files, plugin configs, app bundles.

``sems.conf`` names the SIP address, RTP ports, the application selection and
``plugin_config_path``, where ``dsm.conf``, ``xmlrpc2di.conf`` and
``monitoring.conf`` live.  ``dsm.conf`` describes the main DSM bundle and may
point at ``conf_dir``, a directory of app-bundle files (``quizconnect.conf``)
whose keys become ``$config.key`` in that bundle's scripts.

With no ``-c`` the daemon runs on the configuration bundled with the package
(:func:`default_config_path`), which works on loopback with no other server.

Files the server writes (the quizconnect demo's SQLite database) go to the
state directory, :attr:`ServerConfig.state_dir`: ``state_dir`` of sems.conf,
else ``$XDG_STATE_HOME/donkey``, else ``~/.local/state/donkey``.  Bundle files
name it as ``${state_dir}``, so a demo never writes into whatever directory
the server happens to be started from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: SEMS's ``dead_rtp_time`` default (AmConfig: five minutes).
DEFAULT_DEAD_RTP_TIME = 300.0
#: An inbound call unanswered this long is refused (480): nobody rings for 5 minutes.
DEFAULT_MAX_EARLY_MEDIA_TIME = 300.0
#: An outbound call ringing this long is cancelled.
DEFAULT_MAX_RINGING_TIME = 180.0


class ConfigError(Exception):
    """A configuration file that cannot be read or has a bad value."""


def parse_config(text: str, name: str = "<config>") -> dict[str, str]:
    """Parse ``key=value`` lines; ``#`` starts a comment line; quotes are optional."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}:{number}: expected key=value, got '{line}'")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def read_config(path: str, state_dir: str | None = None) -> dict[str, str]:
    """Read a config file; ``${here}`` in a value is the file's directory.

    ``${state_dir}`` is the server's state directory (``state_dir``, else
    :func:`default_state_dir`).  Both are donkey's additions, so a bundle can
    name files next to it wherever it is installed, and the files it writes
    land in one known place.
    """
    try:
        with open(path, encoding="utf-8") as f:
            values = parse_config(f.read(), path)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    here = os.path.dirname(os.path.abspath(path))
    state = state_dir or default_state_dir()
    return {k: v.replace("${here}", here).replace("${state_dir}", state) for k, v in values.items()}


def default_state_dir() -> str:
    """``$XDG_STATE_HOME/donkey``, or ``~/.local/state/donkey`` (the XDG default)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "donkey")


def default_config_path() -> str:
    """The bundled ``sems.conf`` (installed as package data ``donkey.conf``)."""
    try:
        from importlib.resources import files

        candidate = str(files("donkey.conf").joinpath("sems.conf"))
        if os.path.isfile(candidate):
            return candidate
    except (ModuleNotFoundError, TypeError):
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "conf", "sems.conf")


def _int(values: Mapping[str, str], key: str, default: int, name: str) -> int:
    raw = values.get(key, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {key} must be a number, got '{raw}'") from None


@dataclass
class ServerConfig:
    """The main configuration with its plugin configs, paths made absolute."""

    path: str
    base_dir: str
    values: dict[str, str]
    dsm: dict[str, str] = field(default_factory=dict)
    xmlrpc: dict[str, str] = field(default_factory=dict)
    monitoring: dict[str, str] = field(default_factory=dict)

    @property
    def sip_ip(self) -> str:
        return self.values.get("sip_ip", "127.0.0.1")

    @property
    def sip_port(self) -> int:
        return _int(self.values, "sip_port", 5060, self.path)

    @property
    def public_ip(self) -> str:
        return self.values.get("public_ip", "") or self.sip_ip

    @property
    def media_ip(self) -> str:
        return self.values.get("media_ip", "") or self.sip_ip

    @property
    def rtp_low_port(self) -> int:
        return _int(self.values, "rtp_low_port", 10000, self.path)

    @property
    def rtp_high_port(self) -> int:
        return _int(self.values, "rtp_high_port", 20000, self.path)

    @property
    def application(self) -> str:
        return self.values.get("application", "$(mapping);$(ruri.user)")

    def _seconds(self, key: str, default: float) -> float:
        raw = self.values.get(key, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value >= 0 or value == float("inf"):
            raise ConfigError(f"{self.path}: {key} must be a number of seconds >= 0, got '{raw}'")
        return value

    @property
    def dead_rtp_time(self) -> float:
        """Seconds without RTP before a call's ``rtpTimeout`` ends it (SEMS's ``dead_rtp_time``).

        It watches every call, as in SEMS; unset it is SEMS's default, 300;
        0 turns it off.
        """
        return self._seconds("dead_rtp_time", DEFAULT_DEAD_RTP_TIME)

    @property
    def max_early_media_time(self) -> float:
        """Seconds an inbound call may stay unanswered (ringing or early media); 0: no limit."""
        return self._seconds("max_early_media_time", DEFAULT_MAX_EARLY_MEDIA_TIME)

    @property
    def max_ringing_time(self) -> float:
        """Seconds an outbound call may ring (or send early media) before it is cancelled."""
        return self._seconds("max_ringing_time", DEFAULT_MAX_RINGING_TIME)

    @property
    def rtp_latching(self) -> str:
        """Symmetric-RTP policy: ``off``, ``address`` (the default) or ``any``.

        See :mod:`donkey.media.rtp` for what each admits.
        """
        raw = self.values.get("rtp_latching", "").strip().lower() or "address"
        if raw not in ("off", "address", "any"):
            raise ConfigError(f"{self.path}: rtp_latching must be off, address or any, got '{raw}'")
        return raw

    @property
    def session_limit(self) -> int:
        return _int(self.values, "session_limit", 0, self.path)

    @property
    def cps_limit(self) -> int:
        return _int(self.values, "cps_limit", 0, self.path)

    @property
    def loglevel(self) -> int:
        return _int(self.values, "loglevel", 2, self.path)

    @property
    def state_dir(self) -> str:
        """Where the server writes its files: ``state_dir`` (relative to sems.conf) or the default."""
        raw = self.values.get("state_dir", "").strip()
        return self.resolve(raw) if raw else default_state_dir()

    def session_timer(self) -> dict[str, Any]:
        """RFC 4028 session timers: SEMS's keys, read from dsm.conf (where SEMS's DSM
        reads them), else from sems.conf; checked, as keyword arguments of
        :class:`donkey.sip.session_timer.SessionTimerConfig`.

        ``enable_session_timer=yes``, ``session_expires`` (default 1800),
        ``minimum_timer`` (Min-SE, default 90), ``session_refresh_method``
        (``UPDATE``, ``INVITE``, ``UPDATE_FALLBACK_INVITE``: the default).
        """
        keys = (
            "enable_session_timer",
            "session_expires",
            "minimum_timer",
            "session_refresh_method",
        )
        source = self.dsm if any(k in self.dsm for k in keys) else self.values
        name = (
            os.path.join(getattr(self, "plugin_dir", self.base_dir), "dsm.conf")
            if source is self.dsm
            else self.path
        )
        enabled = source.get("enable_session_timer", "no").strip().lower() == "yes"
        expires = _int(source, "session_expires", 1800, name)
        min_se = _int(source, "minimum_timer", 90, name)
        method = (
            source.get("session_refresh_method", "").strip().upper() or "UPDATE_FALLBACK_INVITE"
        )
        if method not in ("UPDATE", "INVITE", "UPDATE_FALLBACK_INVITE"):
            raise ConfigError(
                f"{name}: session_refresh_method must be UPDATE, INVITE or "
                f"UPDATE_FALLBACK_INVITE, got '{method}'"
            )
        if enabled and (min_se <= 0 or expires < min_se):
            raise ConfigError(
                f"{name}: session_expires ({expires}) must be at least "
                f"minimum_timer ({min_se}), which must be > 0"
            )
        return dict(enabled=enabled, session_expires=expires, min_se=min_se, refresh_method=method)

    def resolve(self, path: str) -> str:
        """A path from the config, relative to the config file's directory."""
        if not path:
            return path
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(self.base_dir, path))

    def app_mapping(self) -> list[tuple[str, str]]:
        """``$(mapping)``: (regex, app) pairs from ``app_mapping`` file, in order."""
        path = self.resolve(self.values.get("app_mapping", ""))
        if not path or not os.path.isfile(path):
            return []
        pairs = []
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                regex, sep, app = line.partition("=>")
                if not sep:
                    raise ConfigError(f"{path}:{number}: expected 'regex=>application'")
                pairs.append((regex.strip(), app.strip()))
        return pairs


def load_server_config(path: str | None = None) -> ServerConfig:
    """Read sems.conf and the plugin configs next to it (or in plugin_config_path)."""
    path = os.path.abspath(path or default_config_path())
    values = read_config(path)
    base = os.path.dirname(path)
    config = ServerConfig(path=path, base_dir=base, values=values)
    plugin_dir = config.resolve(values.get("plugin_config_path", "etc"))
    for attr, filename in (
        ("dsm", "dsm.conf"),
        ("xmlrpc", "xmlrpc2di.conf"),
        ("monitoring", "monitoring.conf"),
    ):
        plugin_path = os.path.join(plugin_dir, filename)
        if os.path.isfile(plugin_path):
            setattr(config, attr, read_config(plugin_path))
    config.plugin_dir = plugin_dir  # type: ignore[attr-defined]
    return config
