"""copyTemplate and copyIso for direct-download images: a zone record, no bytes copied."""

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_may_modify_image
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import owner_path_for
from kvmcloud.server.configuration.service import egress_policy
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, NotFoundError
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.jobs import queue
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.listing import template_records
from kvmcloud.server.templates.models import ImageFormat, Template, TemplateZoneRef
from kvmcloud.server.templates.records import TemplateRecord
from kvmcloud.server.templates.urls import check_egress

COPY_TEMPLATE_JOB = "copy_template"
COPY_TEMPLATE_CMD = "org.apache.cloudstack.api.command.user.template.CopyTemplateCmd"
COPY_ISO_CMD = "org.apache.cloudstack.api.command.user.iso.CopyIsoCmd"


def queue_copy(
    db: Database,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
    template_uuid: str,
    source_zone_uuid: str | None,
    dest_zone_uuids: Sequence[str],
    iso: bool,
) -> str:
    """Check a copy as CloudStack's copyTemplate does, then queue it; return the job's uuid.

    Raises:
        NotFoundError: no such live template (ISO) or zone (431).
        InvalidParameterError: no destination, the source among the destinations, a source
            zone the image is not in, or a URL a destination zone's egress policy refuses (431).
        PermissionDeniedError: not the caller's image to operate on (531).
    """
    if not dest_zone_uuids:
        raise InvalidParameterError(
            "destzoneid", "Either destzoneid or destzoneids parameters have to be specified."
        )
    with db.transaction() as session:
        template = get_by_uuid(session, Template, template_uuid, command=command, param="id")
        if (template.format == ImageFormat.ISO) != iso:
            raise NotFoundError(command, "id", template_uuid)
        if source_zone_uuid is not None and source_zone_uuid in dest_zone_uuids:
            raise InvalidParameterError(
                "sourcezoneid", "Please specify different source and destination zones."
            )
        if source_zone_uuid is not None:
            source = get_by_uuid(
                session, Zone, source_zone_uuid, command=command, param="sourcezoneid"
            )
            if source.id not in _zone_ids(session, template.id):
                raise InvalidParameterError(
                    "sourcezoneid",
                    f"There is no template {template_uuid} ready on image store in zone "
                    f"{source.name}.",
                )
        zones = [
            get_by_uuid(session, Zone, uuid, command=command, param="destzoneid")
            for uuid in dest_zone_uuids
        ]
        check_may_modify_image(
            caller,
            owner_account_id=template.account_id,
            public=template.public,
            image_uuid=template_uuid,
            owner_domain_path=owner_path_for(session, caller, template.account_id),
        )
        # The hosts of each new zone will download from the URL: refuse what they may not.
        for zone in zones:
            check_egress(template.url, egress_policy(session, zone.id), zone.name)
        job = queue.enqueue(
            session,
            kind=COPY_TEMPLATE_JOB,
            cmd=COPY_ISO_CMD if iso else COPY_TEMPLATE_CMD,
            payload={"template_id": template.id, "zone_ids": [z.id for z in zones]},
            now=clock(),
            account_id=caller.account_id,
            user_id=caller.user_id,
            instance_type="Iso" if iso else "Template",
            instance_uuid=template.uuid,
        )
        return job.uuid


def add_zones(
    session: Session, template_id: int, zone_ids: Sequence[int], now: datetime
) -> TemplateRecord:
    """Register a direct-download image in more zones; return it in the first of them.

    Nothing is copied: the BYPASSED, Ready store row registration wrote stands for every
    zone, and each zone's hosts download from the URL when a VM needs it. A zone it is
    already in is left as it is; one it was removed from gets it back.
    """
    template = session.get(Template, template_id)
    if template is None or template.removed is not None:
        raise InvalidParameterError("id", "Unable to find template with id")
    refs = {
        ref.zone_id: ref
        for ref in session.scalars(
            select(TemplateZoneRef).where(TemplateZoneRef.template_id == template_id)
        )
    }
    for zone_id in zone_ids:
        ref = refs.get(zone_id)
        if ref is None:
            session.add(TemplateZoneRef(template_id=template_id, zone_id=zone_id, created=now))
        elif ref.removed is not None:
            ref.removed, ref.created = None, now
    session.flush()
    (record,) = template_records(session, [(template, zone_ids[0])])
    return record


def _zone_ids(session: Session, template_id: int) -> set[int]:
    return set(
        session.scalars(
            select(TemplateZoneRef.zone_id).where(
                TemplateZoneRef.template_id == template_id, TemplateZoneRef.removed.is_(None)
            )
        )
    )
