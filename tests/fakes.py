"""Fakes of our own Protocols for tests: FakeAgentClient, FakeClock."""

import hashlib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.enrolment_tokens import EnrolmentToken
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.agent_client import (
    AgentEndpoint,
    AgentUnreachableError,
    FileStream,
    PoolFileMissingError,
    ProgressCallback,
)
from kvmcloud.server.errors import InvalidParameterError


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# Every fake agent presents this bootstrap certificate (made once: keys are slow-ish).
FAKE_BOOTSTRAP_PEM = pki.self_signed(pki.new_key_pem(), datetime.now(UTC))
FAKE_SECRET = "enrol-token-for-tests"
FAKE_TOKEN = f"{FAKE_SECRET}.{pki.fingerprint(FAKE_BOOTSTRAP_PEM)}"


@dataclass
class FakeAgent:
    """One fake host agent: its token, the answers it gives, what it was sent."""

    # The secret part of the enrolment token; the fingerprint is FAKE_BOOTSTRAP_PEM's.
    token: str = FAKE_SECRET
    # What enrolment handed over: the issued certificate and the CA.
    certificate_pem: str = ""
    ca_pem: str = ""
    # The key a renewal made, until the new certificate is installed.
    pending_key: str = ""
    report: msg.HostReport = field(
        default_factory=lambda: msg.HostReport(
            hostname="kvm1",
            agent_version="0.1.0",
            cpu_count=2,
            cpu_mhz=2000,
            memory_bytes=8 << 30,
            hypervisor_version="QEMU 7.2",
            kvm_available=True,
        )
    )
    check_url: Callable[[msg.CheckUrlCommand], msg.Answer] | None = None
    download: Callable[[msg.DirectDownloadCommand], msg.Answer] | None = None
    # How a download reports its progress before answering (default: 50 bytes of 100).
    download_progress: Callable[[ProgressCallback], None] | None = None
    reachable: bool = True
    received: list[msg.Command] = field(default_factory=list)
    # The ids long commands were run under (a resumed job must re-send the same id).
    run_ids: list[str] = field(default_factory=list)
    key: str | None = None
    domains: dict[str, msg.VmPowerState] = field(default_factory=dict)
    # The guest networks whose libvirt network the agent set up (StartVm's NICs).
    networks: set[str] = field(default_factory=set)
    start_vm: Callable[[msg.StartVmCommand], msg.Answer] | None = None
    # Answers DeletePoolFile instead of the default success.
    delete_pool_file: Callable[[msg.DeletePoolFileCommand], msg.Answer] | None = None
    # The certificate store: alias → PEM. certificate_error makes setup and revoke fail
    # with that message; certificate_delay_s makes them slow.
    certificates: dict[str, str] = field(default_factory=dict)
    certificate_error: str | None = None
    certificate_delay_s: float = 0.0
    # False: setups answer ok but the store does not keep the certificate.
    keeps_certificates: bool = True
    # Pool files the agent serves to read_pool_file, by name, and the reads it was asked for.
    files: dict[str, bytes] = field(default_factory=dict)
    reads: list[msg.ReadPoolFileRequest] = field(default_factory=list)
    # Serial console logs by domain name, which ReadConsoleLog returns the tail of.
    console_logs: dict[str, bytes] = field(default_factory=dict)

    def sent(self, kind: type) -> list:
        """The commands of one type this agent received, oldest first."""
        return [c for c in self.received if isinstance(c, kind)]

    def fingerprints(self) -> dict[str, str]:
        """What the agent reports in its heartbeat: alias → SHA-256 of the DER."""
        return {
            alias: hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
            for alias, pem in self.certificates.items()
        }


