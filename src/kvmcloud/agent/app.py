"""create_app(settings): the agent's composition root and its HTTP routes.

Routes (protocol in ``protocol/agent_messages.py``):

* ``POST /enroll``: once, with the enrolment token: the server hands over the per-host
  key and a certificate from its CA; the agent saves them, deletes the token, requires
  CA client certificates from then on, starts heartbeats and replies with a HostReport.
  Refused (409) once enrolled, until ``kvmcloud-agent reset-enrolment`` on the host.
* ``POST /commands``: run a command (idempotent by id); 200 when done, 202 while running.
  This and the next need the per-host key and the management server's certificate.
* ``GET /commands/{id}?wait_s=N``: the command's status, long-polling up to N seconds.
* ``POST /pool-files/read``: the bytes of a template copy the server recorded as verified
  (extractTemplate's download URL); one ``Range`` honoured. Same authentication.
* ``POST /peer-files/read``: the bytes of a verified copy for another agent of the zone
  (peer sources); the body is the server's grant, signed with this host's key; the client
  is authenticated by its certificate from the same CA. Capped by the grant's rate and
  concurrent uploads; one ``Range`` honoured.

Everything the agent constructs is constructed here; other modules receive collaborators.
Before it serves anything, the agent removes its own partial files left in the pools it
remembers by a run that was killed (``recovery.PoolKeeper``); its first heartbeat then
lists what those pools hold.
VMs belong to libvirtd, not to this process: stopping or restarting the agent leaves them
running, and the next heartbeat reports them again.
"""

import hmac
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kvmcloud import pki
from kvmcloud.agent.byte_ranges import UnsatisfiableRangeError, parse_range
from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.command_registry import (
    CommandRegistry,
    RegistryClosedError,
    RegistryFullError,
)
from kvmcloud.agent.downloads.base import Downloader
from kvmcloud.agent.downloads.engine import METALINK
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.metalink import MetalinkDownloader
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.downloads.peers import PeerFetcher
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.agent.enrollment import (
    Enrollment,
    EnrollmentStateError,
    load_enroll_token,
    load_enrollment,
    load_or_create_enroll_token,
    remove_enroll_token,
    save_enrollment,
)
from kvmcloud.agent.enrollment_rules import FailureBucket, token_expired
from kvmcloud.agent.errors import BadCommandError, PoolFileMismatchError, PoolUnavailableError
from kvmcloud.agent.handlers import CommandHandlers
from kvmcloud.agent.heartbeat import HeartbeatLoop
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.agent.host.report import HostReporter, is_kvm_usable
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS
from kvmcloud.agent.nfs_mount import detect_access
from kvmcloud.agent.peer_serving import UploadLease, UploadSlots, pause_s
from kvmcloud.agent.pool_kinds import open_pool
from kvmcloud.agent.recovery import PoolKeeper
from kvmcloud.agent.settings import AgentSettings
from kvmcloud.agent.tls_identity import IdentityError, TlsIdentity
from kvmcloud.agent.vms.libvirt import LibvirtHost
from kvmcloud.agent.vms.lifecycle import Hypervisor, VmLifecycle
from kvmcloud.agent.vms.volume_checks import VolumeImages
from kvmcloud.listeners import BodyTooLargeError, client_certificate, read_capped_body
from kvmcloud.protocol.agent_messages import (
    AGENT_KEEPALIVE_S,
    AUTHORIZATION_SCHEME,
    CommandState,
    CommandStatus,
    EnrollRequest,
    HostReport,
    MessageFormatError,
    PeerGrant,
    PoolHealth,
    PoolInventory,
    ReadPoolFileRequest,
    VmPowerState,
    command_from_json,
    from_json,
    to_json,
)
from kvmcloud.protocol.peer_grants import GrantRefusedError, check_grant

logger = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
MAX_BODY_BYTES = 1024 * 1024
# An enrolment request is a few identifiers, a certificate and a CA certificate.
MAX_ENROLL_BODY_BYTES = 64 * 1024
SHUTDOWN_DRAIN_S = 30.0
# A pool file is streamed in pieces this large (read in a worker thread).
READ_CHUNK_BYTES = 1024 * 1024
HEARTBEAT_HTTP_TIMEOUT_S = 10.0


class EnrollmentDeniedError(Exception):
    """The enrolment token in the request is wrong, expired or missing (HTTP 403)."""


class AlreadyEnrolledError(Exception):
    """The agent is enrolled: only ``kvmcloud-agent reset-enrolment`` on the host undoes it."""


