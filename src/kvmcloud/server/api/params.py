"""CloudStack query conventions: lower-cased names, true/false, uuids, maps, lists (pure).

Each command declares its parameters as a frozen dataclass. The CloudStack name of a field
is derived by rule (``zone_id`` → ``zoneid``) unless ``param(name=…)`` overrides it; a field
without a default is required. The same declaration drives parsing and ``listApis``.

Every type has a range, as in CloudStack: ``int`` is Java's int, ``Long`` Java's long, and
``param(minimum=…, maximum=…)`` narrows either; a uuid has exactly the 8-4-4-4-12 form.
"""

import dataclasses
import re
import types
import typing
import uuid as uuid_module
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NewType, TypeVar, Union

from kvmcloud.protocol.checksums import Checksum, ChecksumFormatError
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.errors import (
    InvalidParameterError,
    NotFoundError,
    RequestTooLargeError,
    shown,
)

Uuid = NewType("Uuid", str)
# CloudStack's Long parameters; plain ``int`` is its Integer (CommandType.INTEGER).
Long = NewType("Long", int)
T = TypeVar("T")

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
# The most GiB a size parameter may give: the size in bytes still fits a long (and a column).
MAX_GIB = LONG_MAX // 2**30
# What a Python client sends for None; a boolean parameter reads it as false.
PYTHON_NONE = "None"
# Bounds on the raw request, checked before authentication: the most parameters, and the
# longest name and value, a legitimate request has (userdata is the longest value, 1 MiB).
MAX_PARAMS = 1024
MAX_NAME_CHARS = 256
MAX_VALUE_CHARS = 1_048_576

_MAP_KEY = re.compile(r"([A-Za-z0-9_]+)\[([0-9]{1,9})\]\.(.+)", re.S)
_MAX_MAP_GROUPS = 256
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# Java's Integer/Long.parseLong: an optional sign and ASCII digits, nothing else.
_INTEGER = re.compile(r"[+-]?[0-9]{1,40}")


class Entity(StrEnum):
    """What a uuid parameter names (CloudStack's ``entityType``): an id naming none is a 431."""

    ZONE = "zone"
    POD = "pod"
    CLUSTER = "cluster"
    HOST = "host"
    STORAGE_POOL = "storagepool"
    TEMPLATE = "template"
    OS_TYPE = "ostype"
    OS_CATEGORY = "oscategory"
    VIRTUAL_MACHINE = "virtualmachine"
    VOLUME = "volume"
    SERVICE_OFFERING = "serviceoffering"
    DISK_OFFERING = "diskoffering"
    EVENT = "event"
    DOMAIN = "domain"
    ACCOUNT = "account"
    USER = "user"
    MANAGEMENT_SERVER = "managementserver"
    CERTIFICATE = "directdownloadcertificate"
    ROLE = "role"
    ROLE_PERMISSION = "rolepermission"
    # CloudStack objects kvmcloud does not have (server/absent/): no id names one.
    IP_ADDRESS = "ipaddress"
    FIREWALL_RULE = "firewallrule"
    LOAD_BALANCER_RULE = "loadbalancerrule"
    ROUTER = "domainrouter"
    SYSTEM_VM = "systemvm"
    SNAPSHOT = "snapshot"
    VLAN_IP_RANGE = "vlaniprange"
    VPC = "vpc"
    PROJECT = "project"
    NETWORK_OFFERING = "networkoffering"
    NETWORK = "network"
    PHYSICAL_NETWORK = "physicalnetwork"
    NIC = "nic"


