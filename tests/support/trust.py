"""TestTrust: a management server's side of agent trust for tests, made of the real pieces.

A CA and server certificate made by the server's own ``AgentPki``, clients that present
that certificate, and enrolment through the server's own ``HttpAgentClient``: a test that
enrols an agent process goes through the same pinning and issuing as addHost.
"""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from kvmcloud import pki
from kvmcloud.protocol.agent_messages import EnrollRequest, HostReport
from kvmcloud.protocol.enrolment_tokens import parse_token
from kvmcloud.server.agent_client import HttpAgentClient
from kvmcloud.server.agent_pki import AgentPki
from tests.support.processes import base_env


class TestTrust:
    """A CA and a management server's certificate: new in ``directory``, or a server's own.

    ``TestTrust(directory)`` makes them; ``TestTrust.of(directory)`` uses those a running
    server made (``<KVMCLOUD_CONFIG_DIR>/pki``), changing nothing.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, directory: Path, store: AgentPki | None = None) -> None:
        self.directory = directory
        self.pki = store or AgentPki.init(directory, ["127.0.0.1"], datetime.now(UTC))

    @classmethod
    def of(cls, directory: Path) -> "TestTrust":
        """The PKI a server keeps in ``directory``."""
        return cls(directory, AgentPki.load(directory))

    def issue(self, common_name: str) -> tuple[str, str]:
        """A new key and a certificate from this CA naming ``common_name`` (key, cert PEM)."""
        key_pem = pki.new_key_pem()
        cert_pem = self.pki.issue_agent_certificate(
            pki.public_key_pem(key_pem),
            host_uuid=common_name,
            address="127.0.0.1",
            now=datetime.now(UTC),
        )
        return key_pem, cert_pem

    def client(self, **options: object) -> httpx.Client:
        """An httpx client that trusts only the CA and presents the server certificate."""
        return httpx.Client(verify=self.pki.client_context(), **options)  # type: ignore[arg-type]

    def enrol(
        self, agent_url: str, token: str, *, key: str, server_url: str, host_uuid: str = "h1"
    ) -> HostReport:
        """Enrol the agent at ``agent_url`` as addHost does (pin, issue, POST /enroll)."""
        parsed = parse_token(token)
        with self.client() as http:
            agents = HttpAgentClient(http)
            bootstrap = agents.bootstrap_certificate(agent_url, parsed.fingerprint)
            certificate = self.pki.issue_agent_certificate(
                pki.certificate_public_key(bootstrap),
                host_uuid=host_uuid,
                address="127.0.0.1",
                now=datetime.now(UTC),
            )
            request = EnrollRequest(
                host_uuid=host_uuid,
                host_key=key,
                server_url=server_url,
                certificate_pem=certificate,
                ca_pem=self.pki.ca_pem,
            )
            return agents.enroll(agent_url, parsed, request)


def agent_command(state_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``kvmcloud-agent <command>`` on the host whose state is ``state_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "kvmcloud.agent", command],
        env=base_env() | {"KVMCLOUD_AGENT_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def agent_token(state_dir: Path) -> str:
    """The enrolment token ``kvmcloud-agent show-token`` prints."""
    result = agent_command(state_dir, "show-token")
    if result.returncode != 0:
        raise RuntimeError(f"show-token failed: {result.stderr}")
    return result.stdout.split("enrolment token: ", 1)[1].split(";", 1)[0].strip()