class EnrollmentThrottledError(Exception):
    """Too many failed enrolment attempts lately (HTTP 429)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            f"too many failed enrolment attempts; retry in {math.ceil(retry_after_s)} s"
        )
        self.retry_after_s = retry_after_s


class AgentRuntime:
    """The state the routes share: enrolment, the command registry and heartbeats."""

    def __init__(
        self,
        *,
        settings: AgentSettings,
        identity: TlsIdentity,
        registry: CommandRegistry,
        report: Callable[[], HostReport],
        vm_states: Callable[[], dict[str, VmPowerState]],
        certificates: Callable[[], dict[str, str]],
        http_client: httpx.Client,
        owns_http_client: bool,
        keeper: PoolKeeper | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.registry = registry
        self._wall_clock = wall_clock
        self._failures = FailureBucket()
        self._report = report
        self._vm_states = vm_states
        self._certificates = certificates
        self._http_client = http_client
        self._owns_http_client = owns_http_client
        self.keeper = keeper
        self._lock = threading.Lock()
        # One enrolment at a time: two racing requests with the token cannot both win.
        self._enroll_lock = threading.Lock()
        self._enrollment: Enrollment | None = None
        self._heartbeat: HeartbeatLoop | None = None
        self._shutdown_started = False

    def start(self) -> None:
        """Remove this agent's stale partial files; resume heartbeating if enrolled before.

        Runs before the first command is taken, so no partial file of this agent can be
        in use yet.
        """
        if self.keeper is not None:
            self.keeper.remove_stale_partials()
        enrollment = load_enrollment(self.settings.state_dir)
        if enrollment is not None:
            logger.info("resuming as host %s of %s", enrollment.host_uuid, enrollment.server_url)
            self._adopt(enrollment)

    def check_enroll_token(self, token: str) -> None:
        """Check an enrolment attempt before its body is read.

        Refused, in this order: while failed attempts are throttled; when the agent is
        enrolled already; when the token is not the current one or has expired. Each
        refusal counts as a failed attempt.

        Raises:
            EnrollmentThrottledError, AlreadyEnrolledError, EnrollmentDeniedError.
            EnrollmentStateError: the state directory cannot be read.
        """
        now_s = self._wall_clock()
        with self._lock:
            retry_after_s = self._failures.retry_after_s(now_s)
            if retry_after_s > 0:
                raise EnrollmentThrottledError(retry_after_s)
        try:
            self._check_enroll_token(token, now_s)
        except (AlreadyEnrolledError, EnrollmentDeniedError):
            with self._lock:
                self._failures.record_failure(now_s)
            raise

    def _check_enroll_token(self, token: str, now_s: float) -> None:
        state_dir = self.settings.state_dir
        # Read from disk each time: reset-enrolment and new-token are run on the host.
        if load_enrollment(state_dir) is not None or self.identity.issued:
            raise AlreadyEnrolledError(
                "this agent is already enrolled; to enrol it again run "
                "'kvmcloud-agent reset-enrolment' on the host"
            )
        stored = load_enroll_token(state_dir)
        if stored is None:
            raise EnrollmentDeniedError(
                "this agent has no enrolment token; run 'kvmcloud-agent new-token' on the host"
            )
        if not token or not hmac.compare_digest(token.encode(), stored.secret.encode()):
            raise EnrollmentDeniedError("wrong enrolment token")
        if token_expired(stored.created_s, now_s, self.settings.enroll_token_ttl_s):
            raise EnrollmentDeniedError(
                "the enrolment token has expired; run 'kvmcloud-agent new-token' on the host"
            )

    def enroll(self, token: str, request: EnrollRequest) -> HostReport:
        """Join the server as ``request.host_uuid`` with the certificate its CA issued.

        The token is consumed: it is removed, and the agent refuses any other enrolment
        until ``kvmcloud-agent reset-enrolment`` is run on the host.

        Raises:
            EnrollmentThrottledError, AlreadyEnrolledError, EnrollmentDeniedError.
            IdentityError: the certificate is not for this agent's key or CA.
            EnrollmentStateError: the enrolment cannot be saved.
        """
        with self._enroll_lock:
            self.check_enroll_token(token)
            self.identity.install(request.certificate_pem, request.ca_pem)
            enrollment = Enrollment(
                host_uuid=request.host_uuid,
                host_key=request.host_key,
                server_url=request.server_url.rstrip("/"),
            )
            save_enrollment(self.settings.state_dir, enrollment)
            remove_enroll_token(self.settings.state_dir)
        self._adopt(enrollment)
        logger.info("enrolled as host %s of %s", enrollment.host_uuid, enrollment.server_url)
        return self._report()

    def is_authorized(self, authorization: str | None) -> bool:
        """Tell whether an ``Authorization`` header carries the current host key."""
        with self._lock:
            enrollment = self._enrollment
        if enrollment is None or not authorization:
            return False
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != AUTHORIZATION_SCHEME.lower():
            return False
        return hmac.compare_digest(key.strip().encode("utf-8"), enrollment.host_key.encode("utf-8"))

    def open_pool_file(self, request: ReadPoolFileRequest) -> BinaryIO:
        """Open a template copy the server asks to read, from a pool this agent has used.

        Only pools a command named before (remembered by the PoolKeeper, same uuid, type
        and path) are read: a request cannot turn an arbitrary directory into a pool.

        Raises:
            PoolFileMismatchError: the pool is not one this agent used, or the file is absent
                or not the regular file of the size recorded.
            BadCommandError: the name is not a safe file name.
            PoolUnavailableError: the file cannot be opened.
        """
        remembered = self.keeper.remembered() if self.keeper is not None else []
        if request.pool not in remembered:
            raise PoolFileMismatchError(f"pool {request.pool.uuid} is not one this agent uses")
        nfs = self.keeper.nfs if self.keeper is not None else USERSPACE_ACCESS
        return open_pool(request.pool, nfs).open_published(request.name, request.size_bytes)

    def open_peer_file(self, grant: PeerGrant) -> BinaryIO:
        """Open the copy a peer's grant names, if the server signed it with this host's key.

        Raises:
            GrantRefusedError: not signed with this host's key, or expired.
            PoolFileMismatchError, BadCommandError, PoolUnavailableError: as
                :meth:`open_pool_file`.
        """
        with self._lock:
            enrollment = self._enrollment
        if enrollment is None:
            raise GrantRefusedError("this agent is not enrolled")
        check_grant(grant, enrollment.host_key, now_s=self._wall_clock())
        return self.open_pool_file(
            ReadPoolFileRequest(pool=grant.pool, name=grant.name, size_bytes=grant.size_bytes)
        )

    def begin_shutdown(self) -> None:
        """Stop taking commands, cancel running downloads and release long polls."""
        self._shutdown_started = True
        self.registry.close()

    def shutdown(self) -> None:
        """Drain: cancel and await downloads, send a final heartbeat, release clients.

        VMs are not touched: they are libvirtd's and keep running.
        """
        self.begin_shutdown()
        if not self.registry.join(SHUTDOWN_DRAIN_S):
            logger.warning("some commands did not stop within %g s", SHUTDOWN_DRAIN_S)
        with self._lock:
            heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop(final=True)
        if self._owns_http_client:
            self._http_client.close()

    def _adopt(self, enrollment: Enrollment) -> None:
        heartbeat = HeartbeatLoop(
            enrollment=enrollment,
            client=self._http_client,
            report=self._report,
            vm_states=self._vm_states,
            certificates=self._certificates,
            pool_inventory=self._pool_inventory,
            pool_health=self._pool_health,
            pool_check_interval_s=self.settings.pool_check_interval_s,
        )
        with self._lock:
            if self._shutdown_started:
                return
            previous, self._heartbeat = self._heartbeat, heartbeat
            self._enrollment = enrollment
        if previous is not None:
            # Do not wait: the old loop may be stuck talking to an unreachable server.
            previous.stop(wait=False)
        heartbeat.start()

    def _pool_health(self) -> list[PoolHealth]:
        return self.keeper.health() if self.keeper is not None else []

    def _pool_inventory(self) -> list[PoolInventory]:
        return self.keeper.inventory() if self.keeper is not None else []


def create_app(
    settings: AgentSettings,
    *,
    downloaders: Mapping[str, Downloader] | None = None,
    qemu_img: VolumeImages | None = None,
    hypervisor: Hypervisor | None = None,
    kvm_usable: Callable[[], bool] = is_kvm_usable,
    host_report: Callable[[], HostReport] | None = None,
    http_client: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    identity: TlsIdentity | None = None,
    require_server_certificate: bool = True,
) -> Starlette:
    """Build the agent: collaborators default to the real ones for this host.

    ``require_server_certificate=False`` serves the routes without checking the TLS
    client's certificate: for in-process tests only, where no TLS is spoken.
    """
    if identity is None:
        identity = TlsIdentity.open(settings.state_dir, datetime.now(UTC))
    if not identity.issued:
        load_or_create_enroll_token(settings.state_dir, time.time())
    if downloaders is None:
        downloaders = default_downloaders(settings, clock=clock)
    libvirt_host: LibvirtHost | None = None
    if hypervisor is None:
        # Connects lazily: the agent starts, and heartbeats, while libvirtd is still down.
        libvirt_host = hypervisor = LibvirtHost(settings.libvirt_uri)
    # The directory the HTTPS downloaders' TrustStore reads at every transfer.
    certificates = CertificateStore(settings.cert_dir)
    nfs = detect_access(
        settings.nfs_mode,
        mount_base=settings.nfs_mount_base,
        probe_timeout_s=settings.nfs_probe_timeout_s,
    )
    logger.info("NetworkFilesystem pools: %s mode (%s)", nfs.mode.value, nfs.reason)
    keeper = PoolKeeper.open(settings.state_dir, nfs=nfs)
    handlers = CommandHandlers(
        downloaders=downloaders,
        qemu_img=qemu_img if qemu_img is not None else QemuImg(),
        vms=VmLifecycle(
            hypervisor=hypervisor,
            console_dir=settings.console_dir,
            kvm_usable=kvm_usable,
            nfs=nfs,
        ),
        certificates=certificates,
        keeper=keeper,
        identity=identity,
        nfs=nfs,
        peers=PeerFetcher(identity.client_context, clock=clock),
    )
    runtime = AgentRuntime(
        settings=settings,
        identity=identity,
        registry=CommandRegistry(handlers.execute, clock=clock),
        report=host_report if host_report is not None else HostReporter().report,
        vm_states=hypervisor.states,
        certificates=certificates.held,
        http_client=http_client or heartbeat_client(identity),
        owns_http_client=http_client is None,
        keeper=keeper,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(runtime.start)
        try:
            yield
        finally:
            await run_in_threadpool(runtime.shutdown)
            if libvirt_host is not None:
                # Closing the connection leaves every domain running.
                await run_in_threadpool(libvirt_host.close)

    routes = _Routes(runtime, require_server_certificate=require_server_certificate)
    app = Starlette(
        routes=[
            Route("/enroll", routes.enroll, methods=["POST"]),
            Route("/commands", routes.post_command, methods=["POST"]),
            Route("/commands/{command_id}", routes.get_command, methods=["GET"]),
            Route("/pool-files/read", routes.read_pool_file, methods=["POST"]),
            Route("/peer-files/read", routes.read_peer_file, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.agent = runtime
    return app


def heartbeat_client(identity: TlsIdentity) -> httpx.Client:
    """The heartbeat's client: one connection to the server, kept open between beats.

    Kept longer than any heartbeat interval (``AGENT_KEEPALIVE_S``), a beat costs the
    server no TLS handshake; the server keeps it a little longer still.
    """
    return httpx.Client(
        timeout=HEARTBEAT_HTTP_TIMEOUT_S,
        verify=identity.client_context(),
        limits=httpx.Limits(keepalive_expiry=AGENT_KEEPALIVE_S),
    )


def default_downloaders(
    settings: AgentSettings, *, clock: Callable[[], float] = time.monotonic
) -> dict[str, Downloader]:
    """Return the downloaders by scheme, plus ``"metalink"`` for metalink documents."""
    http = HttpDownloader(
        buffer_size_bytes=settings.buffer_size_bytes,
        trust=TrustStore(settings.cert_dir),
        clock=clock,
    )
    nfs = NfsDownloader(buffer_size_bytes=settings.buffer_size_bytes, clock=clock)
    by_scheme: dict[str, Downloader] = {"http": http, "https": http, "nfs": nfs}
    # Mirrors are fetched with the same downloaders, so they share the trust store.
    return {**by_scheme, METALINK: MetalinkDownloader(inner=by_scheme, clock=clock)}


def agent_runtime(app: Starlette) -> AgentRuntime:
    """Return the runtime behind an app made by :func:`create_app`."""
    runtime = app.state.agent
    assert isinstance(runtime, AgentRuntime)
    return runtime


class _Routes:
    """The HTTP endpoints; blocking work goes to the thread pool."""

    def __init__(self, runtime: AgentRuntime, *, require_server_certificate: bool) -> None:
        self._runtime = runtime
        self._require_server_certificate = require_server_certificate
        self._uploads = UploadSlots()

    def _authorized(self, request: Request) -> bool:
        """The bearer key, and (over TLS) the management server's certificate."""
        if not self._runtime.is_authorized(request.headers.get("authorization")):
            return False
        if not self._require_server_certificate:
            return True
        # The TLS layer verified it against the CA; the name tells a server from an agent.
        pem = client_certificate(request.scope)
        return pem is not None and pki.common_name(pem) == pki.SERVER_COMMON_NAME

    async def enroll(self, request: Request) -> Response:
        # The token comes in a header and is checked before one byte of the body is read.
        token = _bearer(request.headers.get("authorization"))
        refused = await self._refuse_enrolment(request, token)
        if refused is not None:
            return refused
        try:
            body = await read_capped_body(request, MAX_ENROLL_BODY_BYTES)
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        try:
            enroll_request = from_json(EnrollRequest, body)
            _check_enroll_request(enroll_request)
        except MessageFormatError as exc:
            return _error(400, str(exc))
        try:
            report = await run_in_threadpool(self._runtime.enroll, token, enroll_request)
        except IdentityError as exc:
            return _error(400, f"the certificate offered is unusable: {exc}")
        except EnrollmentStateError as exc:
            logger.error("enrolment could not be saved: %s", exc)
            return _error(500, "the agent could not save its enrolment; see its log")
        except (EnrollmentThrottledError, AlreadyEnrolledError, EnrollmentDeniedError):
            # Lost a race with another enrolment: answer as the header check would have.
            refused = await self._refuse_enrolment(request, token)
            return refused or _error(409, "enrolment failed; try again")
        return _json(200, to_json(report))

    async def _refuse_enrolment(self, request: Request, token: str) -> Response | None:
        try:
            await run_in_threadpool(self._runtime.check_enroll_token, token)
        except EnrollmentThrottledError as exc:
            response = _error(429, str(exc))
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
            return response
        except AlreadyEnrolledError as exc:
            logger.warning("re-enrolment refused from %s", _client(request))
            return _error(409, str(exc))
        except EnrollmentDeniedError as exc:
            logger.warning("enrolment refused from %s: %s", _client(request), exc)
            return _error(403, str(exc))
        except EnrollmentStateError as exc:
            logger.error("enrolment state unreadable: %s", exc)
            return _error(500, "the agent could not read its enrolment state; see its log")
        return None

    async def post_command(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        try:
            envelope = command_from_json(await read_capped_body(request, MAX_BODY_BYTES))
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        except MessageFormatError as exc:
            return _error(400, str(exc))
        try:
            status = await run_in_threadpool(self._runtime.registry.submit, envelope)
        except (RegistryClosedError, RegistryFullError) as exc:
            return _error(503, str(exc))
        return _status(status)

    async def get_command(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        command_id = request.path_params["command_id"]
        try:
            wait_s = float(request.query_params.get("wait_s", "0"))
        except ValueError:
            return _error(400, "wait_s must be a number of seconds")
        if not 0 <= wait_s < float("inf"):
            return _error(400, "wait_s must be a non-negative number of seconds")
        wait_s = min(wait_s, MAX_WAIT_S)
        registry = self._runtime.registry
        status = (
            await run_in_threadpool(registry.wait, command_id, wait_s)
            if wait_s > 0
            else registry.status(command_id)
        )
        if status is None:
            return _error(404, f"unknown command id {command_id!r}")
        return _status(status)

    async def read_pool_file(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        try:
            read = from_json(ReadPoolFileRequest, await read_capped_body(request, MAX_BODY_BYTES))
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        except MessageFormatError as exc:
            return _error(400, str(exc))
        try:
            file = await run_in_threadpool(self._runtime.open_pool_file, read)
        except BadCommandError as exc:
            return _error(400, str(exc))
        except PoolFileMismatchError as exc:
            return _error(404, str(exc))
        except PoolUnavailableError as exc:
            return _error(503, str(exc))
        try:
            span = _byte_span(request.headers.get("range"), read.size_bytes)
        except UnsatisfiableRangeError as exc:
            file.close()
            return Response(status_code=416, headers={"Content-Range": str(exc)})
        logger.info("serving %s of pool %s (%d bytes)", read.name, read.pool.uuid, span.length)
        return StreamingResponse(
            _file_chunks(file, span.first, span.length),
            status_code=span.status,
            headers=span.headers,
            media_type="application/octet-stream",
        )

    async def read_peer_file(self, request: Request) -> Response:
        # The TLS layer verified the certificate against the CA; without TLS (in-process
        # tests only) there is none to check.
        if self._require_server_certificate and client_certificate(request.scope) is None:
            return _error(401, "a client certificate from the zone's CA is required")
        try:
            grant = from_json(PeerGrant, await read_capped_body(request, MAX_BODY_BYTES))
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        except MessageFormatError as exc:
            return _error(400, str(exc))
        try:
            file = await run_in_threadpool(self._runtime.open_peer_file, grant)
        except GrantRefusedError as exc:
            logger.warning("peer read refused from %s: %s", _client(request), exc)
            return _error(403, str(exc))
        except BadCommandError as exc:
            return _error(400, str(exc))
        except PoolFileMismatchError as exc:
            return _error(404, str(exc))
        except PoolUnavailableError as exc:
            return _error(503, str(exc))
        try:
            span = _byte_span(request.headers.get("range"), grant.size_bytes)
        except UnsatisfiableRangeError as exc:
            file.close()
            return Response(status_code=416, headers={"Content-Range": str(exc)})
        lease = self._uploads.acquire(grant.max_uploads)
        if lease is None:
            file.close()
            return _error(503, f"already serving {grant.max_uploads} peer downloads")
        logger.info(
            "serving %s of pool %s to peer %s (%d bytes)",
            grant.name,
            grant.pool.uuid,
            _client(request),
            span.length,
        )
        return StreamingResponse(
            _paced(_file_chunks(file, span.first, span.length), grant.max_rate_bytes, lease),
            status_code=span.status,
            headers=span.headers,
            media_type="application/octet-stream",
            background=BackgroundTask(lease.release),
        )


def _paced(chunks: Iterator[bytes], rate_bytes: int, lease: UploadLease) -> Iterator[bytes]:
    """Yield ``chunks`` at ``rate_bytes`` per second at most (run in a thread); free the slot."""
    started = time.monotonic()
    sent = 0
    try:
        for chunk in chunks:
            yield chunk
            sent += len(chunk)
            wait_s = pause_s(
                sent_bytes=sent, elapsed_s=time.monotonic() - started, rate_bytes=rate_bytes
            )
            if wait_s:
                time.sleep(wait_s)
    finally:
        lease.release()
        if isinstance(chunks, Generator):
            chunks.close()


@dataclass(frozen=True, slots=True)
class _ByteSpan:
    """The bytes of a file a GET asks for, with the answer's status and headers."""

    first: int
    length: int
    status: int
    headers: dict[str, str]


def _byte_span(range_header: str | None, size: int) -> _ByteSpan:
    """The whole file (200) or the one range asked for (206); UnsatisfiableRangeError else."""
    byte_range = parse_range(range_header, size)
    if byte_range is None:
        return _ByteSpan(0, size, 200, {"Content-Length": str(size), "Accept-Ranges": "bytes"})
    headers = {
        "Content-Length": str(byte_range.length),
        "Accept-Ranges": "bytes",
        "Content-Range": byte_range.content_range(),
    }
    return _ByteSpan(byte_range.first, byte_range.length, 206, headers)


def _file_chunks(file: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes of ``file`` from ``first`` (run in a thread), then close it."""
    try:
        file.seek(first)
        left = length
        while left > 0:
            chunk = file.read(min(READ_CHUNK_BYTES, left))
            if not chunk:
                # The file shrank under us: the client sees a short body, never other bytes.
                logger.warning("pool file ended %d bytes early", left)
                return
            left -= len(chunk)
            yield chunk
    finally:
        file.close()


def _bearer(authorization: str | None) -> str:
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == AUTHORIZATION_SCHEME.lower() else ""


def _check_enroll_request(request: EnrollRequest) -> None:
    if not request.host_uuid or not request.host_key:
        raise MessageFormatError("host_uuid and host_key must not be empty")
    if not request.certificate_pem or not request.ca_pem:
        raise MessageFormatError("certificate_pem and ca_pem must not be empty")
    parts = urlsplit(request.server_url)
    if parts.scheme != "https" or not parts.hostname:
        raise MessageFormatError("server_url must be an https:// URL")


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _status(status: CommandStatus) -> Response:
    return _json(200 if status.state is CommandState.DONE else 202, to_json(status))


def _json(status_code: int, body: str) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")


def _error(status_code: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status_code)


def _unauthorized() -> Response:
    response = _error(401, "missing or wrong host key")
    response.headers["WWW-Authenticate"] = AUTHORIZATION_SCHEME
    return response
