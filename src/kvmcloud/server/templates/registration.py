"""Registering templates and ISOs: the URL check from an Up host, then the rows and the event."""

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.checksums import Checksum
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import owner_for
from kvmcloud.server.agent_client import AgentClient, AgentEndpoint, error_from_answer
from kvmcloud.server.configuration import definitions as config
from kvmcloud.server.configuration.service import (
    egress_policy,
    egress_rules,
    get_value,
    get_zone_value,
)
from kvmcloud.server.db import Database, new_uuid
from kvmcloud.server.errors import InvalidParameterError, ResourceUnavailableError
from kvmcloud.server.events import catalog
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_event
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.infrastructure.service import endpoint_for, up_hosts_in_zone
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.sealing.box import SecretBox, header_context
from kvmcloud.server.templates.copies import download_timeouts
from kvmcloud.server.templates.details import METALINK_DETAIL, header_detail_name, parse_details
from kvmcloud.server.templates.guest_os import resolve_guest_os
from kvmcloud.server.templates.listing import zone_records
from kvmcloud.server.templates.models import (
    DownloadState,
    ImageFormat,
    RefState,
    Template,
    TemplateDetail,
    TemplateStoreRef,
    TemplateZoneRef,
)
from kvmcloud.server.templates.records import Registration
from kvmcloud.server.templates.urls import check_egress, is_metalink

URL_CHECK_TIMEOUT_MARGIN_S = 30.0
NO_SECONDARY_STORAGE = (
    "kvmcloud has no secondary storage: register with directdownload=true so hosts "
    "download the image straight to primary storage"
)
METALINK_CHECK_ROUNDS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRequest:
    """A registerTemplate/registerIso request whose parameters were checked one by one."""

    name: str
    display_text: str
    # A presigned URL's query is a credential, and header values may be tokens: neither
    # belongs in a repr that could reach a log.
    url: str = field(repr=False)
    format: ImageFormat
    checksum: Checksum | None
    zone_id: str | None
    zone_ids: Sequence[str] = ()
    os_type_id: str | None = None
    # details[0].*: HTTP_HEADER:<Name> entries become download request headers.
    details: Mapping[str, str] = field(default_factory=dict, repr=False)
    public: bool = False
    featured: bool = False
    extractable: bool = False
    bootable: bool = True
    requires_hvm: bool = True
    password_enabled: bool = False
    sshkey_enabled: bool = False
    dynamically_scalable: bool = False
    bits: int = 64
    template_tag: str | None = None
    template_type: str = "USER"
    # ``account`` and ``domainid``: register for that account (admins over its domain).
    account_name: str | None = None
    domain_uuid: str | None = None
    # ``directdownload`` as given: None when the client did not send it.
    direct_download: bool | None = None


@dataclass(frozen=True, slots=True)
class UrlCheckPlan:
    """The host chosen to check a URL, the command to send it and how long to wait."""

    endpoint: AgentEndpoint
    command: msg.CheckUrlCommand
    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    """What a request's names and ids resolved to, and the URL check to run."""

    zone_ids: Sequence[int]
    guest_os_id: int
    owner_account_id: int
    headers: Mapping[str, str]
    other_details: Mapping[str, str]
    check: UrlCheckPlan


def register_template(
    db: Database,
    agents: AgentClient,
    request: TemplateRequest,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    rng: random.Random,
    command: str,
    box: SecretBox,
) -> Registration:
    """Check the URL from an Up host, then record the template and TEMPLATE/ISO.CREATE.

    ``featured`` is for admins: CloudStack ignores it for other callers, and so does this.
    HTTP_HEADER values go to the checking host in clear and are stored sealed by ``box``.
    """
    if request.featured and not caller.is_admin:
        request = replace(request, featured=False)
    headers, others = parse_details(request.details)
    is_iso = request.format == ImageFormat.ISO
    with db.transaction() as session:
        owner = owner_for(
            session,
            caller,
            account_name=request.account_name,
            domain_uuid=request.domain_uuid,
            command=command,
            what="ISO to register" if is_iso else "template to register",
        )
        zones = _zones(session, request, command)
        if request.direct_download is None:
            _check_direct_download_default(session, zones)
        # Every zone will download it: refuse what any of their policies refuses, now.
        for zone in zones:
            check_egress(request.url, egress_policy(session, zone.id), zone.name)
        resolved = _Resolved(
            zone_ids=[z.id for z in zones],
            guest_os_id=resolve_guest_os(session, request.os_type_id, command),
            owner_account_id=owner.id if owner is not None else caller.account_id,
            headers=headers,
            other_details=others,
            check=plan_url_check(session, request.url, request.format, headers, zones, rng),
        )
    # The URL is checked from a host, as the hosts are what will download it; no
    # transaction is open while the agent works.
    check = resolved.check
    answer = agents.call(check.endpoint, check.command, timeout_s=check.timeout_s)
    if not answer.ok or not isinstance(answer.result, msg.CheckUrlResult):
        raise error_from_answer(
            answer,
            f"URL {redact_url(request.url)} failed the check on host {check.endpoint.name}",
            url=request.url,
        )
    with db.transaction() as session:
        template = _record_template(session, request, resolved, answer.result, clock(), box)
        _record_create_event(session, template, caller, clock())
        return Registration(zone_records(session, template), answer.result.mirrors)


