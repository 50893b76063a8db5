"""Template and ISO commands (register, list, delete, prepareTemplate) and OS type listings."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.checksums import Checksum
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.agent_client import error_from_answer
from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, ListResult, format_date, without_none
from kvmcloud.server.errors import InvalidParameterError, NotFoundError, ResourceInUseError
from kvmcloud.server.events import catalog
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_event
from kvmcloud.server.infrastructure.models import StoragePool, Zone
from kvmcloud.server.jobs import queue
from kvmcloud.server.queries import get_by_uuid, list_window, paged
from kvmcloud.server.templates import service
from kvmcloud.server.templates.models import (
    GuestOs,
    GuestOsCategory,
    ImageFormat,
    Template,
    TemplatePoolRef,
    TemplateZoneRef,
)
from kvmcloud.server.templates.urls import is_metalink, validate_source_url

commands = CommandSet()
URL_CHECK_TIMEOUT_MARGIN_S = 30.0
METALINK_CHECK_ROUNDS = 8
BYPASSED_STATUS = "Bypassed Secondary Storage"
DELETE_TEMPLATE_JOB = "delete_template"
DELETE_TEMPLATE_CMD = "org.apache.cloudstack.api.command.user.template.DeleteTemplateCmd"
DELETE_ISO_CMD = "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd"


class TemplateFormat(StrEnum):
    """Formats registerTemplate accepts for KVM direct download."""

    QCOW2 = "QCOW2"
    RAW = "RAW"


class TemplateFilter(StrEnum):
    """listTemplates' templatefilter values."""

    FEATURED = "featured"
    SELF = "self"
    SELFEXECUTABLE = "selfexecutable"
    SHAREDEXECUTABLE = "sharedexecutable"
    EXECUTABLE = "executable"
    COMMUNITY = "community"
    ALL = "all"


# --- responses ------------------------------------------------------------------------------


def template_response(
    session: Session, template: Template, zone: Zone, *, show_private: bool = True
) -> dict[str, Any]:
    """Map a template (in one zone) to CloudStack's template/iso object."""
    account = session.get(Account, template.account_id)
    domain = session.get(Domain, account.domain_id) if account else None
    guest_os = session.get(GuestOs, template.guest_os_id)
    details = service.detail_rows(session, template.id)
    download_details = [
        {
            "datastore": pool.name,
            "datastoreid": pool.uuid,
            "downloadPercent": ref.download_pct,
            "downloadState": ref.download_state,
            "jobid": ref.job_id,
            "installpath": ref.install_path,
            "errortext": ref.error_str,
        }
        for ref, pool in service.pool_refs(session, template.id)
        if pool.data_center_id == zone.id
    ]
    checksum = Checksum.parse(template.checksum).hex_digest if template.checksum else None
    item = {
        "id": template.uuid,
        "name": template.name,
        "displaytext": template.display_text,
        "ispublic": template.public,
        "isfeatured": template.featured,
        "isready": True,
        "crossZones": template.cross_zones,
        "isextractable": template.extractable,
        "passwordenabled": template.enable_password,
        "sshkeyenabled": template.sshkey_enabled,
        "isdynamicallyscalable": template.dynamically_scalable,
        "requireshvm": template.requires_hvm,
        "directdownload": template.direct_download,
        "deployasis": False,
        "bootable": template.bootable,
        "format": template.format,
        "hypervisor": template.hypervisor_type,
        "ostypeid": guest_os.uuid if guest_os else None,
        "ostypename": guest_os.display_name if guest_os else None,
        "templatetype": template.type,
        "status": BYPASSED_STATUS if show_private else None,
        "url": template.url if show_private else None,
        "size": template.size if template.size else None,
        "physicalsize": template.physical_size if template.physical_size else None,
        "checksum": checksum,
        "zoneid": zone.uuid,
        "zonename": zone.name,
        "account": account.account_name if account else None,
        "accountid": account.uuid if account else None,
        "domain": domain.name if domain else None,
        "domainid": domain.uuid if domain else None,
        "domainpath": domain.path if domain else None,
        "created": format_date(template.created),
        "removed": format_date(template.removed),
        "details": service.redacted_details(details),
        "downloaddetails": [without_none(d) for d in download_details],
        "bits": template.bits,
        "templatetag": template.template_tag,
        "tags": [],
    }
    return without_none(item)


