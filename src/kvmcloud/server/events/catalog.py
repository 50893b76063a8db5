"""Event types and resource types kvmcloud records, and listEvents' date parsing (pure)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kvmcloud.server.errors import InvalidParameterError, shown

# CloudStack's two input forms for listEvents' dates (ParamProcessWorker's date-only
# INPUT_FORMAT and "new" format), read here as UTC.
DATE_FORMAT = "%Y-%m-%d"
DATE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Longest reason kept per attempt: an agent's text can be long, the hosts must all fit.
MAX_REASON_CHARS = 1000


class EventType(StrEnum):
    """The event types kvmcloud records (CloudStack's EventTypes names); listEventTypes."""

    TEMPLATE_DIRECT_DOWNLOAD_FAILURE = "TEMPLATE.DIRECT.DOWNLOAD.FAILURE"
    ISO_DIRECT_DOWNLOAD_FAILURE = "ISO.DIRECT.DOWNLOAD.FAILURE"
    # kvmcloud: a download that was offered peer sources, and where its bytes came from.
    TEMPLATE_DIRECT_DOWNLOAD_SOURCES = "TEMPLATE.DIRECT.DOWNLOAD.SOURCES"
    ISO_DIRECT_DOWNLOAD_SOURCES = "ISO.DIRECT.DOWNLOAD.SOURCES"
    TEMPLATE_CREATE = "TEMPLATE.CREATE"
    ISO_CREATE = "ISO.CREATE"
    TEMPLATE_DELETE = "TEMPLATE.DELETE"
    ISO_DELETE = "ISO.DELETE"
    TEMPLATE_UPDATE = "TEMPLATE.UPDATE"
    ISO_UPDATE = "ISO.UPDATE"
    TEMPLATE_EXTRACT = "TEMPLATE.EXTRACT"
    ISO_EXTRACT = "ISO.EXTRACT"
    VM_CREATE = "VM.CREATE"
    VM_START = "VM.START"
    VM_STOP = "VM.STOP"
    VM_REBOOT = "VM.REBOOT"
    VM_DESTROY = "VM.DESTROY"
    ACCOUNT_DELETE = "ACCOUNT.DELETE"
    ACCOUNT_DISABLE = "ACCOUNT.DISABLE"
    USER_DISABLE = "USER.DISABLE"
    DOMAIN_DELETE = "DOMAIN.DELETE"
    DOMAIN_CREATE = "DOMAIN.CREATE"
    DOMAIN_UPDATE = "DOMAIN.UPDATE"
    ACCOUNT_CREATE = "ACCOUNT.CREATE"
    ACCOUNT_UPDATE = "ACCOUNT.UPDATE"
    ACCOUNT_ENABLE = "ACCOUNT.ENABLE"
    USER_CREATE = "USER.CREATE"
    USER_UPDATE = "USER.UPDATE"
    USER_ENABLE = "USER.ENABLE"
    USER_DELETE = "USER.DELETE"
    USER_LOGIN = "USER.LOGIN"
    USER_LOGOUT = "USER.LOGOUT"
    REGISTER_USER_KEY = "REGISTER.USER.KEY"
    ROLE_CREATE = "ROLE.CREATE"
    ROLE_UPDATE = "ROLE.UPDATE"
    ROLE_DELETE = "ROLE.DELETE"
    ROLE_PERMISSION_CREATE = "ROLE.PERMISSION.CREATE"
    ROLE_PERMISSION_UPDATE = "ROLE.PERMISSION.UPDATE"
    ROLE_PERMISSION_DELETE = "ROLE.PERMISSION.DELETE"
    SERVICE_OFFERING_CREATE = "SERVICE.OFFERING.CREATE"
    SERVICE_OFFERING_EDIT = "SERVICE.OFFERING.EDIT"
    SERVICE_OFFERING_DELETE = "SERVICE.OFFERING.DELETE"
    DISK_OFFERING_CREATE = "DISK.OFFERING.CREATE"
    DISK_OFFERING_EDIT = "DISK.OFFERING.EDIT"
    DISK_OFFERING_DELETE = "DISK.OFFERING.DELETE"
    NETWORK_CREATE = "NETWORK.CREATE"
    NETWORK_UPDATE = "NETWORK.UPDATE"
    NETWORK_DELETE = "NETWORK.DELETE"
    NETWORK_OFFERING_CREATE = "NETWORK.OFFERING.CREATE"
    NETWORK_OFFERING_EDIT = "NETWORK.OFFERING.EDIT"
    NETWORK_OFFERING_DELETE = "NETWORK.OFFERING.DELETE"
    ENABLE_PRIMARY_STORAGE = "ENABLE.PS"
    DISABLE_PRIMARY_STORAGE = "DISABLE.PS"
    MAINTENANCE_PREPARE_PRIMARY_STORAGE = "MAINT.PREPARE.PS"
    MAINTENANCE_CANCEL_PRIMARY_STORAGE = "MAINT.CANCEL.PS"


class ResourceType(StrEnum):
    """listEvents' resourcetype values for what kvmcloud's events are about."""

    TEMPLATE = "Template"
    ISO = "Iso"
    VIRTUAL_MACHINE = "VirtualMachine"
    ACCOUNT = "Account"
    USER = "User"
    DOMAIN = "Domain"
    ROLE = "Role"
    SERVICE_OFFERING = "ServiceOffering"
    DISK_OFFERING = "DiskOffering"
    NETWORK = "Network"
    NETWORK_OFFERING = "NetworkOffering"
    STORAGE_POOL = "StoragePool"


# What a job-backed event's description says the job was doing (CloudStack's wording:
# "Completed starting Vm", "Error while starting Vm").
ACTIONS = {
    EventType.VM_CREATE: "deploying VM",
    EventType.TEMPLATE_EXTRACT: "extracting template",
    EventType.ISO_EXTRACT: "extracting ISO",
    EventType.VM_START: "starting VM",
    EventType.VM_STOP: "stopping VM",
    EventType.VM_REBOOT: "rebooting VM",
    EventType.VM_DESTROY: "destroying VM",
    EventType.ACCOUNT_DELETE: "deleting account",
    EventType.ACCOUNT_DISABLE: "disabling account",
    EventType.USER_DISABLE: "disabling user",
    EventType.DOMAIN_DELETE: "deleting domain",
    EventType.NETWORK_UPDATE: "updating network",
    EventType.NETWORK_DELETE: "deleting network",
    EventType.MAINTENANCE_PREPARE_PRIMARY_STORAGE: "preparing storage pool for maintenance",
    EventType.MAINTENANCE_CANCEL_PRIMARY_STORAGE: "cancelling maintenance of storage pool",
}


@dataclass(frozen=True, slots=True)
class CommandEvent:
    """The event a synchronous command records when it succeeds, and what it was doing."""

    type: EventType
    resource_type: ResourceType
    action: str


# Synchronous commands that leave an event, as CloudStack's @ActionEvent annotations on
# them do (the asynchronous ones record theirs from their jobs). lockAccount has none in
# CloudStack either.
COMMAND_EVENTS: dict[str, CommandEvent] = {
    "createDomain": CommandEvent(EventType.DOMAIN_CREATE, ResourceType.DOMAIN, "creating domain"),
    "updateDomain": CommandEvent(EventType.DOMAIN_UPDATE, ResourceType.DOMAIN, "updating domain"),
    "createAccount": CommandEvent(
        EventType.ACCOUNT_CREATE, ResourceType.ACCOUNT, "creating account"
    ),
    "updateAccount": CommandEvent(
        EventType.ACCOUNT_UPDATE, ResourceType.ACCOUNT, "updating account"
    ),
    "enableAccount": CommandEvent(
        EventType.ACCOUNT_ENABLE, ResourceType.ACCOUNT, "enabling account"
    ),
    "createUser": CommandEvent(EventType.USER_CREATE, ResourceType.USER, "creating user"),
    "updateUser": CommandEvent(EventType.USER_UPDATE, ResourceType.USER, "updating user"),
    "enableUser": CommandEvent(EventType.USER_ENABLE, ResourceType.USER, "enabling user"),
    "deleteUser": CommandEvent(EventType.USER_DELETE, ResourceType.USER, "deleting user"),
    "registerUserKeys": CommandEvent(
        EventType.REGISTER_USER_KEY, ResourceType.USER, "registering API keys of user"
    ),
    "login": CommandEvent(EventType.USER_LOGIN, ResourceType.USER, "logging in user"),
    "logout": CommandEvent(EventType.USER_LOGOUT, ResourceType.USER, "logging out user"),
    "createRole": CommandEvent(EventType.ROLE_CREATE, ResourceType.ROLE, "creating role"),
    "updateRole": CommandEvent(EventType.ROLE_UPDATE, ResourceType.ROLE, "updating role"),
    "deleteRole": CommandEvent(EventType.ROLE_DELETE, ResourceType.ROLE, "deleting role"),
    "createRolePermission": CommandEvent(
        EventType.ROLE_PERMISSION_CREATE, ResourceType.ROLE, "creating role permission"
    ),
    "updateRolePermission": CommandEvent(
        EventType.ROLE_PERMISSION_UPDATE, ResourceType.ROLE, "updating role permission"
    ),
    "deleteRolePermission": CommandEvent(
        EventType.ROLE_PERMISSION_DELETE, ResourceType.ROLE, "deleting role permission"
    ),
    "updateTemplate": CommandEvent(
        EventType.TEMPLATE_UPDATE, ResourceType.TEMPLATE, "updating template"
    ),
    "updateIso": CommandEvent(EventType.ISO_UPDATE, ResourceType.ISO, "updating iso"),
    "createServiceOffering": CommandEvent(
        EventType.SERVICE_OFFERING_CREATE,
        ResourceType.SERVICE_OFFERING,
        "creating service offering",
    ),
    "updateServiceOffering": CommandEvent(
        EventType.SERVICE_OFFERING_EDIT, ResourceType.SERVICE_OFFERING, "updating service offering"
    ),
    "deleteServiceOffering": CommandEvent(
        EventType.SERVICE_OFFERING_DELETE,
        ResourceType.SERVICE_OFFERING,
        "deleting service offering",
    ),
    "createDiskOffering": CommandEvent(
        EventType.DISK_OFFERING_CREATE, ResourceType.DISK_OFFERING, "creating disk offering"
    ),
    "updateDiskOffering": CommandEvent(
        EventType.DISK_OFFERING_EDIT, ResourceType.DISK_OFFERING, "updating disk offering"
    ),
    "deleteDiskOffering": CommandEvent(
        EventType.DISK_OFFERING_DELETE, ResourceType.DISK_OFFERING, "deleting disk offering"
    ),
    "createNetwork": CommandEvent(
        EventType.NETWORK_CREATE, ResourceType.NETWORK, "creating network"
    ),
    "createNetworkOffering": CommandEvent(
        EventType.NETWORK_OFFERING_CREATE,
        ResourceType.NETWORK_OFFERING,
        "creating network offering",
    ),
    "updateNetworkOffering": CommandEvent(
        EventType.NETWORK_OFFERING_EDIT,
        ResourceType.NETWORK_OFFERING,
        "updating network offering",
    ),
    "deleteNetworkOffering": CommandEvent(
        EventType.NETWORK_OFFERING_DELETE,
        ResourceType.NETWORK_OFFERING,
        "deleting network offering",
    ),
}


def event_subject(item: Mapping[str, Any] | None, target_id: str | None) -> tuple[str | None, str]:
    """The resource uuid and the words naming it, from a command's answer or its ``id``.

    A role permission is about its role (``roleid``); a command that answers only
    ``success`` (deleteUser) is about the ``id`` it was given.
    """
    if item is None:
        return target_id, target_id or ""
    if "roleid" in item and "rule" in item:
        return item.get("roleid"), f"{item.get('rolename', '')} rule {item.get('rule')}".strip()
    name = item.get("name") or item.get("username") or ""
    uuid = item.get("id") or target_id
    return uuid, f"{name} ({uuid})" if name and uuid else name or uuid or ""


def command_event_description(event: CommandEvent, subject: str) -> str:
    """``Successfully completed creating account alice``: CloudStack's completed wording."""
    return f"Successfully completed {event.action} {_clip(subject)}"


def parse_resource_type(text: str) -> ResourceType:
    """Parse listEvents' resourcetype, without regard to case."""
    for member in ResourceType:
        if member.value.lower() == text.strip().lower():
            return member
    allowed = ", ".join(m.value for m in ResourceType)
    raise InvalidParameterError(
        "resourcetype",
        f"Invalid parameter resourcetype value={shown(text)}: must be one of {allowed}",
    )


def job_event_description(event_type: EventType, resource: str, error: str | None) -> str:
    """Describe a job's outcome: ``Completed starting VM x`` or ``Error while … x: why``."""
    action = ACTIONS.get(event_type, event_type.value)
    if error is None:
        return f"Completed {action} {resource}"
    return f"Error while {action} {resource}: {_clip(error)}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed try of a download: which host, and why it failed there."""

    host: str
    reason: str


def download_failure_event(is_iso: bool) -> tuple[EventType, ResourceType]:
    """Return the event type and resource type of a failed download of a template or ISO."""
    if is_iso:
        return EventType.ISO_DIRECT_DOWNLOAD_FAILURE, ResourceType.ISO
    return EventType.TEMPLATE_DIRECT_DOWNLOAD_FAILURE, ResourceType.TEMPLATE


def download_sources_event(is_iso: bool) -> tuple[EventType, ResourceType]:
    """Return the event type and resource type of a download's byte sources."""
    if is_iso:
        return EventType.ISO_DIRECT_DOWNLOAD_SOURCES, ResourceType.ISO
    return EventType.TEMPLATE_DIRECT_DOWNLOAD_SOURCES, ResourceType.TEMPLATE


@dataclass(frozen=True, slots=True)
class SourceUse:
    """One source a download tried: ``origin`` or ``peer <host>``, bytes, and how it went."""

    source: str
    bytes: int
    outcome: str


def download_sources_description(
    *, is_iso: bool, name: str, uuid: str, pool: str, host: str, sources: Sequence[SourceUse]
) -> str:
    """Describe where a finished download's bytes came from, source by source."""
    what = "ISO" if is_iso else "Template"
    used = "; ".join(f"{s.source}: {s.bytes} bytes ({s.outcome})" for s in sources) or "not said"
    return f"{what} {name} ({uuid}) was downloaded to pool {pool} by host {host}: {used}"


def create_event(is_iso: bool) -> tuple[EventType, ResourceType]:
    """Return the event type and resource type of registering a template or ISO."""
    if is_iso:
        return EventType.ISO_CREATE, ResourceType.ISO
    return EventType.TEMPLATE_CREATE, ResourceType.TEMPLATE


def delete_event(is_iso: bool) -> tuple[EventType, ResourceType]:
    """Return the event type and resource type of deleting a template or ISO."""
    if is_iso:
        return EventType.ISO_DELETE, ResourceType.ISO
    return EventType.TEMPLATE_DELETE, ResourceType.TEMPLATE


def download_failure_description(
    *, is_iso: bool, name: str, uuid: str, pool: str, attempts: Sequence[Attempt]
) -> str:
    """Describe a failed download: what, where, and every attempt as ``host X: reason``."""
    tried = "; ".join(f"host {a.host}: {_clip(a.reason)}" for a in attempts)
    count = len(attempts)
    return (
        f"{_not_downloaded(is_iso, name, uuid, pool)} after "
        f"{count} attempt{'' if count == 1 else 's'}: {tried}"
    )


def unattempted_download_description(
    *, is_iso: bool, name: str, uuid: str, pool: str, reason: str
) -> str:
    """Describe a download no host could even attempt, and why."""
    return f"{_not_downloaded(is_iso, name, uuid, pool)}: {_clip(reason)}"


def _not_downloaded(is_iso: bool, name: str, uuid: str, pool: str) -> str:
    what = "ISO" if is_iso else "Template"
    return f"{what} {name} ({uuid}) could not be downloaded to pool {pool}"


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def parse_start_date(text: str, name: str = "startdate") -> datetime:
    """Parse listEvents' startdate: the first moment it covers (UTC), inclusive."""
    moment, _whole_day = _parse(text, name)
    return moment


def parse_end_date(text: str, name: str = "enddate") -> datetime:
    """Parse listEvents' enddate: the first moment after it (UTC), exclusive.

    A date alone covers that whole day (CloudStack reads it as 23:59:59); a time covers
    that whole second, so events recorded with fractions of a second are not lost.
    """
    moment, whole_day = _parse(text, name)
    return moment + (timedelta(days=1) if whole_day else timedelta(seconds=1))


def _parse(text: str, name: str) -> tuple[datetime, bool]:
    value = text.strip()
    for form, whole_day in ((DATE_TIME_FORMAT, False), (DATE_FORMAT, True)):
        try:
            return datetime.strptime(value, form).replace(tzinfo=UTC), whole_day
        except ValueError:
            continue
    raise InvalidParameterError(
        name,
        f"Invalid parameter {name} value={shown(text)}: "
        "use yyyy-MM-dd or yyyy-MM-dd HH:mm:ss (UTC)",
    )
