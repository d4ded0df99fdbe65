"""Where a ``db_url`` points: the one reading of ``mysql://`` and ``sqlite://`` URLs.

Kept apart from the pools so that ``mysql.connect`` can reject a bad URL
(``$errno=arg``) before anything touches a thread or a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote as url_unquote


@dataclass(frozen=True)
class Target:
    """Where a ``db_url`` points."""

    kind: str  # "mysql" or "sqlite"
    host: str = ""
    port: int = 3306
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""  # sqlite file

    @property
    def key(self) -> tuple:
        return (self.kind, self.host, self.port, self.user, self.password, self.database, self.path)


def parse_url(url: str) -> Target:
    """``mysql://user:pwd@host[:port]/db`` or ``sqlite:///path``; ValueError otherwise."""
    url = url.strip()
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path in (":memory:", "/:memory:"):
            path = ":memory:"
        if not path:
            raise ValueError(f"db_url '{url}' has no file")
        return Target("sqlite", path=path)
    if not url.startswith("mysql://") or len(url) < 11:
        raise ValueError("missing correct db_url config or connect parameter")
    rest = url[len("mysql://") :]
    creds, at, hostpart = rest.rpartition("@")
    if not at:
        creds, hostpart = "", rest
    user, _, password = creds.partition(":")
    hostport, _, database = hostpart.partition("/")
    host, colon, port_text = hostport.rpartition(":")
    if not colon or not port_text.isdigit():
        host, port_text = hostport, "3306"
    if not host:
        raise ValueError(f"db_url '{url}' has no host")
    return Target(
        "mysql",
        host=host,
        port=int(port_text),
        user=url_unquote(user),
        password=url_unquote(password),
        database=url_unquote(database),
    )