class ParamType(StrEnum):
    """Parameter types as listApis reports them."""

    STRING = "string"
    UUID = "uuid"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    LONG = "long"
    MAP = "map"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of one command, as parsed and as described by listApis."""

    field: str
    name: str
    type: ParamType
    required: bool
    description: str
    length: int
    minimum: int | None = None
    maximum: int | None = None
    entity: Entity | None = None
    # An empty value is a value (it clears tags), not an absent parameter.
    keep_empty: bool = False


def param(
    description: str,
    *,
    name: str | None = None,
    length: int = 255,
    minimum: int | None = None,
    maximum: int | None = None,
    entity: Entity | None = None,
    keep_empty: bool = False,
    default: Any = dataclasses.MISSING,
) -> Any:
    """Declare a parameter field: description, CloudStack name, max length, number range.

    ``entity`` says what a uuid (or list of uuids) names; ids that name nothing are refused
    with CloudStack's 431 before the handler runs, as CloudStack resolves them.
    ``keep_empty`` passes an empty value on as ``""`` instead of dropping it: CloudStack
    clears tags given as ``hosttags=`` (its other optional parameters ignore empty values).
    """
    metadata = {
        "description": description,
        "name": name,
        "length": length,
        "minimum": minimum,
        "maximum": maximum,
        "entity": entity,
        "keep_empty": keep_empty,
    }
    return dataclasses.field(default=default, metadata=metadata)


def cloudstack_name(field_name: str) -> str:
    """Derive the CloudStack parameter name: drop underscores (``os_type_id`` → ``ostypeid``)."""
    return field_name.replace("_", "")


def describe(cls: type[Any]) -> list[ParamSpec]:
    """List the parameters a params dataclass declares."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        base = _strip_optional(hints[f.name])
        specs.append(
            ParamSpec(
                field=f.name,
                name=f.metadata.get("name") or cloudstack_name(f.name),
                type=_param_type(base),
                required=f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING,
                description=f.metadata.get("description", ""),
                length=f.metadata.get("length", 255),
                minimum=f.metadata.get("minimum"),
                maximum=f.metadata.get("maximum"),
                entity=f.metadata.get("entity"),
                keep_empty=f.metadata.get("keep_empty", False),
            )
        )
    return specs


def check_bounds(params: Mapping[str, str]) -> None:
    """Refuse a request with too many parameters, or a name or value too long to be real.

    Only sizes are looked at: this runs before authentication, which needs every parameter.
    """
    if len(params) > MAX_PARAMS:
        raise RequestTooLargeError(f"The request has more than {MAX_PARAMS} parameters")
    for name, value in params.items():
        if len(name) > MAX_NAME_CHARS:
            shown_name = shown(name, 40)
            raise InvalidParameterError(
                shown_name, f"Invalid parameter name {shown_name}: longer than {MAX_NAME_CHARS}"
            )
        if len(value) > MAX_VALUE_CHARS:
            # Not quoted: before authentication any parameter may be a password.
            raise InvalidParameterError(
                name, f"Invalid parameter {shown(name)}: longer than {MAX_VALUE_CHARS} characters"
            )


class RawParams:
    """Request parameters split into plain values (by lower-cased name) and map groups."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self.values: dict[str, str] = {}
        self.maps: dict[str, dict[int, dict[str, str]]] = {}
        for name, value in params.items():
            match = _MAP_KEY.fullmatch(name)
            if match is None:
                self.values[name.lower()] = value
                continue
            prefix, index, key = match.group(1).lower(), int(match.group(2)), match.group(3)
            groups = self.maps.setdefault(prefix, {})
            if index not in groups and len(groups) >= _MAX_MAP_GROUPS:
                raise InvalidParameterError(prefix, f"Too many groups in map parameter {prefix}")
            # Keys inside a map keep their case: HTTP_HEADER:X-Auth-Token names a header.
            groups.setdefault(index, {})[key] = value


def parse_params(cls: type[T], command: str, raw: RawParams) -> T:
    """Build ``cls`` from the request, raising InvalidParameterError naming the bad parameter."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for spec in describe(cls):
        base = _strip_optional(hints[spec.field])
        if spec.type is ParamType.MAP:
            groups = raw.maps.get(spec.name, {})
            if groups:
                # CloudStack reads only the first group of a map (details[0].*).
                kwargs[spec.field] = dict(groups[min(groups)])
            elif spec.required:
                raise _missing(command, spec.name)
            continue
        text = raw.values.get(spec.name)
        if text is None or (text == "" and not spec.required and not spec.keep_empty):
            if spec.required:
                raise _missing(command, spec.name)
            continue
        kwargs[spec.field] = _convert(base, text, command, spec)
    return cls(**kwargs)


def entity_ids(specs: list[ParamSpec], parsed: object) -> Iterator[tuple[ParamSpec, list[str]]]:
    """Yield each given parameter that names an entity, with the uuids it gives."""
    for spec in specs:
        value = getattr(parsed, spec.field, None) if spec.entity is not None else None
        if value:
            yield spec, list(value) if isinstance(value, list) else [value]


def _missing(command: str, name: str) -> InvalidParameterError:
    return InvalidParameterError(
        name, f"Unable to execute API command {command.lower()} due to missing parameter {name}"
    )


def _invalid(name: str, value: str, why: str) -> InvalidParameterError:
    return InvalidParameterError(name, f"Invalid parameter {name} value={shown(value)}: {why}")


