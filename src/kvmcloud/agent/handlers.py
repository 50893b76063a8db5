"""CommandHandlers: command type → handler; every failure becomes Answer(ok=False)."""

import logging
import threading
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.downloads.base import Downloader, DownloadRequest, ProgressCallback
from kvmcloud.agent.downloads.egress import policy_from_rules
from kvmcloud.agent.downloads.engine import download_template, pick_downloader
from kvmcloud.agent.downloads.peers import PeerFetcher
from kvmcloud.agent.errors import AgentError, BadCommandError
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess
from kvmcloud.agent.pool_kinds import open_pool
from kvmcloud.agent.rbd.download import download_into_rbd
from kvmcloud.agent.recovery import PoolKeeper
from kvmcloud.agent.tls_identity import TlsIdentity
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.agent.vms.volume_checks import VolumeImages
from kvmcloud.agent.vms.volumes import create_volume
from kvmcloud.protocol.agent_messages import (
    Answer,
    AttachIsoCommand,
    CertificateInstalled,
    CertificateRequest,
    CertificateResult,
    CheckPoolCommand,
    CheckUrlCommand,
    CheckUrlResult,
    Command,
    CreateVolumeCommand,
    DeletePoolFileCommand,
    DestroyVmCommand,
    DirectDownloadCommand,
    ErrorInfo,
    InstallCertificateCommand,
    PoolFileDeleted,
    PoolSpec,
    PoolType,
    ReadConsoleLogCommand,
    RebootVmCommand,
    RemoveNetworkCommand,
    RenewCertificateCommand,
    Result,
    RevokeCertificateCommand,
    SetupCertificateCommand,
    StartVmCommand,
    StopVmCommand,
    map_pool_specs,
)
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.protocol.redaction import redact_url_in

logger = logging.getLogger(__name__)

