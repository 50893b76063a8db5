"""Every global setting kvmcloud knows: name, category, type, default, description (pure)."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from kvmcloud.protocol.egress import EgressEntryError, parse_entries, split_entries

T = TypeVar("T")


class ConfigValueError(ValueError):
    """A value does not fit the setting's type or range."""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ConfigValueError("must be true or false")


def _parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ConfigValueError("must be an integer") from None
        if not low <= value <= high:
            raise ConfigValueError(f"must be between {low} and {high}")
        return value

    return parse


def _parse_float(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ConfigValueError("must be a number") from None
        if not low <= value <= high:
            raise ConfigValueError(f"must be between {low} and {high}")
        return value

    return parse


def _parse_egress_entries(text: str) -> tuple[str, ...]:
    entries = split_entries(text)
    try:
        parse_entries(entries)
    except EgressEntryError as exc:
        raise ConfigValueError(str(exc)) from None
    return tuple(entries)


class Scope(StrEnum):
    """Where a setting may take its own value (CloudStack's ConfigKey.Scope)."""

    GLOBAL = "Global"
    # A zone may override the global value (CloudStack keeps it in data_center_details).
    ZONE = "Zone"


@dataclass(frozen=True, slots=True)
class ConfigKey(Generic[T]):
    """One setting: how to parse its text and what it means."""

    name: str
    category: str
    type_name: str
    default: str
    description: str
    parse: Callable[[str], T]
    is_dynamic: bool = True
    scope: Scope = Scope.GLOBAL


CERTIFICATE_SYNC_INTERVAL_H = ConfigKey(
    "direct.download.certificate.background.task.interval",
    "Advanced",
    "Long",
    "0",
    "Hours between runs of the task that pushes direct-download certificates to hosts "
    "lacking them (or whose last push failed); 0 disables it; fractions are allowed",
    # CloudStack takes whole hours; a fraction (0.25 = 15 minutes) costs nothing to accept.
    _parse_float(0.0, 24.0 * 365),
    is_dynamic=True,
)
CONNECT_TIMEOUT_MS = ConfigKey(
    "direct.download.connect.timeout",
    "Advanced",
    "Integer",
    "5000",
    "Connection timeout (milliseconds) for direct downloads and URL checks",
    _parse_int(1, 3_600_000),
)
SOCKET_TIMEOUT_MS = ConfigKey(
    "direct.download.socket.timeout",
    "Advanced",
    "Integer",
    "5000",
    "Longest wait (milliseconds) for data on an open direct-download connection",
    _parse_int(1, 3_600_000),
)
CONNECTION_REQUEST_TIMEOUT_MS = ConfigKey(
    "direct.download.connection.request.timeout",
    "Hidden",
    "Integer",
    "5000",
    "Longest wait (milliseconds) for a source's response status and headers once connected",
    _parse_int(1, 3_600_000),
)
FOLLOW_REDIRECTS = ConfigKey(
    "store.download.follow.redirects",
    "Advanced",
    "Boolean",
    "false",
    "Follow HTTP redirects for template downloads and URL checks (never to another scheme)",
    _parse_bool,
)
DOWNLOAD_WAIT_S = ConfigKey(
    "primary.storage.download.wait",
    "Storage",
    "Integer",
    "10800",
    "Overall deadline (seconds) for one direct download of a template to a pool",
    _parse_int(1, 7 * 86400),
    is_dynamic=False,
)
PING_INTERVAL_S = ConfigKey(
    "ping.interval",
    "Advanced",
    "Integer",
    "60",
    "Seconds between agent heartbeats",
    _parse_int(1, 3600),
)
PING_TIMEOUT = ConfigKey(
    "ping.timeout",
    "Advanced",
    "Float",
    "2.5",
    "Multiplier of ping.interval after which a silent host is Disconnected; Down after "
    "three times that",
    _parse_float(1.0, 100.0),
)
DEFAULT_PAGE_SIZE = ConfigKey(
    "default.page.size",
    "Advanced",
    "Integer",
    "500",
    "Most items a list API returns per page",
    _parse_int(1, 100_000),
)


def _parse_instance_name(text: str) -> str:
    value = text.strip()
    if not value or not value.replace("-", "").isalnum() or len(value) > 32:
        raise ConfigValueError("must be 1 to 32 letters, digits or hyphens")
    return value


INSTANCE_NAME = ConfigKey(
    "instance.name",
    "Advanced",
    "String",
    "VM",
    "Suffix of internal VM names (i-<account>-<vm>-<instance.name>), the libvirt domain "
    "names; distinct per cloud when several clouds share hosts",
    _parse_instance_name,
    is_dynamic=False,
)

STORAGE_CLEANUP_ENABLED = ConfigKey(
    "storage.cleanup.enabled",
    "Advanced",
    "Boolean",
    "true",
    "Remove copies of deleted templates from primary storage pools once nothing uses them",
    _parse_bool,
)
STORAGE_CLEANUP_INTERVAL_S = ConfigKey(
    "storage.cleanup.interval",
    "Advanced",
    "Integer",
    "86400",
    "Seconds between runs of the primary storage cleanup task",
    _parse_int(10, 7 * 86400),
)

EXTRACT_URL_EXPIRATION_S = ConfigKey(
    "extract.url.expiration.interval",
    "Advanced",
    "Integer",
    "14400",
    "Seconds an extractTemplate/extractIso download URL served from a pool copy stays valid "
    "(CloudStack's extract URL lifetime)",
    _parse_int(60, 7 * 86400),
)
DISABLE_EXTRACTION = ConfigKey(
    "disable.extraction",
    "Advanced",
    "Boolean",
    "false",
    "Flag for disabling extraction of templates and ISOs (root admins may still extract)",
    _parse_bool,
)

DOWNLOAD_MAX_ATTEMPTS = ConfigKey(
    "direct.download.max.attempts",
    "Advanced",
    "Integer",
    "3",
    "Distinct hosts a direct download to a pool is tried on before it fails (CloudStack "
    "tries 3 and, by a bug, not distinct ones)",
    _parse_int(1, 32),
)

EGRESS_ALLOW = ConfigKey(
    "direct.download.egress.allow",
    "Advanced",
    "String",
    "",
    "Comma-separated address ranges (127.0.0.0/8, fd00::/8), host names (mirror.lan) and "
    "suffixes (.lan) hosts may download templates from even though the egress policy denies "
    "them by default (loopback, link-local, private, any-local, multicast, reserved)",
    _parse_egress_entries,
    scope=Scope.ZONE,
)
EGRESS_DENY = ConfigKey(
    "direct.download.egress.deny",
    "Advanced",
    "String",
    "",
    "Comma-separated address ranges, host names and suffixes hosts must never download "
    "templates from; a deny entry wins over an allow entry",
    _parse_egress_entries,
    scope=Scope.ZONE,
)
# Clients that cannot send directdownload (Ansible's cs_template, Terraform, libcloud's
# ex_register_iso) could not register anything otherwise: kvmcloud has no secondary storage.
REGISTER_DIRECT_DOWNLOAD_DEFAULT = ConfigKey(
    "kvmcloud.register.direct.download.default",
    "Advanced",
    "Boolean",
    "true",
    "A KVM registerTemplate or registerIso without directdownload registers a direct "
    "download (true), or is refused asking for directdownload=true (false); "
    "directdownload=false is always refused",
    _parse_bool,
    scope=Scope.ZONE,
)

# Peer sources (docs/direct-download.md, "Peer sources"): hosts of a zone share verified copies.
PEERS_ENABLED = ConfigKey(
    "kvmcloud.direct.download.peers.enabled",
    "Advanced",
    "Boolean",
    "true",
    "kvmcloud: a direct download may take its bytes from Up hosts of the zone that hold a "
    "verified copy of the template (then from the origin if they fail); false: from the "
    "origin only",
    _parse_bool,
    scope=Scope.ZONE,
)
PEERS_MAX_SOURCES = ConfigKey(
    "kvmcloud.direct.download.peers.max.sources",
    "Advanced",
    "Integer",
    "3",
    "kvmcloud: how many peer hosts one direct download may try before the origin (0 turns "
    "peers off)",
    _parse_int(0, 16),
    scope=Scope.ZONE,
)
PEER_MAX_RATE = ConfigKey(
    "kvmcloud.direct.download.peer.max.rate",
    "Advanced",
    "Integer",
    "0",
    "kvmcloud: the most a host serves one peer download, in MB/s (10^6 bytes per second); "
    "0 for no cap",
    _parse_int(0, 100_000),
    scope=Scope.ZONE,
)
PEER_MAX_UPLOADS = ConfigKey(
    "kvmcloud.direct.download.peer.max.uploads",
    "Advanced",
    "Integer",
    "2",
    "kvmcloud: how many peer downloads one host serves at once; more are refused and try "
    "their next source",
    _parse_int(1, 64),
    scope=Scope.ZONE,
)
PEERS_MAX_WAIT = ConfigKey(
    "kvmcloud.direct.download.peers.max.wait",
    "Advanced",
    "Integer",
    "600",
    "kvmcloud: the longest a direct download waits, in seconds, for another host of the zone "
    "that is downloading the same template (then it takes its bytes from that host; after "
    "the wait, or if that download fails, from the origin); 0 never waits",
    _parse_int(0, 86_400),
    scope=Scope.ZONE,
)

SESSION_TIMEOUT_S = ConfigKey(
    "session.timeout",
    "Advanced",
    "Integer",
    "1800",
    "Seconds a login session may stay unused before it ends (the idle timeout)",
    _parse_int(60, 7 * 86400),
)
SESSION_ABSOLUTE_TIMEOUT_S = ConfigKey(
    "session.absolute.timeout",
    "Advanced",
    "Integer",
    "28800",
    "Seconds after login a session ends however busy it is (kvmcloud's own setting)",
    _parse_int(60, 30 * 86400),
)
LOGIN_FAILURES_PER_USER = ConfigKey(
    "login.failures.user.max",
    "Advanced",
    "Integer",
    "5",
    "Failed logins a user name may have within login.failures.window before its logins "
    "are refused until the oldest failure ages out",
    _parse_int(1, 1000),
)
LOGIN_FAILURES_PER_ADDRESS = ConfigKey(
    "login.failures.address.max",
    "Advanced",
    "Integer",
    "20",
    "Failed logins a source address may have within login.failures.window before its "
    "logins are refused until the oldest failure ages out",
    _parse_int(1, 100_000),
)
LOGIN_FAILURES_WINDOW_S = ConfigKey(
    "login.failures.window",
    "Advanced",
    "Integer",
    "300",
    "Seconds a failed login counts against its user name and source address",
    _parse_int(1, 86400),
)

DEFINITIONS: tuple[ConfigKey[Any], ...] = (
    CERTIFICATE_SYNC_INTERVAL_H,
    CONNECT_TIMEOUT_MS,
    SOCKET_TIMEOUT_MS,
    CONNECTION_REQUEST_TIMEOUT_MS,
    FOLLOW_REDIRECTS,
    DOWNLOAD_WAIT_S,
    PING_INTERVAL_S,
    PING_TIMEOUT,
    DEFAULT_PAGE_SIZE,
    INSTANCE_NAME,
    STORAGE_CLEANUP_ENABLED,
    STORAGE_CLEANUP_INTERVAL_S,
    EXTRACT_URL_EXPIRATION_S,
    DISABLE_EXTRACTION,
    DOWNLOAD_MAX_ATTEMPTS,
    EGRESS_ALLOW,
    EGRESS_DENY,
    REGISTER_DIRECT_DOWNLOAD_DEFAULT,
    PEERS_ENABLED,
    PEERS_MAX_SOURCES,
    PEER_MAX_RATE,
    PEER_MAX_UPLOADS,
    PEERS_MAX_WAIT,
    SESSION_TIMEOUT_S,
    SESSION_ABSOLUTE_TIMEOUT_S,
    LOGIN_FAILURES_PER_USER,
    LOGIN_FAILURES_PER_ADDRESS,
    LOGIN_FAILURES_WINDOW_S,
)
BY_NAME: dict[str, ConfigKey[Any]] = {key.name: key for key in DEFINITIONS}
