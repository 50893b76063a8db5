"""Template and ISO commands (register, list, extract, delete, …) and OS type listings."""

from dataclasses import dataclass
from enum import StrEnum

from kvmcloud.protocol.checksums import Checksum
from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import Entity, ListParams, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, FlatResult, ListResult, ObjectResult
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.templates import (
    copies,
    deletion,
    extraction,
    guest_os,
    listing,
    registration,
    sharing,
    updates,
    views,
    zone_copies,
)
from kvmcloud.server.templates.models import ImageFormat
from kvmcloud.server.templates.urls import validate_source_url

commands = CommandSet()


class TemplateFormat(StrEnum):
    """Formats registerTemplate accepts for KVM direct download."""

    QCOW2 = "QCOW2"
    RAW = "RAW"


class TemplateFilter(StrEnum):
    """listTemplates' templatefilter values."""

    FEATURED = "featured"
    SELF = "self"
    SHARED = "shared"
    SELFEXECUTABLE = "selfexecutable"
    SHAREDEXECUTABLE = "sharedexecutable"
    EXECUTABLE = "executable"
    COMMUNITY = "community"
    ALL = "all"


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
        "true: the template is downloaded straight to primary storage (KVM). kvmcloud refuses "
        "false; when absent, the zone setting kvmcloud.register.direct.download.default decides",
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
    account: str | None = param(
        "an optional accountName. Must be used with domainId.", length=100, default=None
    )
    domain_id: Uuid | None = param(
        "an optional domainId. If the account parameter is used, domainId must also be used.",
        entity=Entity.DOMAIN,
        default=None,
    )
    project_id: Uuid | None = param("register template for the project", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterIsoParams:
    """Parameters of registerIso."""

    name: str = param("the name of the ISO")
    url: str = param("the URL to where the ISO is currently being hosted", length=2048)
    zone_id: Uuid = param("the ID of the zone you wish to register the ISO to")
    display_text: str | None = param("the display text of the ISO", length=4096, default=None)
    direct_download: bool | None = param(
        "true: the ISO is downloaded straight to primary storage (KVM). kvmcloud refuses "
        "false; when absent, the zone setting kvmcloud.register.direct.download.default decides",
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
    account: str | None = param(
        "an optional account name. Must be used with domainId.", length=100, default=None
    )
    domain_id: Uuid | None = param(
        "an optional domain ID. If the account parameter is used, domainId must also be used.",
        entity=Entity.DOMAIN,
        default=None,
    )
    project_id: Uuid | None = param("register ISO for the project", default=None)


def _refuse_copy_to_secondary(direct_download: bool | None) -> None:
    # Without the flag, the zone setting kvmcloud.register.direct.download.default decides
    # (registration.py); an explicit false asks for what kvmcloud cannot do.
    if direct_download is False:
        raise InvalidParameterError("directdownload", registration.NO_SECONDARY_STORAGE)


def _register(ctx: ApiContext, request: registration.TemplateRequest, key: str) -> ListResult:
    registered = registration.register_template(
        ctx.db,
        ctx.agents,
        request,
        caller=ctx.caller,
        clock=ctx.clock,
        rng=ctx.rng,
        command=ctx.command,
        box=ctx.box,
    )
    items = views.registration_response(registered)
    return ListResult(key, items, len(items))


@commands.command(
    "registerTemplate",
    RegisterTemplateParams,
    description="Registers an existing template into the CloudStack cloud.",
    response_key="template",
    response=views.REGISTERED_TEMPLATE,
)
def register_template(ctx: ApiContext, params: RegisterTemplateParams) -> ListResult:
    """Register a direct-download template after a host has checked its URL."""
    if params.hypervisor.upper() != "KVM":
        raise InvalidParameterError(
            "hypervisor",
            "Direct download is only allowed for hypervisor KVM; kvmcloud manages KVM only",
        )
    _refuse_copy_to_secondary(params.direct_download)
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
    request = registration.TemplateRequest(
        name=params.name,
        display_text=params.display_text or params.name,
        url=validate_source_url(params.url),
        format=image_format,
        checksum=params.checksum,
        zone_id=params.zone_id,
        zone_ids=tuple(params.zone_ids or ()),
        os_type_id=params.os_type_id,
        details=params.details or {},
        public=bool(params.is_public),
        featured=bool(params.is_featured),
        extractable=bool(params.is_extractable),
        bootable=True,
        requires_hvm=params.requires_hvm is not False,
        password_enabled=bool(params.password_enabled),
        sshkey_enabled=bool(params.sshkey_enabled),
        dynamically_scalable=bool(params.is_dynamically_scalable),
        bits=params.bits or 64,
        template_tag=params.template_tag,
        template_type=template_type,
        account_name=params.account,
        domain_uuid=params.domain_id,
        direct_download=params.direct_download,
    )
    return _register(ctx, request, "template")


@commands.command(
    "registerIso",
    RegisterIsoParams,
    description="Registers an existing ISO into the CloudStack Cloud.",
    response_key="iso",
    response=views.REGISTERED_TEMPLATE,
)
def register_iso(ctx: ApiContext, params: RegisterIsoParams) -> ListResult:
    """Register a direct-download ISO after a host has checked its URL."""
    _refuse_copy_to_secondary(params.direct_download)
    request = registration.TemplateRequest(
        name=params.name,
        display_text=params.display_text or params.name,
        url=validate_source_url(params.url),
        format=ImageFormat.ISO,
        checksum=params.checksum,
        zone_id=params.zone_id,
        os_type_id=params.os_type_id,
        details=params.details or {},
        public=bool(params.is_public),
        featured=bool(params.is_featured),
        extractable=bool(params.is_extractable),
        bootable=params.bootable is not False,
        password_enabled=bool(params.password_enabled),
        dynamically_scalable=bool(params.is_dynamically_scalable),
        account_name=params.account,
        domain_uuid=params.domain_id,
        direct_download=params.direct_download,
    )
    return _register(ctx, request, "iso")


# --- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTemplatesParams(OwnerListParams):
    """Parameters of listTemplates."""

    template_filter: TemplateFilter = param(
        "featured, self, selfexecutable, shared, sharedexecutable, executable, community or all"
    )
    id: Uuid | None = param("the template ID", entity=Entity.TEMPLATE, default=None)
    ids: list[Uuid] | None = param("the IDs of the templates", entity=Entity.TEMPLATE, default=None)
    name: str | None = param("the template name", default=None)
    zone_id: Uuid | None = param("list templates by zoneId", entity=Entity.ZONE, default=None)
    hypervisor: str | None = param("the hypervisor for which to restrict the search", default=None)
    show_removed: bool | None = param("show removed templates as well", default=None)
    show_unique: bool | None = param("one entry per template rather than per zone", default=None)
    storage_id: Uuid | None = param(
        "kvmcloud: only the templates with a copy on this primary storage pool (a "
        "template_spool_ref row, whatever its state), each showing in downloaddetails "
        "its copy on that pool only",
        entity=Entity.STORAGE_POOL,
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListIsosParams(OwnerListParams):
    """Parameters of listIsos."""

    iso_filter: TemplateFilter | None = param(
        "same values as templatefilter; executable by default", default=None
    )
    id: Uuid | None = param("list ISO by ID", entity=Entity.TEMPLATE, default=None)
    name: str | None = param("list all ISOs by name", default=None)
    zone_id: Uuid | None = param("the ID of the zone", entity=Entity.ZONE, default=None)
    bootable: bool | None = param("true if the ISO is bootable", default=None)
    is_public: bool | None = param("true if the ISO is publicly available", default=None)
    is_ready: bool | None = param("true if this ISO is ready to be deployed", default=None)
    hypervisor: str | None = param("the hypervisor for which to restrict the search", default=None)
    storage_id: Uuid | None = param(
        "kvmcloud: only the ISOs with a copy on this primary storage pool (a "
        "template_spool_ref row, whatever its state), each showing in downloaddetails "
        "its copy on that pool only",
        entity=Entity.STORAGE_POOL,
        default=None,
    )


def _list(
    ctx: ApiContext, params: ListParams, query: listing.TemplateQuery, key: str
) -> ListResult:
    page = listing.list_templates(ctx.db, ctx.caller, params, query, command=ctx.command)
    items = [views.listed_template_response(record, ctx.caller) for record in page.items]
    return ListResult(key, items, page.total)


@commands.command(
    "listTemplates",
    ListTemplatesParams,
    description="List all public, private, and privileged templates.",
    response_key="template",
    response=views.TEMPLATE,
)
def list_templates(ctx: ApiContext, params: ListTemplatesParams) -> ListResult:
    """List templates, one entry per zone."""
    uuid = params.id or (params.ids[0] if params.ids and len(params.ids) == 1 else None)
    query = listing.TemplateQuery(
        isos=False,
        filter_name=params.template_filter.value,
        owners=params.owner_filter(),
        uuid=uuid,
        name=params.name,
        keyword=params.keyword,
        zone_uuid=params.zone_id,
        hypervisor=params.hypervisor,
        pool_uuid=params.storage_id,
    )
    return _list(ctx, params, query, "template")


@commands.command(
    "listIsos",
    ListIsosParams,
    description="Lists all available ISO files.",
    response_key="iso",
    response=views.TEMPLATE,
)
def list_isos(ctx: ApiContext, params: ListIsosParams) -> ListResult:
    """List ISOs, one entry per zone."""
    query = listing.TemplateQuery(
        isos=True,
        filter_name=(params.iso_filter or TemplateFilter.EXECUTABLE).value,
        owners=params.owner_filter(),
        uuid=params.id,
        name=params.name,
        keyword=params.keyword,
        zone_uuid=params.zone_id,
        hypervisor=params.hypervisor,
        pool_uuid=params.storage_id,
        bootable=params.bootable,
        public=params.is_public,
    )
    return _list(ctx, params, query, "iso")


# --- updates ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateIsoParams:
    """Parameters of updateIso (and, with templatetype and isrouting, updateTemplate)."""

    id: Uuid = param("the ID of the image file", entity=Entity.TEMPLATE)
    name: str | None = param("the name of the image file", default=None)
    display_text: str | None = param("the display text of the image", length=4096, default=None)
    format: str | None = param("the format for the image", default=None)
    os_type_id: Uuid | None = param(
        "the ID of the OS type that best represents the OS of this image.",
        entity=Entity.OS_TYPE,
        default=None,
    )
    bootable: bool | None = param("true if image is bootable, false otherwise", default=None)
    password_enabled: bool | None = param(
        "true if the image supports the password reset feature; default is false",
        default=None,
    )
    sshkey_enabled: bool | None = param(
        "true if the template supports the sshkey upload feature; default is false",
        default=None,
    )
    requires_hvm: bool | None = param(
        "true if the template requires HVM, false otherwise", default=None
    )
    sort_key: int | None = param("sort key of the template, integer", default=None)
    is_dynamically_scalable: bool | None = param(
        "true if template/ISO contains XS/VMWare tools inorder to support dynamic scaling of "
        "VM cpu/memory",
        default=None,
    )
    details: dict[str, str] | None = param(
        "Details in key/value pairs using format details[i].keyname=keyvalue. Example: "
        "details[0].hypervisortoolsversion=xenserver61",
        default=None,
    )
    cleanup_details: bool | None = param(
        "optional boolean field, which indicates if details should be cleaned up or not (If "
        "set to true, details removed for this resource, details field ignored; if false or "
        "not set, no action)",
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTemplateParams(UpdateIsoParams):
    """Parameters of updateTemplate."""

    template_type: str | None = param(
        "the type of the template. Valid options are: USER/SYSTEM/ROUTING/BUILTIN. Root "
        "admins only",
        default=None,
    )
    is_routing: bool | None = param(
        "true if the template type is routing i.e., if template is used to deploy router",
        default=None,
    )


def _update(ctx: ApiContext, params: UpdateIsoParams, *, iso: bool) -> ObjectResult:
    template_params = params if isinstance(params, UpdateTemplateParams) else None
    changes = updates.TemplateChanges(
        name=params.name,
        display_text=params.display_text,
        format=params.format,
        os_type_uuid=params.os_type_id,
        bootable=params.bootable,
        password_enabled=params.password_enabled,
        sshkey_enabled=params.sshkey_enabled,
        requires_hvm=params.requires_hvm,
        dynamically_scalable=params.is_dynamically_scalable,
        sort_key=params.sort_key,
        template_type=template_params.template_type if template_params else None,
        is_routing=template_params.is_routing if template_params else None,
        details=params.details or {},
        cleanup_details=bool(params.cleanup_details),
    )
    record = updates.update_template(
        ctx.db,
        caller=ctx.caller,
        command=ctx.command,
        template_uuid=params.id,
        iso=iso,
        changes=changes,
    )
    return ObjectResult(
        "iso" if iso else "template",
        views.template_response(record, show_hosts=ctx.caller.is_admin),
    )


@commands.command(
    "updateTemplate",
    UpdateTemplateParams,
    description="Updates attributes of a template.",
    response_key="template",
    response=views.TEMPLATE,
)
def update_template(ctx: ApiContext, params: UpdateTemplateParams) -> ObjectResult:
    """Change a template's attributes; answer the template (its first zone)."""
    return _update(ctx, params, iso=False)


@commands.command(
    "updateIso",
    UpdateIsoParams,
    description="Updates an ISO file.",
    response_key="iso",
    response=views.TEMPLATE,
)
def update_iso(ctx: ApiContext, params: UpdateIsoParams) -> ObjectResult:
    """Change an ISO's attributes; answer the ISO (its first zone)."""
    return _update(ctx, params, iso=True)


# --- permissions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdatePermissionsParams:
    """Parameters of updateTemplatePermissions and updateIsoPermissions."""

    id: Uuid = param("the template ID", entity=Entity.TEMPLATE)
    is_public: bool | None = param(
        "true for public template/iso, false for private templates/isos", default=None
    )
    is_featured: bool | None = param(
        "true for featured template/iso, false otherwise", default=None
    )
    is_extractable: bool | None = param(
        "true if the template/iso is extractable, false other wise. Can be set only by root admin",
        default=None,
    )
    accounts: list[str] | None = param(
        'a comma delimited list of accounts within caller\'s domain. If specified, "op" '
        "parameter has to be passed in.",
        default=None,
    )
    project_ids: list[Uuid] | None = param(
        'a comma delimited list of projects. If specified, "op" parameter has to be passed in.',
        default=None,
    )
    op: str | None = param("permission operator (add, remove, reset)", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPermissionsParams:
    """Parameters of listTemplatePermissions and listIsoPermissions."""

    id: Uuid = param("the template ID", entity=Entity.TEMPLATE)


def _update_permissions(
    ctx: ApiContext, params: UpdatePermissionsParams, *, iso: bool
) -> FlatResult:
    if params.project_ids:
        raise InvalidParameterError("projectids", "kvmcloud has no projects")
    sharing.update_permissions(
        ctx.db,
        caller=ctx.caller,
        command=ctx.command,
        template_uuid=params.id,
        iso=iso,
        changes=sharing.PermissionChanges(
            public=params.is_public,
            featured=params.is_featured,
            extractable=params.is_extractable,
            account_names=params.accounts,
            operation=params.op,
        ),
    )
    return FlatResult({"success": True})


def _list_permissions(ctx: ApiContext, params: ListPermissionsParams, *, iso: bool) -> ObjectResult:
    permissions = sharing.list_permissions(
        ctx.db, caller=ctx.caller, command=ctx.command, template_uuid=params.id, iso=iso
    )
    return ObjectResult("templatepermission", views.permissions_response(permissions, ctx.caller))


@commands.command(
    "updateTemplatePermissions",
    UpdatePermissionsParams,
    description="Updates a template visibility permissions. A public template is visible to "
    "all accounts within the same domain. A private template is visible only to the owner of "
    "the template. A privileged template is a private template with account permissions "
    "added. Only accounts specified under the template permissions are visible to them.",
    response_key="success",
    response=SUCCESS,
)
def update_template_permissions(ctx: ApiContext, params: UpdatePermissionsParams) -> FlatResult:
    """Change who may see and launch a template."""
    return _update_permissions(ctx, params, iso=False)


@commands.command(
    "updateIsoPermissions",
    UpdatePermissionsParams,
    description="Updates ISO permissions",
    response_key="success",
    response=SUCCESS,
)
def update_iso_permissions(ctx: ApiContext, params: UpdatePermissionsParams) -> FlatResult:
    """Change who may see and attach an ISO."""
    return _update_permissions(ctx, params, iso=True)


@commands.command(
    "listTemplatePermissions",
    ListPermissionsParams,
    description="List template visibility and all accounts that have permissions to view this "
    "template.",
    response_key="templatepermission",
    response=views.TEMPLATE_PERMISSIONS,
)
def list_template_permissions(ctx: ApiContext, params: ListPermissionsParams) -> ObjectResult:
    """Show a template's visibility and the accounts it is shared with."""
    return _list_permissions(ctx, params, iso=False)


@commands.command(
    "listIsoPermissions",
    ListPermissionsParams,
    description="List iso visibility and all accounts that have permissions to view this iso.",
    response_key="templatepermission",
    response=views.TEMPLATE_PERMISSIONS,
)
def list_iso_permissions(ctx: ApiContext, params: ListPermissionsParams) -> ObjectResult:
    """Show an ISO's visibility and the accounts it is shared with."""
    return _list_permissions(ctx, params, iso=True)


# --- copies to other zones -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyTemplateParams:
    """Parameters of copyTemplate and copyIso."""

    id: Uuid = param("Template ID.", entity=Entity.TEMPLATE)
    source_zone_id: Uuid | None = param(
        "ID of the zone the template is currently hosted on.", entity=Entity.ZONE, default=None
    )
    dest_zone_id: Uuid | None = param(
        "ID of the zone the template is being copied to.", entity=Entity.ZONE, default=None
    )
    dest_zone_ids: list[Uuid] | None = param(
        "A list of IDs of the zones that the template needs to be copied to. Specify this "
        "list if the template needs to copied to multiple zones in one go. Do not specify "
        "destzoneid and destzoneids together, however one of them is required.",
        entity=Entity.ZONE,
        default=None,
    )


def _queue_copy(ctx: ApiContext, params: CopyTemplateParams, *, iso: bool) -> AsyncResult:
    if params.dest_zone_id and params.dest_zone_ids:
        raise InvalidParameterError(
            "destzoneids", "Both destzoneid and destzoneids cannot be specified at the same time."
        )
    job_uuid = zone_copies.queue_copy(
        ctx.db,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
        template_uuid=params.id,
        source_zone_uuid=params.source_zone_id,
        dest_zone_uuids=params.dest_zone_ids
        or ([params.dest_zone_id] if params.dest_zone_id else []),
        iso=iso,
    )
    return AsyncResult(job_uuid)


@commands.command(
    "copyTemplate",
    CopyTemplateParams,
    description="Copies a template from one zone to another zone.",
    response_key="template",
    response=views.TEMPLATE,
    is_async=True,
)
def copy_template(ctx: ApiContext, params: CopyTemplateParams) -> AsyncResult:
    """Queue registering a direct-download template in more zones."""
    return _queue_copy(ctx, params, iso=False)


@commands.command(
    "copyIso",
    CopyTemplateParams,
    description="Copies an iso from one zone to another.",
    response_key="iso",
    response=views.TEMPLATE,
    is_async=True,
)
def copy_iso(ctx: ApiContext, params: CopyTemplateParams) -> AsyncResult:
    """Queue registering a direct-download ISO in more zones."""
    return _queue_copy(ctx, params, iso=True)


# --- extraction -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractTemplateParams:
    """Parameters of extractTemplate and extractIso."""

    id: Uuid = param("the ID of the template or ISO", entity=Entity.TEMPLATE)
    mode: str = param("the mode of extraction: HTTP_DOWNLOAD (kvmcloud refuses FTP_UPLOAD)")
    zone_id: Uuid | None = param(
        "the ID of the zone where the template or ISO is originally located",
        entity=Entity.ZONE,
        default=None,
    )
    url: str | None = param(
        "the URL to which the template or ISO would be extracted (FTP_UPLOAD only; ignored)",
        length=2048,
        default=None,
    )


def _queue_extract(ctx: ApiContext, params: ExtractTemplateParams, *, iso: bool) -> AsyncResult:
    job_uuid = extraction.queue_extract(
        ctx.db,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
        template_uuid=params.id,
        zone_uuid=params.zone_id,
        mode=params.mode,
        iso=iso,
    )
    return AsyncResult(job_uuid)


@commands.command(
    "extractTemplate",
    ExtractTemplateParams,
    description="Extracts a Template",
    response_key="template",
    response=views.EXTRACT,
    is_async=True,
)
def extract_template(ctx: ApiContext, params: ExtractTemplateParams) -> AsyncResult:
    """Queue making a download URL for a template: a pool copy's, or the registered one."""
    return _queue_extract(ctx, params, iso=False)


@commands.command(
    "extractIso",
    ExtractTemplateParams,
    description="Extracts an ISO",
    response_key="iso",
    response=views.EXTRACT,
    is_async=True,
)
def extract_iso(ctx: ApiContext, params: ExtractTemplateParams) -> AsyncResult:
    """Queue making a download URL for an ISO: a pool copy's, or the registered one."""
    return _queue_extract(ctx, params, iso=True)


# --- deletion ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTemplateParams:
    """Parameters of deleteTemplate and deleteIso."""

    id: Uuid = param("the ID of the template or ISO")
    zone_id: Uuid | None = param("the ID of zone of the template", default=None)
    forced: bool | None = param("force delete a template", default=None)


def _queue_delete(ctx: ApiContext, params: DeleteTemplateParams, *, iso: bool) -> AsyncResult:
    job_uuid = deletion.queue_deletion(
        ctx.db,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
        count_users=ctx.hooks.count_template_users,
        template_uuid=params.id,
        forced=bool(params.forced),
        iso=iso,
    )
    return AsyncResult(job_uuid)


@commands.command(
    "deleteTemplate",
    DeleteTemplateParams,
    description="Deletes a template",
    response_key="success",
    response=SUCCESS,
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
    response=SUCCESS,
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
    response=views.TEMPLATE,
)
def prepare_template(ctx: ApiContext, params: PrepareTemplateParams) -> ListResult:
    """Start (or reuse) a direct download of the template to the pool(s); answer at once."""
    record = copies.prepare_template(
        ctx.db,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
        template_uuid=params.template_id,
        zone_uuid=params.zone_id,
        pool_uuid=params.storage_id,
    )
    return ListResult(
        "template", [views.template_response(record, show_hosts=ctx.caller.is_admin)], 1
    )


# --- OS types ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOsTypesParams(ListParams):
    """Parameters of listOsTypes."""

    id: Uuid | None = param("list by Os type Id", entity=Entity.OS_TYPE, default=None)
    os_category_id: Uuid | None = param(
        "list by Os Category id", entity=Entity.OS_CATEGORY, default=None
    )
    description: str | None = param("list os by description", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOsCategoriesParams(ListParams):
    """Parameters of listOsCategories."""

    id: Uuid | None = param("list Os category by id", entity=Entity.OS_CATEGORY, default=None)
    name: str | None = param("list os category by name", default=None)


@commands.command(
    "listOsTypes",
    ListOsTypesParams,
    description="Lists all supported OS types.",
    response_key="ostype",
    response=views.OS_TYPE,
)
def list_os_types(ctx: ApiContext, params: ListOsTypesParams) -> ListResult:
    """List guest OS types."""
    page = guest_os.list_os_types(
        ctx.db,
        params,
        uuid=params.id,
        category_uuid=params.os_category_id,
        description=params.description,
        keyword=params.keyword,
    )
    return ListResult("ostype", [views.os_type_response(r) for r in page.items], page.total)


@commands.command(
    "listOsCategories",
    ListOsCategoriesParams,
    description="Lists all supported OS categories for this cloud.",
    response_key="oscategory",
    response=views.OS_CATEGORY,
)
def list_os_categories(ctx: ApiContext, params: ListOsCategoriesParams) -> ListResult:
    """List guest OS categories."""
    page = guest_os.list_os_categories(ctx.db, params, uuid=params.id, name=params.name)
    return ListResult("oscategory", [views.os_category_response(c) for c in page.items], page.total)