class FakeAgentClient:
    """AgentClient that answers from in-memory FakeAgents keyed by URL."""

    def __init__(self) -> None:
        self.agents: dict[str, FakeAgent] = {}

    def add(self, url: str, agent: FakeAgent | None = None) -> FakeAgent:
        self.agents[url] = agent or FakeAgent()
        return self.agents[url]

    def bootstrap_certificate(self, url: str, fingerprint: str) -> str:
        self._agent(url)
        if fingerprint != pki.fingerprint(FAKE_BOOTSTRAP_PEM):
            raise InvalidParameterError(
                "password",
                f"The agent at {url} presented another certificate than the password names",
            )
        return FAKE_BOOTSTRAP_PEM

    def enroll(self, url: str, token: EnrolmentToken, request: msg.EnrollRequest) -> msg.HostReport:
        agent = self._agent(url)
        agent.certificate_pem, agent.ca_pem = request.certificate_pem, request.ca_pem
        if token.secret != agent.token:
            raise InvalidParameterError(
                "password", f"The agent at {url} refused the enrolment token given as password"
            )
        agent.key = request.host_key
        return agent.report

    def call(
        self, endpoint: AgentEndpoint, command: msg.Command, *, timeout_s: float
    ) -> msg.Answer:
        agent = self._authorised(endpoint)
        agent.received.append(command)
        if isinstance(command, msg.CheckUrlCommand):
            if agent.check_url is not None:
                return agent.check_url(command)
            return msg.Answer(
                ok=True,
                result=msg.CheckUrlResult(physical_size_bytes=1000, virtual_size_bytes=4096),
            )
        if isinstance(command, msg.SetupCertificateCommand | msg.RevokeCertificateCommand):
            return self._certificate_command(agent, command)
        if isinstance(command, msg.RenewCertificateCommand):
            agent.pending_key = pki.new_key_pem()
            return msg.Answer(
                ok=True, result=msg.CertificateRequest(csr_pem=pki.make_csr(agent.pending_key))
            )
        if isinstance(command, msg.InstallCertificateCommand):
            pki.check_issued(command.certificate_pem, command.ca_pem, agent.pending_key)
            agent.certificate_pem, agent.ca_pem = command.certificate_pem, command.ca_pem
            return msg.Answer(
                ok=True,
                result=msg.CertificateInstalled(
                    fingerprint=pki.fingerprint(command.certificate_pem)
                ),
            )
        if isinstance(command, msg.CheckPoolCommand):
            return msg.Answer(
                ok=True,
                result=msg.PoolReport(
                    uuid=command.pool.uuid, capacity_bytes=10 << 30, available_bytes=5 << 30
                ),
            )
        return self._vm_command(agent, command)

    def _certificate_command(
        self, agent: FakeAgent, command: msg.SetupCertificateCommand | msg.RevokeCertificateCommand
    ) -> msg.Answer:
        if agent.certificate_delay_s:
            time.sleep(agent.certificate_delay_s)
        if agent.certificate_error is not None:
            return msg.Answer(
                ok=False,
                error=msg.ErrorInfo(code=ErrorCode.INTERNAL, message=agent.certificate_error),
            )
        if isinstance(command, msg.SetupCertificateCommand):
            changed = agent.certificates.get(command.alias) != command.pem
            if agent.keeps_certificates:
                agent.certificates[command.alias] = command.pem
        else:
            changed = agent.certificates.pop(command.alias, None) is not None
        return msg.Answer(
            ok=True,
            result=msg.CertificateResult(
                alias=command.alias, changed=changed, held=agent.fingerprints()
            ),
        )

    def _vm_command(self, agent: FakeAgent, command: msg.Command) -> msg.Answer:
        def state(name: str) -> msg.Answer:
            power = agent.domains.get(name, msg.VmPowerState.MISSING)
            return msg.Answer(
                ok=True,
                result=msg.VmStateResult(
                    name=name, state=power, accelerator="kvm", console_log=f"/consoles/{name}.log"
                ),
            )

        if isinstance(command, msg.CreateVolumeCommand):
            return msg.Answer(
                ok=True,
                result=msg.VolumeResult(
                    path=f"{command.pool.path}/{command.name}",
                    virtual_size_bytes=command.size_bytes or 4096,
                    physical_size_bytes=200,
                ),
            )
        if isinstance(command, msg.DeletePoolFileCommand):
            if agent.delete_pool_file is not None:
                return agent.delete_pool_file(command)
            return msg.Answer(ok=True, result=msg.PoolFileDeleted(existed=True))
        if isinstance(command, msg.StartVmCommand):
            if agent.start_vm is not None:
                return agent.start_vm(command)
            agent.domains[command.spec.name] = msg.VmPowerState.RUNNING
            agent.networks.update(nic.network_uuid for nic in command.spec.nics)
            return state(command.spec.name)
        if isinstance(command, msg.StopVmCommand):
            agent.domains[command.name] = msg.VmPowerState.STOPPED
            return state(command.name)
        if isinstance(command, msg.DestroyVmCommand):
            agent.domains.pop(command.name, None)
            return state(command.name)
        if isinstance(command, msg.RebootVmCommand | msg.AttachIsoCommand):
            return state(command.name)
        if isinstance(command, msg.ReadConsoleLogCommand):
            data = agent.console_logs.get(command.name, b"")
            tail = data[-command.max_bytes :]
            return msg.Answer(
                ok=True,
                result=msg.ConsoleLogResult(
                    name=command.name,
                    log=tail.decode("utf-8", errors="replace"),
                    size_bytes=len(data),
                    truncated=len(tail) < len(data),
                ),
            )
        if isinstance(command, msg.RemoveNetworkCommand):
            existed = command.network_uuid in agent.networks
            agent.networks.discard(command.network_uuid)
            return msg.Answer(ok=True, result=msg.NetworkRemoved(existed=existed))
        return msg.Answer(
            ok=False, error=msg.ErrorInfo(code=ErrorCode.BAD_COMMAND, message="unknown")
        )

    def run(
        self,
        endpoint: AgentEndpoint,
        command_id: str,
        command: msg.Command,
        *,
        deadline_s: float,
        on_progress: ProgressCallback,
    ) -> msg.Answer:
        agent = self._authorised(endpoint)
        agent.received.append(command)
        agent.run_ids.append(command_id)
        assert isinstance(command, msg.DirectDownloadCommand)
        if agent.download_progress is not None:
            agent.download_progress(on_progress)
        else:
            on_progress(50, 100)
        if agent.download is not None:
            return agent.download(command)
        return msg.Answer(
            ok=True,
            result=msg.DirectDownloadResult(
                install_path=f"{command.pool.path}/{command.install_name}",
                physical_size_bytes=1000,
                virtual_size_bytes=4096,
                format=command.format,
            ),
        )

    @contextmanager
    def read_pool_file(
        self, endpoint: AgentEndpoint, request: msg.ReadPoolFileRequest, *, byte_range: str | None
    ) -> Iterator[FileStream]:
        agent = self._authorised(endpoint)
        agent.reads.append(request)
        data = agent.files.get(request.name)
        if data is None or len(data) != request.size_bytes:
            raise PoolFileMissingError(f"no {request.name} of {request.size_bytes} bytes")
        headers = {"content-length": str(len(data)), "accept-ranges": "bytes"}
        yield FileStream(200, headers, iter([data[i : i + 100] for i in range(0, len(data), 100)]))

    def _agent(self, url: str) -> FakeAgent:
        agent = self.agents.get(url)
        if agent is None or not agent.reachable:
            raise AgentUnreachableError(f"Cannot reach the agent at {url}")
        return agent

    def _authorised(self, endpoint: AgentEndpoint) -> FakeAgent:
        agent = self._agent(endpoint.url)
        assert endpoint.key == agent.key, "server used a key the agent was not enrolled with"
        return agent