def _convert(tp: Any, text: str, command: str, spec: ParamSpec) -> Any:  # noqa: C901
    name = spec.name
    if tp is Uuid:
        return _parse_uuid(command, name, text)
    if tp is bool:
        # Python clients send str(None) for a parameter they leave unset (Apache Libcloud's
        # ex_delete_network: forced=None); CloudStack's Boolean.valueOf reads it as false.
        if text == PYTHON_NONE:
            return False
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise _invalid(name, text, "must be true or false")
        return lowered == "true"
    if tp is int or tp is Long:
        return _parse_number(tp, text, spec)
    if tp is Checksum:
        try:
            return Checksum.parse(text)
        except ChecksumFormatError as exc:
            raise _invalid(name, text, str(exc)) from None
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        for member in tp:
            if member.value.lower() == text.strip().lower():
                return member
        allowed = ", ".join(m.value for m in tp)
        raise _invalid(name, text, f"must be one of {allowed}")
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [_convert(item, p, command, spec) for p in parts]
    if tp is str:
        if len(text) > spec.length:
            raise _invalid(name, text[:40], f"is longer than {spec.length} characters")
        return text
    raise TypeError(f"unsupported parameter type {tp!r} for {name}")


def _parse_number(tp: Any, text: str, spec: ParamSpec) -> int:
    low, high = (LONG_MIN, LONG_MAX) if tp is Long else (INT_MIN, INT_MAX)
    low = low if spec.minimum is None else max(low, spec.minimum)
    high = high if spec.maximum is None else min(high, spec.maximum)
    kind = "a long" if tp is Long else "an integer"
    if _INTEGER.fullmatch(text) is None:
        raise _invalid(spec.name, text, f"must be {kind}")
    number = int(text)
    if not low <= number <= high:
        raise _invalid(spec.name, text, f"must be {kind} from {low} to {high}")
    return number


def _parse_uuid(command: str, name: str, text: str) -> Uuid:
    # Strictly 8-4-4-4-12 hex: no spaces, braces, urn: prefix or undashed form.
    if _UUID.fullmatch(text) is None:
        raise NotFoundError(command.lower(), name, text)
    return Uuid(str(uuid_module.UUID(text)))


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _param_type(tp: Any) -> ParamType:
    if tp is Uuid:
        return ParamType.UUID
    if tp is bool:
        return ParamType.BOOLEAN
    if tp is int:
        return ParamType.INTEGER
    if tp is Long:
        return ParamType.LONG
    origin = typing.get_origin(tp)
    if origin is dict:
        return ParamType.MAP
    if origin is list:
        return ParamType.LIST
    return ParamType.STRING


@dataclass(frozen=True, slots=True, kw_only=True)
class ListParams:
    """Parameters every list command takes."""

    keyword: str | None = param("List by keyword", default=None)
    page: int | None = param("The page to return (1-based)", minimum=1, default=None)
    page_size: int | None = param(
        "The number of items per page; -1 for all", minimum=-1, default=None
    )
    list_all: bool | None = param("List resources of every account (admins)", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainListParams(ListParams):
    """The domain filters of CloudStack's BaseListDomainResourcesCmd (listAccounts, …)."""

    domain_id: Uuid | None = param(
        "list only resources belonging to the domain specified",
        entity=Entity.DOMAIN,
        default=None,
    )
    is_recursive: bool | None = param(
        "defaults to false, but if true, lists all resources from the parent specified by "
        "the domainId till leaves.",
        default=None,
    )
    list_all: bool | None = param(
        "If set to false, list only resources belonging to the command's caller; if set to "
        "true - list resources that the caller is authorized to see. Default value is false",
        default=None,
    )

    def owner_filter(self, account_name: str | None = None) -> OwnerFilter:
        """The owner filters these parameters ask for."""
        return OwnerFilter(
            account_name=account_name,
            domain_uuid=self.domain_id,
            is_recursive=bool(self.is_recursive),
            list_all=bool(self.list_all),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerListParams(DomainListParams):
    """The owner filters of CloudStack's BaseListAccountResourcesCmd: domain, account."""

    account: str | None = param(
        "list resources by account. Must be used with the domainId parameter.",
        length=100,
        default=None,
    )

    def owner_filter(self, account_name: str | None = None) -> OwnerFilter:
        """The owner filters these parameters ask for, ``account`` included."""
        # Named, not super(): slotted dataclasses break the zero-argument form.
        return DomainListParams.owner_filter(self, account_name or self.account)
