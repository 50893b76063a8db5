"""extractTemplate/extractIso: the checks, the URL a job makes, and serving a signed URL."""

import logging
import random
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.accounts.access import check_may_launch, may_act_on
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account
from kvmcloud.server.accounts.owners import owner_path_for
from kvmcloud.server.agent_client import (
    AgentClient,
    AgentEndpoint,
    FileStream,
    PoolFileMissingError,
    error_from_answer,
)
from kvmcloud.server.configuration.definitions import DISABLE_EXTRACTION, EXTRACT_URL_EXPIRATION_S
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.errors import (
    ApiError,
    DownloadRefusedError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    ResourceUnavailableError,
)
from kvmcloud.server.infrastructure.models import StoragePool, Zone
from kvmcloud.server.infrastructure.service import endpoint_for, hosts_reaching_pool, pool_spec
from kvmcloud.server.jobs import queue
from kvmcloud.server.queries import get_by_uuid, get_by_uuid_if_given
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.settings import ServerSettings
from kvmcloud.server.templates.copies import state_of, template_headers
from kvmcloud.server.templates.copy_states import is_ready
from kvmcloud.server.templates.extract_tokens import (
    ExpiredTokenError,
    ExtractClaims,
    TokenError,
    sign_token,
    signing_key,
    verify_token,
)
from kvmcloud.server.templates.listing import is_shared_with
from kvmcloud.server.templates.models import ImageFormat, Template, TemplatePoolRef, TemplateZoneRef
from kvmcloud.server.templates.records import HTTP_DOWNLOAD, ExtractUrl
from kvmcloud.server.templates.registration import UrlCheckPlan, plan_url_check

logger = logging.getLogger(__name__)

EXTRACT_TEMPLATE_JOB = "extract_template"
EXTRACT_ISO_JOB = "extract_iso"
EXTRACT_TEMPLATE_CMD = "org.apache.cloudstack.api.command.user.template.ExtractTemplateCmd"
EXTRACT_ISO_CMD = "org.apache.cloudstack.api.command.user.iso.ExtractIsoCmd"
FTP_UPLOAD = "FTP_UPLOAD"
# Where the management server serves signed extract URLs (api/extract_routes.py).
EXTRACT_PATH = "/client/extract/"
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {ImageFormat.QCOW2: "qcow2", ImageFormat.RAW: "raw", ImageFormat.ISO: "iso"}


def queue_extract(
    db: Database,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
    template_uuid: str,
    zone_uuid: str | None,
    mode: str,
    iso: bool,
) -> str:
    """Check an extract request as CloudStack does and queue its job; return the job uuid."""
    with db.transaction() as session:
        if not caller.is_admin and get_value(session, DISABLE_EXTRACTION):
            raise PermissionDeniedError("Extraction has been disabled by admin")
        _check_mode(mode)
        template = get_by_uuid(session, Template, template_uuid, command=command, param="id")
        what = "ISO" if iso else "template"
        if template.type == "SYSTEM":
            raise InvalidParameterError(
                "id",
                f"Unable to extract the {what.upper()} {template.name} as it is a default "
                "System template",
            )
        if (template.format == ImageFormat.ISO) != iso:
            raise InvalidParameterError("id", f"Unsupported format, could not extract the {what}")
        zone = get_by_uuid_if_given(session, Zone, zone_uuid, command=command, param="zoneid")
        if not caller.is_admin and not template.extractable:
            raise InvalidParameterError(
                "id", f"Unable to extract template id={template.uuid} as it's not extractable"
            )
        owner_path = owner_path_for(session, caller, template.account_id)
        check_may_launch(
            caller,
            owner_account_id=template.account_id,
            public=template.public or is_shared_with(session, template.id, caller.account_id),
            image_uuid=template.uuid,
            owner_domain_path=owner_path,
        )
        if zone is not None and not _registered_in(session, template.id, zone.id):
            raise InvalidParameterError(
                "zoneid", f"The {what} {template.name} is not registered in zone {zone.name}"
            )
        job = queue.enqueue(
            session,
            kind=EXTRACT_ISO_JOB if iso else EXTRACT_TEMPLATE_JOB,
            cmd=EXTRACT_ISO_CMD if iso else EXTRACT_TEMPLATE_CMD,
            payload={
                "template_id": template.id,
                "zone_id": zone.id if zone is not None else None,
                "mode": HTTP_DOWNLOAD,
                # The registered URL's query (a presigned URL's signature) is shown, as in
                # listTemplates, to the owner and admins over it only.
                "show_query": may_act_on(caller, template.account_id, owner_path),
            },
            now=clock(),
            account_id=caller.account_id,
            user_id=caller.user_id,
            instance_type="Iso" if iso else "Template",
            instance_uuid=template.uuid,
        )
        return job.uuid


