"""AgentSettings: listen address, state, token lifetime, buffers, certs, libvirt, consoles."""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kvmcloud.agent.nfs_modes import DEFAULT_MOUNT_BASE, DEFAULT_PROBE_TIMEOUT_S, NfsMode

PREFIX = "KVMCLOUD_AGENT_"
# Every interface: the listener is TLS-only, and once enrolled it completes no handshake
# without a certificate from the server's CA (docs/security.md: firewall rules).
DEFAULT_LISTEN_HOST = "0.0.0.0"  # noqa: S104 - an agent must be reachable by the server
DEFAULT_LISTEN_PORT = 8252
DEFAULT_STATE_DIR = Path("/var/lib/kvmcloud-agent")
DEFAULT_BUFFER_SIZE_BYTES = 4 * 1024 * 1024
MIN_BUFFER_SIZE_BYTES = 4096
MAX_BUFFER_SIZE_BYTES = 256 * 1024 * 1024
DEFAULT_LIBVIRT_URI = "qemu:///system"
DEFAULT_CONSOLE_DIR = Path("/var/log/kvmcloud-agent/consoles")
DEFAULT_CERT_DIR = Path("/etc/kvmcloud-agent/certs")
DEFAULT_POOL_CHECK_INTERVAL_S = 60.0
DEFAULT_ENROLL_TOKEN_TTL_S = 24 * 3600
MAX_ENROLL_TOKEN_TTL_S = 30 * 24 * 3600
# driver[+transport]://[host]/path[?query]: what libvirt accepts, without whitespace.
_LIBVIRT_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting is invalid; ``variable`` names the environment variable to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    """Everything the agent is configured with; built once in ``__main__``.

    Environment variables (all optional):

    * ``KVMCLOUD_AGENT_LISTEN_HOST`` / ``_LISTEN_PORT``: where the server reaches the agent
      (0.0.0.0:8252).
    * ``KVMCLOUD_AGENT_STATE_DIR``: enrolment token, TLS key and certificates, state;
      absolute (/var/lib/kvmcloud-agent).
    * ``KVMCLOUD_AGENT_ENROLL_TOKEN_TTL_S``: how long an enrolment token is accepted after
      it was made, 60 s to 30 days (86400). ``kvmcloud-agent new-token`` makes another.
    * ``KVMCLOUD_AGENT_BUFFER_SIZE_BYTES``: download buffer, 4 KiB to 256 MiB (4 MiB).
    * ``KVMCLOUD_AGENT_CERT_DIR``: the direct-download certificate store, absolute: one
      PEM file per alias (``<alias>.pem``) that HTTPS downloads trust besides the system
      CAs, read afresh for every transfer; a missing directory means none
      (/etc/kvmcloud-agent/certs).
    * ``KVMCLOUD_AGENT_LOG_LEVEL``: DEBUG, INFO, WARNING or ERROR (INFO).
    * ``KVMCLOUD_AGENT_LIBVIRT_URI``: the libvirt connection VMs run on (qemu:///system).
    * ``KVMCLOUD_AGENT_NFS_MODE``: how NetworkFilesystem pools are reached: ``auto``
      (mount when the kernel NFS client and mount.nfs are there, else user space),
      ``mount`` or ``userspace`` (auto).
    * ``KVMCLOUD_AGENT_NFS_MOUNT_BASE``: where mount mode mounts each pool, as
      ``<base>/<pool uuid>``; absolute (/mnt, as CloudStack).
    * ``KVMCLOUD_AGENT_NFS_PROBE_TIMEOUT_S``: how long one probe of a mounted pool may
      take before the pool counts as unavailable, 1 to 300 (10).
    * ``KVMCLOUD_AGENT_POOL_CHECK_INTERVAL_S``: how often the agent checks its pools and
      reports them to the server, which marks a failing pool Down, 1 to 3600 (60).
    * ``KVMCLOUD_AGENT_CONSOLE_DIR``: where each VM's serial console is written, as
      ``<dir>/<domain name>.log``; absolute, created when the first VM starts
      (/var/log/kvmcloud-agent/consoles).
    """

    listen_host: str = DEFAULT_LISTEN_HOST
    listen_port: int = DEFAULT_LISTEN_PORT
    state_dir: Path = DEFAULT_STATE_DIR
    enroll_token_ttl_s: int = DEFAULT_ENROLL_TOKEN_TTL_S
    buffer_size_bytes: int = DEFAULT_BUFFER_SIZE_BYTES
    log_level: str = "INFO"
    libvirt_uri: str = DEFAULT_LIBVIRT_URI
    console_dir: Path = DEFAULT_CONSOLE_DIR
    cert_dir: Path = DEFAULT_CERT_DIR
    nfs_mode: NfsMode = NfsMode.AUTO
    nfs_mount_base: Path = DEFAULT_MOUNT_BASE
    nfs_probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_S
    pool_check_interval_s: float = DEFAULT_POOL_CHECK_INTERVAL_S

    def __repr__(self) -> str:
        return (
            f"AgentSettings(listen_host={self.listen_host!r}, listen_port={self.listen_port}, "
            f"state_dir={str(self.state_dir)!r}, enroll_token_ttl_s={self.enroll_token_ttl_s}, "
            f"buffer_size_bytes={self.buffer_size_bytes}, log_level={self.log_level!r}, "
            f"libvirt_uri={self.libvirt_uri!r}, console_dir={str(self.console_dir)!r}, "
            f"cert_dir={str(self.cert_dir)!r}, nfs_mode={self.nfs_mode.value!r}, "
            f"nfs_mount_base={str(self.nfs_mount_base)!r}, "
            f"nfs_probe_timeout_s={self.nfs_probe_timeout_s:g}, "
            f"pool_check_interval_s={self.pool_check_interval_s:g})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "AgentSettings":
        """Read ``KVMCLOUD_AGENT_*`` variables; unset ones take their defaults.

        Raises:
            SettingsError: a variable is invalid; the error names it.
        """

        def get(name: str) -> str | None:
            value = environ.get(PREFIX + name)
            return value.strip() if value is not None and value.strip() else None

        listen_host = get("LISTEN_HOST") or DEFAULT_LISTEN_HOST
        state_dir = Path(get("STATE_DIR") or DEFAULT_STATE_DIR)
        if not state_dir.is_absolute():
            raise SettingsError(
                PREFIX + "STATE_DIR", f"must be an absolute path, not {str(state_dir)!r}"
            )
        console_dir = Path(get("CONSOLE_DIR") or DEFAULT_CONSOLE_DIR)
        if not console_dir.is_absolute():
            raise SettingsError(
                PREFIX + "CONSOLE_DIR", f"must be an absolute path, not {str(console_dir)!r}"
            )
        cert_dir = Path(get("CERT_DIR") or DEFAULT_CERT_DIR)
        if not cert_dir.is_absolute():
            raise SettingsError(
                PREFIX + "CERT_DIR", f"must be an absolute path, not {str(cert_dir)!r}"
            )
        libvirt_uri = get("LIBVIRT_URI") or DEFAULT_LIBVIRT_URI
        if not _LIBVIRT_URI.fullmatch(libvirt_uri):
            raise SettingsError(
                PREFIX + "LIBVIRT_URI",
                f"must be a libvirt URI such as {DEFAULT_LIBVIRT_URI}, not {libvirt_uri!r}",
            )
        nfs_mode_text = (get("NFS_MODE") or NfsMode.AUTO.value).lower()
        try:
            nfs_mode = NfsMode(nfs_mode_text)
        except ValueError:
            raise SettingsError(
                PREFIX + "NFS_MODE", f"must be auto, mount or userspace, not {nfs_mode_text!r}"
            ) from None
        nfs_mount_base = Path(get("NFS_MOUNT_BASE") or DEFAULT_MOUNT_BASE)
        if not nfs_mount_base.is_absolute():
            raise SettingsError(
                PREFIX + "NFS_MOUNT_BASE",
                f"must be an absolute path, not {str(nfs_mount_base)!r}",
            )
        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise SettingsError(PREFIX + "LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}")
        return cls(
            listen_host=listen_host,
            listen_port=_int_in_range(
                PREFIX + "LISTEN_PORT", get("LISTEN_PORT"), DEFAULT_LISTEN_PORT, 1, 65535
            ),
            state_dir=state_dir,
            enroll_token_ttl_s=_int_in_range(
                PREFIX + "ENROLL_TOKEN_TTL_S",
                get("ENROLL_TOKEN_TTL_S"),
                DEFAULT_ENROLL_TOKEN_TTL_S,
                60,
                MAX_ENROLL_TOKEN_TTL_S,
            ),
            buffer_size_bytes=_int_in_range(
                PREFIX + "BUFFER_SIZE_BYTES",
                get("BUFFER_SIZE_BYTES"),
                DEFAULT_BUFFER_SIZE_BYTES,
                MIN_BUFFER_SIZE_BYTES,
                MAX_BUFFER_SIZE_BYTES,
            ),
            log_level=log_level,
            libvirt_uri=libvirt_uri,
            console_dir=console_dir,
            cert_dir=cert_dir,
            pool_check_interval_s=float(
                _int_in_range(
                    PREFIX + "POOL_CHECK_INTERVAL_S",
                    get("POOL_CHECK_INTERVAL_S"),
                    int(DEFAULT_POOL_CHECK_INTERVAL_S),
                    1,
                    3600,
                )
            ),
            nfs_mode=nfs_mode,
            nfs_mount_base=nfs_mount_base,
            nfs_probe_timeout_s=float(
                _int_in_range(
                    PREFIX + "NFS_PROBE_TIMEOUT_S",
                    get("NFS_PROBE_TIMEOUT_S"),
                    int(DEFAULT_PROBE_TIMEOUT_S),
                    1,
                    300,
                )
            ),
        )

    @property
    def log_level_number(self) -> int:
        """The log level as a :mod:`logging` constant."""
        return logging.getLevelNamesMapping()[self.log_level]


def _int_in_range(variable: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(variable, f"must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise SettingsError(variable, f"must be between {low} and {high}, not {value}")
    return value
