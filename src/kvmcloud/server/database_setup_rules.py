"""What kvmcloud-setup-database writes: database URLs and the server.conf values."""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

SERVER_CONF_NAME = "server.conf"
DEFAULT_SQLITE_PATH = Path("/var/lib/kvmcloud/kvmcloud.db")
POSTGRES_DRIVER = "postgresql+psycopg"
MARIADB_DRIVER = "mysql+mysqldb"
# Names written unquoted into SQL (CREATE ROLE "…"): plain lower-case identifiers only.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_HOST = re.compile(r"[A-Za-z0-9.\-:\[\]]+")


class SetupError(ValueError):
    """A value given to a setup command is unusable; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ServerTarget:
    """Where the server's PostgreSQL or MariaDB database lives and whom it connects as."""

    driver: str
    host: str
    port: int
    name: str
    user: str
    password: str

    def url(self) -> str:
        """The SQLAlchemy URL the server uses (``KVMCLOUD_DATABASE_URL``)."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        secret = quote(self.password, safe="")
        return f"{self.driver}://{self.user}:{secret}@{host}:{self.port}/{self.name}"


def postgres_target(host: str, port: int, name: str, user: str, password: str) -> ServerTarget:
    """Check the pieces of a PostgreSQL target (see server_target)."""
    return server_target(POSTGRES_DRIVER, host, port, name, user, password)


def mariadb_target(host: str, port: int, name: str, user: str, password: str) -> ServerTarget:
    """Check the pieces of a MariaDB target (see server_target)."""
    return server_target(MARIADB_DRIVER, host, port, name, user, password)


def server_target(
    driver: str, host: str, port: int, name: str, user: str, password: str
) -> ServerTarget:
    """Check the pieces of a database server target.

    Raises:
        SetupError: names a bad host, port, database or user name, or an empty password.
    """
    if not _HOST.fullmatch(host):
        raise SetupError(f"--host {host!r} is not a host name or address")
    if not 1 <= port <= 65535:
        raise SetupError(f"--port must be between 1 and 65535, not {port}")
    for option, value in (("--name", name), ("--db-user", user)):
        if not _IDENTIFIER.fullmatch(value):
            raise SetupError(
                f"{option} {value!r} must be a lower-case identifier "
                "(letters, digits, underscores; 63 at most)"
            )
    if not password:
        raise SetupError("the database password is empty")
    return ServerTarget(
        driver=driver, host=host, port=port, name=name, user=user, password=password
    )


def kept_password(existing_url: str | None, target: ServerTarget) -> str | None:
    """The password of ``existing_url`` if it names the same user, host, port and database.

    A second run keeps the password the first one chose, so the server's configuration and
    the database role stay in step.
    """
    if not existing_url or not existing_url.startswith(f"{target.driver}://"):
        return None
    parts = urlsplit(existing_url)
    try:
        port = parts.port
    except ValueError:
        return None
    same = (
        parts.username == target.user
        and (parts.hostname or "") == target.host.strip("[]").lower()
        and port == target.port
        and parts.path == f"/{target.name}"
    )
    if not same or parts.password is None:
        return None
    return unquote(parts.password)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite database file.

    Raises:
        SetupError: the path is relative.
    """
    if not path.is_absolute():
        raise SetupError(f"--path must be absolute, not {str(path)!r}")
    return f"sqlite:///{path}"


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal (standard_conforming_strings, PostgreSQL's default)."""
    return "'" + text.replace("'", "''") + "'"