def _check_mode(mode: str) -> None:
    if mode.upper() == FTP_UPLOAD:
        raise InvalidParameterError(
            "mode",
            "kvmcloud extracts with mode=HTTP_DOWNLOAD only; FTP_UPLOAD is not supported",
        )
    if mode.upper() != HTTP_DOWNLOAD:
        raise InvalidParameterError("mode", "Please specify a valid extract Mode")


def _registered_in(session: Session, template_id: int, zone_id: int) -> bool:
    found = session.scalar(
        select(TemplateZoneRef.id).where(
            TemplateZoneRef.template_id == template_id,
            TemplateZoneRef.zone_id == zone_id,
            TemplateZoneRef.removed.is_(None),
        )
    )
    return found is not None


@dataclass(frozen=True, slots=True)
class ExtractPlan:
    """The URL to answer; for the registered URL, how to check it still answers first."""

    extract: ExtractUrl
    # None when the URL is a signed one, or when no Up host could check the registered one.
    check: UrlCheckPlan | None


def make_extract_url(
    session: Session,
    payload: dict[str, Any],
    *,
    box: SecretBox,
    settings: ServerSettings,
    now: datetime,
    rng: random.Random,
) -> ExtractPlan:
    """Sign a URL to a verified copy on a pool an Up host reaches, or plan the registered URL.

    A copy in the requested zone (any of the template's zones without one) is preferred;
    with none, the template's registered URL is answered, credentials masked, once an Up
    host of the zone has checked it still answers (``check``; sent by the job with no
    transaction open, as at registration).

    Raises:
        NotFoundError: the template was deleted since the request.
    """
    template = session.get(Template, int(payload["template_id"]))
    if template is None or template.removed is not None:
        raise NotFoundError("extractTemplate", "id", str(payload["template_id"]))
    zone_id = payload.get("zone_id")
    zone = session.get(Zone, int(zone_id)) if zone_id is not None else None
    account = session.get(Account, template.account_id)
    copy = _readable_copy(session, template.id, zone.id if zone is not None else None)
    if copy is None:
        url = redact_url(template.url, keep_query=bool(payload.get("show_query")))
        extract = ExtractUrl(template, account, zone, url, None, None, now)
        return ExtractPlan(extract, _plan_check(session, template, zone, box, rng))
    ref, pool = copy
    if zone is None:
        zone = session.get(Zone, pool.data_center_id)
    lifetime_s = get_value(session, EXTRACT_URL_EXPIRATION_S)
    expires = now + timedelta(seconds=lifetime_s)
    claims = ExtractClaims(ref.id, template.uuid, int(expires.timestamp()))
    token = sign_token(claims, box.current, signing_key(box.keys[box.current]))
    url = f"{public_base_url(settings)}{EXTRACT_PATH}{token}"
    return ExtractPlan(ExtractUrl(template, account, zone, url, pool.name, expires, now), None)


def _plan_check(
    session: Session, template: Template, zone: Zone | None, box: SecretBox, rng: random.Random
) -> UrlCheckPlan | None:
    zones = [zone] if zone is not None else template_zones(session, template.id)
    headers = template_headers(session, template, box)
    try:
        return plan_url_check(session, template.url, template.format, headers, zones, rng)
    except ResourceUnavailableError:
        return None


def template_zones(session: Session, template_id: int) -> list[Zone]:
    """The zones the template is registered in, oldest record first."""
    query = (
        select(Zone)
        .join(TemplateZoneRef, TemplateZoneRef.zone_id == Zone.id)
        .where(TemplateZoneRef.template_id == template_id, TemplateZoneRef.removed.is_(None))
        .order_by(TemplateZoneRef.id)
    )
    return list(session.scalars(query))


def checked_extract(plan: ExtractPlan, answer: msg.Answer | None) -> ExtractUrl:
    """The registered URL's answer once a host checked it (``answer``; None: not checked).

    Raises:
        ResourceUnavailableError: the check failed: the URL no longer answers from the zone,
            so no working URL can be given (534, with the host's reason).
    """
    extract, check = plan.extract, plan.check
    if check is None:
        return replace(extract, checked="not checked: no Up host in the zone")
    if answer is None or not answer.ok:
        error = error_from_answer(
            answer or msg.Answer(ok=False),
            f"No verified copy of {extract.template.name} is on a pool an Up host reaches, "
            f"and its registered URL {redact_url(extract.template.url)} failed the check on "
            f"host {check.endpoint.name}",
            url=extract.template.url,
        )
        raise ResourceUnavailableError(error.message)
    return replace(extract, checked=f"checked from host {check.endpoint.name}")