def _check_direct_download_default(session: Session, zones: Sequence[Zone]) -> None:
    """Refuse a registration without ``directdownload`` where a zone wants the flag said."""
    for zone in zones:
        if not get_zone_value(session, config.REGISTER_DIRECT_DOWNLOAD_DEFAULT, zone.id):
            raise InvalidParameterError(
                "directdownload",
                f"{NO_SECONDARY_STORAGE} ({config.REGISTER_DIRECT_DOWNLOAD_DEFAULT.name} is false "
                f"in zone {zone.name})",
            )


def _zones(session: Session, request: TemplateRequest, command: str) -> list[Zone]:
    if request.zone_id and request.zone_ids:
        raise InvalidParameterError("zoneids", "Give either zoneid or zoneids, not both")
    wanted = [request.zone_id] if request.zone_id else list(request.zone_ids)
    if not wanted:
        raise InvalidParameterError("zoneid", "Either zoneid or zoneids is required")
    if "-1" in wanted:
        raise InvalidParameterError(
            "zoneid", "Cross-zone registration (zoneid=-1) is not supported yet"
        )
    return [get_by_uuid(session, Zone, z, command=command, param="zoneid") for z in wanted]


def plan_url_check(
    session: Session,
    url: str,
    image_format: ImageFormat,
    headers: Mapping[str, str],
    zones: Sequence[Zone],
    rng: random.Random,
) -> UrlCheckPlan:
    """Pick a random Up KVM host in the first zone that has one, as CloudStack does."""
    for zone in zones:
        hosts = up_hosts_in_zone(session, zone.id)
        if hosts:
            host = rng.choice(hosts)
            timeouts = download_timeouts(session)
            command = msg.CheckUrlCommand(
                url=url,
                format=image_format.value,
                headers=dict(headers),
                timeouts=timeouts,
                follow_redirects=get_value(session, config.FOLLOW_REDIRECTS),
                # The policy of the zone whose host checks the URL.
                egress=egress_rules(session, zone.id),
            )
            one_check_s = timeouts.connect_s + timeouts.request_s + timeouts.read_s * 4
            # A Metalink's check probes every mirror in turn: allow for several.
            rounds = METALINK_CHECK_ROUNDS if is_metalink(url) else 1
            timeout_s = one_check_s * rounds + URL_CHECK_TIMEOUT_MARGIN_S
            return UrlCheckPlan(endpoint_for(host), command, timeout_s)
    names = ", ".join(z.name for z in zones)
    raise ResourceUnavailableError(
        f"Couldn't find an Up KVM host in zone {names} to validate the URL; add a host or wait "
        "until one is Up"
    )


def _record_template(
    session: Session,
    request: TemplateRequest,
    resolved: _Resolved,
    check: msg.CheckUrlResult,
    now: datetime,
    box: SecretBox,
) -> Template:
    """Write the template, its details, zone refs and the BYPASSED store ref."""
    template = Template(
        unique_name=new_uuid(),
        name=request.name,
        display_text=request.display_text,
        format=request.format,
        type=request.template_type,
        hypervisor_type="KVM",
        url=request.url,
        checksum=str(request.checksum) if request.checksum else None,
        direct_download=True,
        public=request.public,
        featured=request.featured,
        extractable=request.extractable,
        bootable=request.bootable,
        requires_hvm=request.requires_hvm,
        enable_password=request.password_enabled,
        sshkey_enabled=request.sshkey_enabled,
        dynamically_scalable=request.dynamically_scalable,
        bits=request.bits,
        template_tag=request.template_tag,
        guest_os_id=resolved.guest_os_id,
        account_id=resolved.owner_account_id,
        size=check.virtual_size_bytes,
        physical_size=check.physical_size_bytes,
        created=now,
    )
    session.add(template)
    session.flush()
    for name, value in resolved.headers.items():
        detail_name = header_detail_name(name)
        sealed = box.seal(value, header_context(template.uuid, detail_name))
        session.add(TemplateDetail(template_id=template.id, name=detail_name, value=sealed))
    for name, value in resolved.other_details.items():
        session.add(TemplateDetail(template_id=template.id, name=name, value=value))
    if check.metalink:
        # Found by the URL check (a Metalink media type): downloads must parse the document.
        session.add(
            TemplateDetail(
                template_id=template.id, name=METALINK_DETAIL, value="true", display=False
            )
        )
    for zone_id in resolved.zone_ids:
        session.add(TemplateZoneRef(template_id=template.id, zone_id=zone_id, created=now))
    # The direct-download marker CloudStack writes instead of a secondary-storage copy.
    session.add(
        TemplateStoreRef(
            store_id=None,
            template_id=template.id,
            store_role="Image",
            download_state=DownloadState.BYPASSED,
            state=RefState.READY,
            size=check.virtual_size_bytes or 0,
            physical_size=check.physical_size_bytes or 0,
            download_pct=0,
            url=request.url,
            created=now,
            last_updated=now,
        )
    )
    session.flush()
    return template


def _record_create_event(
    session: Session, template: Template, caller: Caller, now: datetime
) -> None:
    """Record TEMPLATE.CREATE or ISO.CREATE for the owner, with the registration itself."""
    is_iso = template.format == ImageFormat.ISO
    event_type, resource_type = catalog.create_event(is_iso)
    record_event(
        session,
        type=event_type,
        level=EventLevel.INFO,
        # Not the URL: a presigned query string is a credential.
        description=f"{'ISO' if is_iso else 'Template'} {template.name} ({template.uuid}) "
        "registered for direct download",
        account_id=template.account_id,
        user_id=caller.user_id,
        resource_type=resource_type,
        resource_uuid=template.uuid,
        now=now,
    )
