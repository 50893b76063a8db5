"""ServerSettings (frozen dataclass) built from KVMCLOUD_* environment variables."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kvmcloud.protocol.agent_messages import SERVER_KEEPALIVE_S

DEFAULT_DATABASE_URL = "sqlite:////var/lib/kvmcloud/kvmcloud.db"
# Keys kept outside the database: the secrets key file and the agent CA (docs/security.md).
DEFAULT_CONFIG_DIR = Path("/etc/kvmcloud")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Everything the server reads from its environment, parsed once at start-up."""

    database_url: str = DEFAULT_DATABASE_URL
    listen_host: str = "0.0.0.0"  # noqa: S104 - a management server serves its network
    listen_port: int = 8080
    # The agent listener: /agent/v1 only, mutual TLS against the agent CA (CloudStack: 8250).
    agent_listen_port: int = 8250
    # Idle agent connections are kept this long: longer than any heartbeat interval, so a
    # beat reuses its connection instead of paying a TLS handshake (docs/performance.md).
    agent_keepalive_s: int = int(SERVER_KEEPALIVE_S)
    public_url: str = ""
    job_workers: int = 4
    # Threads serving API and agent requests (both listeners share them).
    api_threads: int = 40
    periodic_tick_s: float = 1.0
    # A management server that has not renewed its lease for this long is Down and its
    # jobs are taken over by the others (several servers on one database).
    lease_s: int = 30
    log_level: str = "INFO"
    config_dir: Path = DEFAULT_CONFIG_DIR

    @property
    def agent_host(self) -> str:
        """The name or address agents use for this server: ``public_url``'s host if set."""
        if self.public_url:
            host = urlsplit(self.public_url).hostname
            if host:
                return host
        return "127.0.0.1" if self.listen_host in ("0.0.0.0", "") else self.listen_host  # noqa: S104

    @property
    def agent_callback_url(self) -> str:
        """Base URL agents heartbeat to: the agent listener, over mutual TLS."""
        host = f"[{self.agent_host}]" if ":" in self.agent_host else self.agent_host
        return f"https://{host}:{self.agent_listen_port}"

    @property
    def database_connections(self) -> int:
        """Threads that may use the database at once: the size of the connection pool."""
        # The lease keeper, the periodic scheduler and the last-seen flusher.
        background_threads = 3
        return self.api_threads + self.job_workers + background_threads

    @property
    def pki_dir(self) -> Path:
        """Where the agent CA and this server's certificate live (server/agent_pki.py)."""
        return self.config_dir / "pki"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ServerSettings":
        """Build settings from ``KVMCLOUD_*`` variables.

        Raises:
            SettingsError: a variable has a value that does not parse.
        """
        return cls(
            database_url=environ.get("KVMCLOUD_DATABASE_URL", DEFAULT_DATABASE_URL),
            listen_host=environ.get("KVMCLOUD_LISTEN_HOST", "0.0.0.0"),  # noqa: S104
            listen_port=_int(environ, "KVMCLOUD_LISTEN_PORT", 8080, 1, 65535),
            agent_listen_port=_int(environ, "KVMCLOUD_AGENTS_PORT", 8250, 1, 65535),
            agent_keepalive_s=_int(
                environ, "KVMCLOUD_AGENTS_KEEPALIVE_S", int(SERVER_KEEPALIVE_S), 5, 3600
            ),
            public_url=environ.get("KVMCLOUD_PUBLIC_URL", ""),
            job_workers=_int(environ, "KVMCLOUD_JOB_WORKERS", 4, 1, 64),
            api_threads=_int(environ, "KVMCLOUD_API_THREADS", 40, 1, 512),
            lease_s=_int(environ, "KVMCLOUD_LEASE_S", 30, 3, 3600),
            log_level=_log_level(environ),
            config_dir=_absolute_path(environ, "KVMCLOUD_CONFIG_DIR", DEFAULT_CONFIG_DIR),
        )


def _log_level(environ: Mapping[str, str]) -> str:
    level = (environ.get("KVMCLOUD_LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"KVMCLOUD_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}"
        )
    return level


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _absolute_path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    path = Path(raw)
    if not path.is_absolute():
        raise SettingsError(f"{name} must be an absolute path, not {raw!r}")
    return path
