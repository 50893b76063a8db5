"""updateTemplate and updateIso: changing a template's or ISO's attributes in place."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_may_modify_image
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import owner_path_for
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.details import METALINK_DETAIL, is_header_detail
from kvmcloud.server.templates.listing import zone_records
from kvmcloud.server.templates.models import GuestOs, ImageFormat, Template, TemplateDetail
from kvmcloud.server.templates.records import TemplateRecord

TEMPLATE_TYPES = ("USER", "ROUTING", "SYSTEM", "BUILTIN")


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateChanges:
    """What an updateTemplate/updateIso call sets; None leaves an attribute as it is."""

    name: str | None = None
    display_text: str | None = None
    format: str | None = None
    os_type_uuid: str | None = None
    bootable: bool | None = None
    password_enabled: bool | None = None
    sshkey_enabled: bool | None = None
    requires_hvm: bool | None = None
    dynamically_scalable: bool | None = None
    sort_key: int | None = None
    template_type: str | None = None
    is_routing: bool | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    cleanup_details: bool = False


def update_template(
    db: Database,
    *,
    caller: Caller,
    command: str,
    template_uuid: str,
    iso: bool,
    changes: TemplateChanges,
) -> TemplateRecord:
    """Apply ``changes`` to a template (or ISO) the caller may modify; return its first zone.

    Raises:
        NotFoundError: no such live template (ISO) (431).
        InvalidParameterError: a value CloudStack refuses (431).
        PermissionDeniedError: not the caller's to modify, or ``templatetype``/``isrouting``
            from a caller that is not a root admin (531).
    """
    with db.transaction() as session:
        template = get_by_uuid(session, Template, template_uuid, command=command, param="id")
        if (template.format == ImageFormat.ISO) != iso:
            raise NotFoundError(command, "id", template_uuid)
        check_may_modify_image(
            caller,
            owner_account_id=template.account_id,
            public=template.public,
            image_uuid=template_uuid,
            owner_domain_path=owner_path_for(session, caller, template.account_id),
        )
        _apply(session, template, changes, caller=caller, command=command, iso=iso)
        session.flush()
        return zone_records(session, template)[0]


def _apply(
    session: Session,
    template: Template,
    changes: TemplateChanges,
    *,
    caller: Caller,
    command: str,
    iso: bool,
) -> None:
    _check_root_only(changes, caller)
    if changes.name is not None:
        if not changes.name.strip():
            raise InvalidParameterError("name", "name cannot be empty")
        template.name = changes.name
    if changes.display_text is not None:
        template.display_text = changes.display_text
    if changes.format is not None:
        template.format = _format(changes.format, iso=iso)
    if changes.os_type_uuid is not None:
        guest_os = get_by_uuid(
            session, GuestOs, changes.os_type_uuid, command=command, param="ostypeid"
        )
        template.guest_os_id = guest_os.id
    for attribute, value in (
        ("bootable", changes.bootable),
        ("enable_password", changes.password_enabled),
        ("sshkey_enabled", changes.sshkey_enabled),
        ("requires_hvm", changes.requires_hvm),
        ("dynamically_scalable", changes.dynamically_scalable),
        ("sort_key", changes.sort_key),
    ):
        if value is not None:
            setattr(template, attribute, value)
    template.type = _template_type(template.type, changes)
    _update_details(session, template, changes)


def _check_root_only(changes: TemplateChanges, caller: Caller) -> None:
    for name, given in (("templatetype", changes.template_type), ("isrouting", changes.is_routing)):
        if given is not None and not caller.is_admin:
            raise PermissionDeniedError(
                f"Parameter {name} can only be specified by a Root Admin, permission denied"
            )


def _template_type(current: str, changes: TemplateChanges) -> str:
    """The type after an update: templatetype wins over isrouting, as in CloudStack."""
    if changes.template_type is not None:
        wanted = changes.template_type.strip().upper()
        if wanted not in TEMPLATE_TYPES:
            raise InvalidParameterError(
                "templatetype",
                f"Please specify a valid templatetype: {', '.join(TEMPLATE_TYPES)}",
            )
        return wanted
    if changes.is_routing is not None:
        return "ROUTING" if changes.is_routing else "USER"
    return current


def _format(value: str, *, iso: bool) -> ImageFormat:
    """The format an update sets: CloudStack's text for an unknown one; kind kept as it is."""
    try:
        image_format = ImageFormat(value.strip().upper())
    except ValueError:
        raise InvalidParameterError(
            "format",
            f"Image format: {value} is incorrect. Supported formats are "
            f"{', '.join(f.value for f in ImageFormat)}",
        ) from None
    # A template cannot become an ISO or an ISO a template: listings and deploys tell
    # them apart by format.
    if (image_format == ImageFormat.ISO) != iso:
        kind = "an ISO" if iso else "a template"
        raise InvalidParameterError(
            "format", f"format {image_format.value} cannot be set on {kind}"
        )
    return image_format


def _update_details(session: Session, template: Template, changes: TemplateChanges) -> None:
    """Cleanupdetails drops the shown details; details replaces them (as CloudStack).

    Download request headers (HTTP_HEADER:…) are sealed and checked with the URL at
    registration, and kvmcloud's own hidden details are not the caller's: both are kept.
    """
    if any(is_header_detail(name) for name in changes.details):
        raise InvalidParameterError(
            "details",
            "HTTP_HEADER details are set when the template is registered; kvmcloud does not "
            "change them on update",
        )
    if not changes.cleanup_details and not changes.details:
        return
    session.execute(
        delete(TemplateDetail).where(
            TemplateDetail.template_id == template.id,
            TemplateDetail.display.is_(True),
            TemplateDetail.name != METALINK_DETAIL,
            ~TemplateDetail.name.startswith("HTTP_HEADER:"),
        )
    )
    if changes.cleanup_details:
        return
    for name, value in changes.details.items():
        session.add(TemplateDetail(template_id=template.id, name=name, value=value))