# Media types of Metalink documents: RFC 5854 (v4) and the older v3 one.
METALINK_MEDIA_TYPES = frozenset({"application/metalink4+xml", "application/metalink+xml"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One run of one command: its id, how to stop it, where its progress goes."""

    command_id: str
    cancel: threading.Event
    progress: ProgressCallback


class CommandHandlers:
    """Runs commands against the host; ``execute`` is the agent's one catch-all."""

    def __init__(
        self,
        *,
        downloaders: Mapping[str, Downloader],
        qemu_img: VolumeImages,
        vms: VmLifecycle,
        certificates: CertificateStore,
        keeper: PoolKeeper | None = None,
        identity: TlsIdentity | None = None,
        nfs: NfsAccess = USERSPACE_ACCESS,
        peers: PeerFetcher | None = None,
    ) -> None:
        """Build the handlers; without ``keeper`` pools are not remembered across restarts.

        ``identity`` is the agent's own TLS key and certificate, which renewals replace.
        Without ``peers`` a download ignores its peer sources and reads the origin only.
        """
        self._identity = identity
        self._peers = peers
        self._downloaders = downloaders
        self._qemu_img = qemu_img
        self._vms = vms
        self._certificates = certificates
        self._keeper = keeper
        self._nfs = nfs

    def execute(self, command: Command, execution: Execution) -> Answer:
        """Run ``command`` and turn its outcome, whatever it is, into an Answer."""
        try:
            pool = getattr(command, "pool", None)
            if isinstance(pool, PoolSpec) and self._keeper is not None:
                # Before the work starts: if this process dies half-way, the next start
                # must know which pool to clean.
                self._keeper.remember(pool)
            result = self._dispatch(command, execution)
        except AgentError as exc:
            message = _scrubbed(str(exc), command)
            logger.warning(
                "command %s (%s) failed: %s: %s",
                execution.command_id,
                command.TYPE,
                exc.code,
                message,
            )
            return Answer(ok=False, error=ErrorInfo(code=exc.code, message=message))
        except Exception as exc:
            # Not logger.exception(): a library's exception text may quote the source URL.
            logger.error(
                "command %s (%s) failed unexpectedly\n%s",
                execution.command_id,
                command.TYPE,
                _scrubbed("".join(traceback.format_exception(exc)), command),
            )
            message = _scrubbed(f"{type(exc).__name__}: {exc}", command)
            return Answer(ok=False, error=ErrorInfo(code=ErrorCode.INTERNAL, message=message))
        return Answer(ok=True, result=result)

    def _dispatch(self, command: Command, execution: Execution) -> Result:  # noqa: C901 - a case per type
        match command:
            case CheckUrlCommand():
                return self.check_url(command, execution)
            case CheckPoolCommand():
                return open_pool(command.pool, self._nfs).check()
            case DirectDownloadCommand():
                return self.direct_download(command, execution)
            case CreateVolumeCommand():
                # Unique per run, like downloads: two attempts never share a temp file.
                return create_volume(
                    command,
                    qemu_img=self._qemu_img,
                    attempt_id=self._new_attempt_id(),
                    nfs=self._nfs,
                )
            case DeletePoolFileCommand():
                return PoolFileDeleted(
                    existed=open_pool(command.pool, self._nfs).delete_file(command.name)
                )
            case StartVmCommand():
                return self._vms.start(command)
            case StopVmCommand():
                return self._vms.stop(command)
            case RebootVmCommand():
                return self._vms.reboot(command)
            case DestroyVmCommand():
                return self._vms.destroy(command)
            case AttachIsoCommand():
                return self._vms.attach_iso(command)
            case ReadConsoleLogCommand():
                return self._vms.console_log(command)
            case RemoveNetworkCommand():
                return self._vms.remove_network(command)
            case SetupCertificateCommand() | RevokeCertificateCommand():
                return self.certificate(command)
            case RenewCertificateCommand() | InstallCertificateCommand():
                return self.own_certificate(command)
            case _:
                assert_never(command)

    def own_certificate(
        self, command: RenewCertificateCommand | InstallCertificateCommand
    ) -> CertificateRequest | CertificateInstalled:
        """Renew the agent's own TLS certificate: a CSR for a new key, then install."""
        if self._identity is None:
            raise BadCommandError("this agent has no TLS identity to renew")
        if isinstance(command, RenewCertificateCommand):
            return CertificateRequest(csr_pem=self._identity.begin_renewal())
        fingerprint = self._identity.finish_renewal(command.certificate_pem, command.ca_pem)
        logger.info("renewed this agent's TLS certificate (sha256 %s)", fingerprint)
        return CertificateInstalled(fingerprint=fingerprint)

    def check_url(self, command: CheckUrlCommand, execution: Execution) -> CheckUrlResult:
        """Probe the URL from this host: reachable, and how big."""
        request = DownloadRequest(
            url=command.url,
            image_format=command.format,
            headers=command.headers,
            timeouts=command.timeouts,
            follow_redirects=command.follow_redirects,
            egress=policy_from_rules(command.egress),
            cancel=execution.cancel,
        )
        downloader = pick_downloader(command.url, self._downloaders)
        info = downloader.probe(request)
        metalink = bool(info.mirrors)
        if not metalink and info.content_type in METALINK_MEDIA_TYPES:
            # A Metalink served under another name (RFC 5854 media type): check its mirrors.
            downloader = pick_downloader(command.url, self._downloaders, metalink=True)
            info = downloader.probe(request)
            metalink = True
        return CheckUrlResult(
            physical_size_bytes=info.physical_size_bytes,
            virtual_size_bytes=info.virtual_size_bytes,
            mirrors=list(info.mirrors),
            metalink=metalink,
        )

    def certificate(
        self, command: SetupCertificateCommand | RevokeCertificateCommand
    ) -> CertificateResult:
        """Trust or stop trusting a certificate for HTTPS sources (see ``certificates``)."""
        if isinstance(command, SetupCertificateCommand):
            return self._certificates.setup(command.alias, command.pem)
        return self._certificates.revoke(command.alias)

    def direct_download(self, command: DirectDownloadCommand, execution: Execution) -> Result:
        """Download the template into its pool (see ``downloads.engine``, ``rbd.download``)."""
        if command.pool.type == PoolType.RBD:
            return download_into_rbd(
                command,
                # Unique per run, so two attempts never share a temp file (CloudStack's did).
                attempt_id=self._new_attempt_id(),
                downloaders=self._downloaders,
                qemu_img=self._qemu_img,
                cancel=execution.cancel,
                progress=execution.progress,
            )
        return download_template(
            command,
            attempt_id=self._new_attempt_id(),
            downloaders=self._downloaders,
            qemu_img=self._qemu_img,
            cancel=execution.cancel,
            progress=execution.progress,
            nfs=self._nfs,
            peers=self._peers,
        )

    def _new_attempt_id(self) -> str:
        # Tagged with this host, so a restarted agent finds its own leftovers on a pool
        # other hosts share (see pool_files); untagged only in tests built without a keeper.
        if self._keeper is None:
            return uuid.uuid4().hex
        return self._keeper.new_attempt_id()


def _scrubbed(text: str, command: Command) -> str:
    """Return ``text`` with the command's source URL redacted and any pool key masked."""
    url = getattr(command, "url", None)
    text = redact_url_in(text, url) if isinstance(url, str) else text
    keys: list[str] = []

    def collect(spec: PoolSpec) -> PoolSpec:
        if spec.secret:
            keys.append(spec.secret)
        return spec

    map_pool_specs(command, collect)
    for key in keys:
        text = text.replace(key, "***")
    return text