def public_base_url(settings: ServerSettings) -> str:
    """Where users reach this server's API listener: KVMCLOUD_PUBLIC_URL, else its address."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.agent_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.listen_port}"


def _readable_copy(
    session: Session, template_id: int, zone_id: int | None
) -> tuple[TemplatePoolRef, StoragePool] | None:
    query = (
        select(TemplatePoolRef, StoragePool)
        .join(StoragePool, TemplatePoolRef.pool_id == StoragePool.id)
        .where(TemplatePoolRef.template_id == template_id, StoragePool.removed.is_(None))
        .order_by(TemplatePoolRef.id)
    )
    if zone_id is not None:
        query = query.where(StoragePool.data_center_id == zone_id)
    for ref, pool in session.execute(query):
        if _is_servable(ref) and hosts_reaching_pool(session, pool):
            return ref, pool
    return None


def _is_servable(ref: TemplatePoolRef) -> bool:
    return (
        is_ready(state_of(ref))
        and not ref.marked_for_gc
        and ref.local_path is not None
        and ref.physical_size > 0
    )


# --- serving a signed URL ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    endpoint_host: AgentEndpoint
    request: msg.ReadPoolFileRequest
    file_name: str


@dataclass(frozen=True, slots=True)
class OpenedDownload:
    """A pool copy being relayed: the agent's stream, the file name to offer, and close()."""

    stream: FileStream
    file_name: str
    close: Callable[[], None]


class ExtractDownloads:
    """Serves ``/client/extract/<token>``: checks the token, then relays a host's copy."""

    def __init__(
        self,
        db: Database,
        agents: AgentClient,
        box: SecretBox,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._agents = agents
        self._box = box
        self._clock = clock

    def open(self, token: str, byte_range: str | None) -> OpenedDownload:
        """Open the stream a valid token names; nothing is looked up for a bad token.

        Raises:
            DownloadRefusedError: 403 for a bad or expired token, 404 when the copy is gone,
                503 when no Up host reaches its pool or the host cannot serve it.
        """
        keys = {key_id: signing_key(key) for key_id, key in self._box.keys.items()}
        try:
            claims = verify_token(token, keys, self._clock().timestamp())
        except ExpiredTokenError:
            raise DownloadRefusedError(
                403, "This extract URL has expired; call extractTemplate or extractIso again"
            ) from None
        except TokenError:
            raise DownloadRefusedError(403, "This extract URL is not valid") from None
        with self._db.transaction() as session:
            source = _source(session, claims)
        stack = ExitStack()
        try:
            stream = stack.enter_context(
                self._agents.read_pool_file(
                    source.endpoint_host, source.request, byte_range=byte_range
                )
            )
        except PoolFileMissingError as exc:
            logger.warning("extract of %s refused by its host: %s", claims.template_uuid, exc)
            raise DownloadRefusedError(404, "The copy this URL names is no longer there") from None
        except ApiError as exc:
            logger.warning("extract of %s failed: %s", claims.template_uuid, exc.message)
            raise DownloadRefusedError(
                503, "No host can serve the copy this URL names just now; try again later"
            ) from None
        return OpenedDownload(stream, source.file_name, stack.close)


def _source(session: Session, claims: ExtractClaims) -> _Source:
    """The host to ask for the copy a token names: only a Ready copy recorded on a pool."""
    ref = session.get(TemplatePoolRef, claims.ref_id)
    template = session.get(Template, ref.template_id) if ref is not None else None
    if (
        ref is None
        or template is None
        or template.uuid != claims.template_uuid
        or template.removed is not None
        or not _is_servable(ref)
    ):
        raise DownloadRefusedError(404, "The copy this URL names is no longer there")
    pool = session.get(StoragePool, ref.pool_id)
    hosts = hosts_reaching_pool(session, pool) if pool is not None else []
    if pool is None or not hosts:
        raise DownloadRefusedError(
            503, "No host can serve the copy this URL names just now; try again later"
        )
    assert ref.local_path is not None
    request = msg.ReadPoolFileRequest(
        pool=pool_spec(pool), name=ref.local_path, size_bytes=ref.physical_size
    )
    # Offered as the download's file name: header-safe characters only.
    stem = _UNSAFE_FILE_CHARS.sub("_", template.name).strip("._") or template.uuid
    file_name = f"{stem[:100]}.{_EXTENSIONS.get(template.format, 'img')}"
    return _Source(endpoint_for(hosts[0]), request, file_name)