def template_response_for_ref(session: Session, ref_id: int) -> dict[str, Any]:
    """Map the template of a pool copy, in the pool's zone."""
    ref = session.get(TemplatePoolRef, ref_id)
    assert ref is not None
    template, pool = session.get(Template, ref.template_id), session.get(StoragePool, ref.pool_id)
    assert template is not None and pool is not None
    zone = session.get(Zone, pool.data_center_id)
    assert zone is not None
    return template_response(session, template, zone)


def _zone_responses(session: Session, template: Template, key: str) -> ListResult:
    refs = session.scalars(
        select(TemplateZoneRef)
        .where(TemplateZoneRef.template_id == template.id)
        .order_by(TemplateZoneRef.id)
    )
    items = []
    for ref in refs:
        zone = session.get(Zone, ref.zone_id)
        assert zone is not None
        items.append(template_response(session, template, zone))
    return ListResult(key, items, len(items))


# --- registration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterTemplateParams:
    """Parameters of registerTemplate."""

    name: str = param("the name of the template")
    url: str = param(
        "the URL of the template: http(s)://…, nfs://server/export/path, or a Metalink "
        "(http(s)://….metalink or ….meta4)",
        length=2048,
    )
    format: str = param("the format for the template: QCOW2 or RAW")
    hypervisor: str = param("the target hypervisor for the template: KVM")
    display_text: str | None = param("the display text of the template", length=4096, default=None)
    zone_id: Uuid | None = param("the ID of the zone the template is to be hosted on", default=None)
    zone_ids: list[Uuid] | None = param(
        "a list of zone ids where the template will be hosted", default=None
    )
    os_type_id: Uuid | None = param(
        "the ID of the OS Type that best represents the OS", default=None
    )
    direct_download: bool | None = param(
        "true: the template is downloaded straight to primary storage (KVM); required by kvmcloud",
        default=None,
    )
    checksum: Checksum | None = param(
        "the checksum, {ALGORITHM}hex (MD5, SHA-1 … SHA-512)", default=None
    )
    details: dict[str, str] | None = param(
        "template details; details[0].HTTP_HEADER:<Name>=<value> adds a download request header",
        default=None,
    )
    is_public: bool | None = param(
        "true if the template is available to all accounts", default=None
    )
    is_featured: bool | None = param("true if this template is a featured template", default=None)
    is_extractable: bool | None = param(
        "true if the template or its derivatives are extractable", default=None
    )
    password_enabled: bool | None = param(
        "true if the template supports the password reset feature", default=None
    )
    sshkey_enabled: bool | None = param(
        "true if the template supports the sshkey upload feature", default=None
    )
    requires_hvm: bool | None = param("true if this template requires HVM", default=None)
    is_dynamically_scalable: bool | None = param(
        "true if the template supports dynamic scaling", default=None
    )
    bits: int | None = param("32 or 64 bits support; 64 by default", default=None)
    template_tag: str | None = param("the tag for this template", default=None)
    template_type: str | None = param("the type of the template: USER by default", default=None)
    is_routing: bool | None = param("true if the template type is routing", default=None)
    deploy_as_is: bool | None = param("VMware only; ignored", default=None)
    account: str | None = param("an optional account name", default=None)
    domain_id: Uuid | None = param("an optional domain id", default=None)
    project_id: Uuid | None = param("register template for the project", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterIsoParams:
    """Parameters of registerIso."""

    name: str = param("the name of the ISO")
    url: str = param("the URL to where the ISO is currently being hosted", length=2048)
    zone_id: Uuid = param("the ID of the zone you wish to register the ISO to")
    display_text: str | None = param("the display text of the ISO", length=4096, default=None)
    direct_download: bool | None = param(
        "true: the ISO is downloaded straight to primary storage (KVM); required by kvmcloud",
        default=None,
    )
    checksum: Checksum | None = param(
        "the checksum, {ALGORITHM}hex (MD5, SHA-1 … SHA-512)", default=None
    )
    details: dict[str, str] | None = param(
        "kvmcloud: details[0].HTTP_HEADER:<Name>=<value> adds a download request header",
        default=None,
    )
    bootable: bool | None = param("true if this ISO is bootable; true by default", default=None)
    os_type_id: Uuid | None = param(
        "the ID of the OS type that best represents the OS of this ISO", default=None
    )
    is_public: bool | None = param(
        "true if you want to register the ISO to be publicly available", default=None
    )
    is_featured: bool | None = param("true if you want this ISO to be featured", default=None)
    is_extractable: bool | None = param(
        "true if the ISO or its derivatives are extractable", default=None
    )
    password_enabled: bool | None = param(
        "true if password reset feature is supported", default=None
    )
    is_dynamically_scalable: bool | None = param(
        "true if the ISO supports dynamic scaling", default=None
    )
    image_store_uuid: str | None = param("image store uuid; ignored", default=None)
    account: str | None = param("an optional account name", default=None)
    domain_id: Uuid | None = param("an optional domain id", default=None)
    project_id: Uuid | None = param("register ISO for the project", default=None)


def _require_direct_download(direct_download: bool | None) -> None:
    if not direct_download:
        raise InvalidParameterError(
            "directdownload",
            "kvmcloud has no secondary storage: register with directdownload=true so hosts "
            "download the image straight to primary storage",
        )


def _zones(
    session: Session, ctx: ApiContext, zone_id: str | None, zone_ids: list[Uuid] | None
) -> list[Zone]:
    if zone_id and zone_ids:
        raise InvalidParameterError("zoneids", "Give either zoneid or zoneids, not both")
    wanted = [zone_id] if zone_id else list(zone_ids or [])
    if not wanted:
        raise InvalidParameterError("zoneid", "Either zoneid or zoneids is required")
    if "-1" in wanted:
        raise InvalidParameterError(
            "zoneid", "Cross-zone registration (zoneid=-1) is not supported yet"
        )
    return [get_by_uuid(session, Zone, z, command=ctx.command, param="zoneid") for z in wanted]


def _register(
    ctx: ApiContext,
    request_fields: dict[str, Any],
    zone_uuids: tuple[str | None, list[Uuid] | None],
    os_type: str | None,
    details: dict[str, str] | None,
    key: str,
) -> ListResult:
    headers, others = service.parse_details(details or {})
    with ctx.db.transaction() as session:
        zones = _zones(session, ctx, *zone_uuids)
        request = service.TemplateRequest(
            headers=headers,
            other_details=others,
            zone_ids=[z.id for z in zones],
            guest_os_id=service.resolve_guest_os(session, os_type, ctx.command),
            account_id=ctx.caller.account_id,
            **request_fields,
        )
        plan = service.plan_url_check(session, request, zones, ctx.rng)
    # The URL is checked from a host, as the hosts are what will download it; no
    # transaction is open while the agent works.
    timeouts = plan.command.timeouts
    one_check_s = timeouts.connect_s + timeouts.request_s + timeouts.read_s * 4
    # A Metalink's check probes every mirror in turn: allow for several.
    rounds = METALINK_CHECK_ROUNDS if is_metalink(request.url) else 1
    answer = ctx.agents.call(
        plan.endpoint, plan.command, timeout_s=one_check_s * rounds + URL_CHECK_TIMEOUT_MARGIN_S
    )
    if not answer.ok or not isinstance(answer.result, msg.CheckUrlResult):
        raise error_from_answer(
            answer, f"URL {request.url} failed the check on host {plan.endpoint.name}"
        )
    with ctx.db.transaction() as session:
        template = service.record_template(session, request, answer.result, ctx.clock())
        _record_create_event(ctx, session, template)
        registered = _zone_responses(session, template, key)
    if not answer.result.mirrors:
        return registered
    # kvmcloud extension: a Metalink's registration says how each mirror checked out.
    mirrors = [
        without_none({"url": m.url, "ok": m.ok, "errortext": m.error.message if m.error else None})
        for m in answer.result.mirrors
    ]
    items = [{**item, "mirrors": mirrors} for item in registered.items]
    return ListResult(registered.item_key, items, registered.count)


def _record_create_event(ctx: ApiContext, session: Session, template: Template) -> None:
    """Record TEMPLATE.CREATE or ISO.CREATE for the caller, with the registration itself."""
    is_iso = template.format == ImageFormat.ISO
    event_type, resource_type = catalog.create_event(is_iso)
    record_event(
        session,
        type=event_type,
        level=EventLevel.INFO,
        # Not the URL: a presigned query string is a credential.
        description=f"{'ISO' if is_iso else 'Template'} {template.name} ({template.uuid}) "
        "registered for direct download",
        account_id=ctx.caller.account_id,
        user_id=ctx.caller.user_id,
        resource_type=resource_type,
        resource_uuid=template.uuid,
        now=ctx.clock(),
    )


@commands.command(
    "registerTemplate",
    RegisterTemplateParams,
    description="Registers an existing template into the CloudStack cloud.",
    response_key="template",
)
def register_template(ctx: ApiContext, params: RegisterTemplateParams) -> ListResult:
    """Register a direct-download template after a host has checked its URL."""
    if params.hypervisor.upper() != "KVM":
        raise InvalidParameterError(
            "hypervisor",
            "Direct download is only allowed for hypervisor KVM; kvmcloud manages KVM only",
        )
    _require_direct_download(params.direct_download)
    try:
        image_format = ImageFormat(TemplateFormat(params.format.strip().upper()))
    except ValueError:
        raise InvalidParameterError(
            "format",
            f"Format {params.format!r} is not supported for KVM direct download; use QCOW2 or RAW",
        ) from None
    if params.bits is not None and params.bits not in (32, 64):
        raise InvalidParameterError("bits", "bits must be 32 or 64")
    template_type = (params.template_type or ("ROUTING" if params.is_routing else "USER")).upper()
    if template_type not in ("USER", "ROUTING", "SYSTEM", "BUILTIN"):
        raise InvalidParameterError(
            "templatetype", f"templatetype {params.template_type!r} is not known"
        )
    fields = {
        "name": params.name,
        "display_text": params.display_text or params.name,
        "url": validate_source_url(params.url),
        "format": image_format,
        "checksum": params.checksum,
        "public": bool(params.is_public),
        "featured": bool(params.is_featured),
        "extractable": bool(params.is_extractable),
        "bootable": True,
        "requires_hvm": params.requires_hvm is not False,
        "password_enabled": bool(params.password_enabled),
        "sshkey_enabled": bool(params.sshkey_enabled),
        "dynamically_scalable": bool(params.is_dynamically_scalable),
        "bits": params.bits or 64,
        "template_tag": params.template_tag,
        "template_type": template_type,
    }
    return _register(
        ctx,
        fields,
        (params.zone_id, params.zone_ids),
        params.os_type_id,
        params.details,
        "template",
    )


@commands.command(
    "registerIso",
    RegisterIsoParams,
    description="Registers an existing ISO into the CloudStack Cloud.",
    response_key="iso",
)
def register_iso(ctx: ApiContext, params: RegisterIsoParams) -> ListResult:
    """Register a direct-download ISO after a host has checked its URL."""
    _require_direct_download(params.direct_download)
    fields = {
        "name": params.name,
        "display_text": params.display_text or params.name,
        "url": validate_source_url(params.url),
        "format": ImageFormat.ISO,
        "checksum": params.checksum,
        "public": bool(params.is_public),
        "featured": bool(params.is_featured),
        "extractable": bool(params.is_extractable),
        "bootable": params.bootable is not False,
        "password_enabled": bool(params.password_enabled),
        "dynamically_scalable": bool(params.is_dynamically_scalable),
    }
    return _register(ctx, fields, (params.zone_id, None), params.os_type_id, params.details, "iso")


# --- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTemplatesParams(ListParams):
    """Parameters of listTemplates."""

    template_filter: TemplateFilter = param(
        "featured, self, selfexecutable, sharedexecutable, executable, community or all"
    )
    id: Uuid | None = param("the template ID", default=None)
    ids: list[Uuid] | None = param("the IDs of the templates", default=None)
    name: str | None = param("the template name", default=None)
    zone_id: Uuid | None = param("list templates by zoneId", default=None)
    hypervisor: str | None = param("the hypervisor for which to restrict the search", default=None)
    show_removed: bool | None = param("show removed templates as well", default=None)
    show_unique: bool | None = param("one entry per template rather than per zone", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListIsosParams(ListParams):
    """Parameters of listIsos."""

    iso_filter: TemplateFilter | None = param(
        "same values as templatefilter; executable by default", default=None
    )
    id: Uuid | None = param("list ISO by ID", default=None)
    name: str | None = param("list all ISOs by name", default=None)
    zone_id: Uuid | None = param("the ID of the zone", default=None)
    bootable: bool | None = param("true if the ISO is bootable", default=None)
    is_public: bool | None = param("true if the ISO is publicly available", default=None)
    is_ready: bool | None = param("true if this ISO is ready to be deployed", default=None)
    hypervisor: str | None = param("the hypervisor for which to restrict the search", default=None)


def _list(
    ctx: ApiContext,
    params: ListParams,
    *,
    isos: bool,
    filter_name: str,
    uuid: str | None,
    name: str | None,
    zone_uuid: str | None,
    key: str,
    hypervisor: str | None,
) -> ListResult:
    with ctx.db.transaction() as session:
        if hypervisor and hypervisor.upper() != "KVM":
            return ListResult(key, [], 0)
        zone_id = None
        if zone_uuid:
            zone_id = get_by_uuid(session, Zone, zone_uuid, command=ctx.command, param="zoneid").id
        query = service.filtered_templates(
            isos=isos,
            filter_name=filter_name,
            account_id=ctx.caller.account_id,
            is_admin=ctx.caller.is_admin,
            template_uuid=uuid,
            name=name,
            keyword=params.keyword,
            zone_id=zone_id,
        )
        window = list_window(session, params)
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = session.execute(query.offset(window.offset).limit(window.limit)).all()
        items = []
        for template, zone_ref in rows:
            zone = session.get(Zone, zone_ref.zone_id)
            assert zone is not None
            owner = ctx.caller.is_admin or template.account_id == ctx.caller.account_id
            items.append(template_response(session, template, zone, show_private=owner))
        return ListResult(key, items, total or 0)


@commands.command(
    "listTemplates",
    ListTemplatesParams,
    description="List all public, private, and privileged templates.",
    response_key="template",
)
def list_templates(ctx: ApiContext, params: ListTemplatesParams) -> ListResult:
    """List templates, one entry per zone."""
    uuid = params.id or (params.ids[0] if params.ids and len(params.ids) == 1 else None)
    return _list(
        ctx,
        params,
        isos=False,
        filter_name=params.template_filter.value,
        uuid=uuid,
        name=params.name,
        zone_uuid=params.zone_id,
        key="template",
        hypervisor=params.hypervisor,
    )


@commands.command(
    "listIsos", ListIsosParams, description="Lists all available ISO files.", response_key="iso"
)
def list_isos(ctx: ApiContext, params: ListIsosParams) -> ListResult:
    """List ISOs, one entry per zone."""
    filter_name = (params.iso_filter or TemplateFilter.EXECUTABLE).value
    result = _list(
        ctx,
        params,
        isos=True,
        filter_name=filter_name,
        uuid=params.id,
        name=params.name,
        zone_uuid=params.zone_id,
        key="iso",
        hypervisor=params.hypervisor,
    )
    if params.bootable is None and params.is_public is None:
        return result
    items = [
        i
        for i in result.items
        if (params.bootable is None or i.get("bootable") == params.bootable)
        and (params.is_public is None or i.get("ispublic") == params.is_public)
    ]
    return ListResult(result.item_key, items, len(items))


# --- deletion ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTemplateParams:
    """Parameters of deleteTemplate and deleteIso."""

    id: Uuid = param("the ID of the template or ISO")
    zone_id: Uuid | None = param("the ID of zone of the template", default=None)
    forced: bool | None = param("force delete a template", default=None)


def _queue_delete(ctx: ApiContext, params: DeleteTemplateParams, *, iso: bool) -> AsyncResult:
    with ctx.db.transaction() as session:
        template = get_by_uuid(session, Template, params.id, command=ctx.command, param="id")
        if (template.format == ImageFormat.ISO) != iso:
            raise NotFoundError(ctx.command, "id", params.id)
        if not ctx.caller.is_admin and template.account_id != ctx.caller.account_id:
            raise NotFoundError(ctx.command, "id", params.id)
        users = ctx.hooks.count_template_users(session, template.id)
        if users and not params.forced:
            raise ResourceInUseError(
                f"{template.name} is used by {users} VM(s); pass forced=true to delete it anyway "
                "(copies in use stay on their pools until those VMs are expunged)"
            )
        job = queue.enqueue(
            session,
            kind=DELETE_TEMPLATE_JOB,
            cmd=DELETE_ISO_CMD if iso else DELETE_TEMPLATE_CMD,
            payload={"template_id": template.id},
            now=ctx.clock(),
            account_id=ctx.caller.account_id,
            user_id=ctx.caller.user_id,
            instance_type="Iso" if iso else "Template",
            instance_uuid=template.uuid,
        )
        return AsyncResult(job.uuid)


@commands.command(
    "deleteTemplate",
    DeleteTemplateParams,
    description="Deletes a template",
    response_key="success",
    is_async=True,
)
def delete_template(ctx: ApiContext, params: DeleteTemplateParams) -> AsyncResult:
    """Queue deletion of a template."""
    return _queue_delete(ctx, params, iso=False)


@commands.command(
    "deleteIso",
    DeleteTemplateParams,
    description="Deletes an ISO file.",
    response_key="success",
    is_async=True,
)
def delete_iso(ctx: ApiContext, params: DeleteTemplateParams) -> AsyncResult:
    """Queue deletion of an ISO."""
    return _queue_delete(ctx, params, iso=True)


# --- prepareTemplate --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareTemplateParams:
    """Parameters of prepareTemplate."""

    template_id: Uuid = param("template ID of the template to be prepared in primary storage(s)")
    zone_id: Uuid = param("zone ID of the template to be prepared in primary storage(s)")
    storage_id: Uuid | None = param(
        "storage pool ID of the primary storage pool to which the template should be prepared; "
        "every pool of the zone if not given",
        default=None,
    )


@commands.command(
    "prepareTemplate",
    PrepareTemplateParams,
    description="load template into primary storage",
    response_key="template",
    admin_only=True,
)
def prepare_template(ctx: ApiContext, params: PrepareTemplateParams) -> ListResult:
    """Start (or reuse) a direct download of the template to the pool(s); answer at once."""
    with ctx.db.transaction() as session:
        template = get_by_uuid(
            session, Template, params.template_id, command=ctx.command, param="templateid"
        )
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        in_zone = select(TemplateZoneRef.id).where(
            TemplateZoneRef.template_id == template.id,
            TemplateZoneRef.zone_id == zone.id,
            TemplateZoneRef.removed.is_(None),
        )
        if session.scalar(in_zone) is None:
            raise InvalidParameterError(
                "zoneid", f"Template {template.name} is not registered in zone {zone.name}"
            )
        pool = (
            get_by_uuid(
                session, StoragePool, params.storage_id, command=ctx.command, param="storageid"
            )
            if params.storage_id
            else None
        )
        for target in service.pools_to_prepare(session, zone, pool):
            service.request_on_pool(
                session,
                template,
                target,
                account_id=ctx.caller.account_id,
                user_id=ctx.caller.user_id,
                now=ctx.clock(),
            )
        session.flush()
        return ListResult("template", [template_response(session, template, zone)], 1)


# --- OS types ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOsTypesParams(ListParams):
    """Parameters of listOsTypes."""

    id: Uuid | None = param("list by Os type Id", default=None)
    os_category_id: Uuid | None = param("list by Os Category id", default=None)
    description: str | None = param("list os by description", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOsCategoriesParams(ListParams):
    """Parameters of listOsCategories."""

    id: Uuid | None = param("list Os category by id", default=None)
    name: str | None = param("list os category by name", default=None)


@commands.command(
    "listOsTypes",
    ListOsTypesParams,
    description="Lists all supported OS types.",
    response_key="ostype",
)
def list_os_types(ctx: ApiContext, params: ListOsTypesParams) -> ListResult:
    """List guest OS types."""
    with ctx.db.transaction() as session:
        query = (
            select(GuestOs, GuestOsCategory)
            .join(GuestOsCategory, GuestOs.category_id == GuestOsCategory.id)
            .order_by(GuestOs.id)
        )
        if params.id:
            query = query.where(GuestOs.uuid == params.id)
        if params.os_category_id:
            query = query.where(GuestOsCategory.uuid == params.os_category_id)
        if params.description:
            query = query.where(GuestOs.display_name == params.description)
        if params.keyword:
            query = query.where(GuestOs.display_name.contains(params.keyword))
        window = list_window(session, params)
        rows = list(session.execute(query))
        page = rows[window.offset : None if window.limit is None else window.offset + window.limit]
        items = [
            {
                "id": os.uuid,
                "description": os.display_name,
                "name": os.display_name,
                "oscategoryid": category.uuid,
                "oscategoryname": category.name,
                "isuserdefined": os.is_user_defined,
                "fordisplay": True,
            }
            for os, category in page
        ]
        return ListResult("ostype", items, len(rows))


@commands.command(
    "listOsCategories",
    ListOsCategoriesParams,
    description="Lists all supported OS categories for this cloud.",
    response_key="oscategory",
)
def list_os_categories(ctx: ApiContext, params: ListOsCategoriesParams) -> ListResult:
    """List guest OS categories."""
    with ctx.db.transaction() as session:
        query = select(GuestOsCategory).order_by(GuestOsCategory.id)
        if params.id:
            query = query.where(GuestOsCategory.uuid == params.id)
        if params.name:
            query = query.where(GuestOsCategory.name == params.name)
        window = list_window(session, params)
        categories, total = paged(session, query, window)
        return ListResult("oscategory", [{"id": c.uuid, "name": c.name} for c in categories], total)
