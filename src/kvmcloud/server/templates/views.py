"""CloudStack response dicts for templates, ISOs, OS types and OS categories (pure)."""

from collections.abc import Sequence
from typing import Any

from kvmcloud.protocol.checksums import Checksum
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.accounts.access import may_act_on
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.templates.details import is_header_detail
from kvmcloud.server.templates.models import GuestOsCategory, TemplateDetail
from kvmcloud.server.templates.records import (
    HTTP_DOWNLOAD,
    ExtractUrl,
    OsTypeRecord,
    Permissions,
    PoolCopy,
    Registration,
    TemplateRecord,
)

BYPASSED_STATUS = "Bypassed Secondary Storage"
# CloudStack's Upload.Status once an extract URL exists.
URL_CREATED = "DOWNLOAD_URL_CREATED"


def template_response(record: TemplateRecord, *, show_private: bool = True) -> dict[str, Any]:
    """Map a template (in one zone) to CloudStack's template/iso object.

    ``show_private`` is for the template's owner and admins: the status, and the URL's
    query as registered (a presigned URL's signature). Others get the URL with its query
    values masked. A userinfo password is masked for everyone.
    """
    template, zone, account, domain = record.template, record.zone, record.account, record.domain
    guest_os = record.guest_os
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
        "url": redact_url(template.url, keep_query=show_private),
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
        "details": redacted_details(record.details),
        "downloaddetails": [_download_details(copy) for copy in record.copies],
        "bits": template.bits,
        "templatetag": template.template_tag,
        "tags": [],
    }
    return without_none(item)


def listed_template_response(record: TemplateRecord, caller: Caller) -> dict[str, Any]:
    """Map a listed template; its URL and status are shown to admins over its owner only."""
    domain_path = record.domain.path if record.domain else None
    owner = may_act_on(caller, record.template.account_id, domain_path)
    return template_response(record, show_private=owner)


def registration_response(registration: Registration) -> list[dict[str, Any]]:
    """Map a registered template for its owner, one object per zone, with its mirrors' checks."""
    items = [template_response(record) for record in registration.records]
    if not registration.mirrors:
        return items
    # kvmcloud extension: a Metalink's registration says how each mirror checked out. The
    # agent masks the mirrors' credentials; masked again here for agents that did not.
    mirrors = [
        without_none(
            {
                "url": redact_url(m.url),
                "ok": m.ok,
                "errortext": m.error.message if m.error else None,
            }
        )
        for m in registration.mirrors
    ]
    return [{**item, "mirrors": mirrors} for item in items]


def redacted_details(details: Sequence[TemplateDetail]) -> dict[str, Any]:
    """Map shown details; header values are secrets (tokens) and never shown."""
    return {
        d.name: ("******" if is_header_detail(d.name) else d.value) for d in details if d.display
    }


def permissions_response(permissions: Permissions, caller: Caller) -> dict[str, Any]:
    """Map a template's permissions to CloudStack's templatepermission object.

    As CloudStack's: the owner's domain only for admins; ``account`` lists the accounts it
    is shared with, and its owner while it is private.
    """
    domain = permissions.domain
    show_domain = caller.is_admin or caller.account_type == AccountType.DOMAIN_ADMIN
    return without_none(
        {
            "id": permissions.template.uuid,
            "ispublic": permissions.template.public,
            "domainid": domain.uuid if domain is not None and show_domain else None,
            "account": list(permissions.account_names),
            "projectids": [],
        }
    )


def os_type_response(record: OsTypeRecord) -> dict[str, Any]:
    """Map a guest OS type to CloudStack's ostype object."""
    return {
        "id": record.guest_os.uuid,
        "description": record.guest_os.display_name,
        "name": record.guest_os.display_name,
        "oscategoryid": record.category.uuid,
        "oscategoryname": record.category.name,
        "isuserdefined": record.guest_os.is_user_defined,
        "fordisplay": True,
    }


def os_category_response(category: GuestOsCategory) -> dict[str, Any]:
    """Map a guest OS category to CloudStack's oscategory object."""
    return {"id": category.uuid, "name": category.name}


def _download_details(copy: PoolCopy) -> dict[str, Any]:
    ref, pool = copy.ref, copy.pool
    return without_none(
        {
            "datastore": pool.name,
            "datastoreid": pool.uuid,
            "downloadPercent": ref.download_pct,
            "downloadState": ref.download_state,
            "jobid": ref.job_id,
            "installpath": ref.install_path,
            "errortext": ref.error_str,
        }
    )


def extract_response(extract: ExtractUrl) -> dict[str, Any]:
    """Map an extract URL to CloudStack's ExtractResponse (createImageExtractResponse).

    ``resultstring`` says where the bytes come from: a signed URL on this management
    server relaying a verified pool copy (with its expiry), or the registered URL.
    """
    if extract.pool_name is not None:
        result = (
            f"Served by the management server from the verified copy on pool "
            f"{extract.pool_name}; the URL expires at {format_date(extract.expires)}"
        )
    else:
        result = (
            "No verified copy on a pool an Up host reaches: this is the registered URL "
            f"(credentials masked; {extract.checked or 'not checked'})"
        )
    zone = extract.zone
    return without_none(
        {
            "id": extract.template.uuid,
            "name": extract.template.name,
            "accountid": extract.account.uuid if extract.account else None,
            "state": URL_CREATED,
            "zoneid": zone.uuid if zone else None,
            "zonename": zone.name if zone else None,
            "extractMode": HTTP_DOWNLOAD,
            "url": extract.url,
            "created": format_date(extract.created),
            "storagetype": "Primary" if extract.pool_name is not None else None,
            "resultstring": result,
        }
    )
