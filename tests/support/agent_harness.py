"""The agent in-process for tests: one host report, a heartbeat recorder and a TestClient.

In tests::

    from tests.support.agent_harness import HOST_REPORT, HeartbeatRecorder, make_client

    recorder = HeartbeatRecorder()
    with make_client(tmp_path / "state", recorder, token="enrol-token") as client:
        enrol(client, token="enrol-token", key="k")
        ...  # post commands; the heartbeats land in recorder.beats
        assert recorder.wait_for(1)
"""

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from kvmcloud import pki
from kvmcloud.agent.app import agent_runtime, create_app
from kvmcloud.agent.enrollment import StoredToken, save_enroll_token
from kvmcloud.agent.settings import DEFAULT_BUFFER_SIZE_BYTES, AgentSettings
from kvmcloud.protocol.agent_messages import HOST_UUID_HEADER, EnrollRequest, HostReport, to_json

# A CA standing in for the server's, made once for the test session.
CA_KEY_PEM, CA_PEM = pki.new_ca(datetime.now(UTC))

HOST_REPORT = HostReport(
    hostname="kvm1",
    agent_version="0.1.0",
    cpu_count=2,
    cpu_mhz=2400,
    memory_bytes=2**33,
    hypervisor_version="7.2.22",
    kvm_available=True,
)


class HeartbeatRecorder:
    """Play the server's heartbeat endpoint through httpx.MockTransport and keep each beat.

    ``beats`` holds the decoded bodies and ``authorizations`` their Authorization headers,
    in arrival order. Every beat is answered with ``status`` (changeable while in use) and
    ``{"interval_s": interval_s}``.
    """

    def __init__(self, *, interval_s: float = 1, status: int = 200) -> None:
        self.beats: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.hosts: list[str] = []
        self.interval_s = interval_s
        self.status = status
        self._changed = threading.Condition()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record one heartbeat request and answer it."""
        with self._changed:
            self.beats.append(json.loads(request.content))
            self.authorizations.append(request.headers.get("authorization", ""))
            self.hosts.append(request.headers.get(HOST_UUID_HEADER, ""))
            self._changed.notify_all()
        return httpx.Response(self.status, json={"interval_s": self.interval_s})

    def client(self) -> httpx.Client:
        """Return an httpx client whose every request goes to this recorder."""
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def wait_for(self, count: int, timeout_s: float = 5) -> bool:
        """Wait until ``count`` beats arrived; tell whether they did within ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.beats) >= count, timeout_s)


def make_client(
    state_dir: Path,
    recorder: HeartbeatRecorder,
    *,
    token: str,
    buffer_size_bytes: int = DEFAULT_BUFFER_SIZE_BYTES,
) -> TestClient:
    """Build the agent app on ``state_dir`` reporting HOST_REPORT, heartbeating to ``recorder``.

    libvirt's socket points into ``state_dir`` where nothing listens: heartbeats go out
    anyway, with VM states unknown. ``token`` becomes the agent's enrolment token (its
    secret part), made now. No TLS is spoken in process, so the routes do not ask for
    the server's client certificate.
    """
    save_enroll_token(state_dir, StoredToken(secret=token, created_s=time.time()))
    settings = AgentSettings(
        state_dir=state_dir,
        buffer_size_bytes=buffer_size_bytes,
        libvirt_uri=f"qemu+unix:///system?socket={state_dir}/no-libvirt-sock",
        console_dir=state_dir / "consoles",
        cert_dir=state_dir / "certs",
    )
    app = create_app(
        settings,
        host_report=lambda: HOST_REPORT,
        http_client=recorder.client(),
        require_server_certificate=False,
    )
    return TestClient(app)


def enrol_request(
    state_dir: Path, *, key: str, host_uuid: str = "h1", server_url: str = "https://mgmt.test"
) -> EnrollRequest:
    """The request a server would send: a certificate from CA_PEM for the agent's key."""
    bootstrap = (state_dir / "tls" / "bootstrap.pem").read_text()
    certificate = pki.issue(
        CA_KEY_PEM,
        CA_PEM,
        pki.certificate_public_key(bootstrap),
        common_name=host_uuid,
        addresses=["127.0.0.1"],
        now=datetime.now(UTC),
    )
    return EnrollRequest(
        host_uuid=host_uuid,
        host_key=key,
        server_url=server_url,
        certificate_pem=certificate,
        ca_pem=CA_PEM,
    )


def enrol(client: TestClient, *, token: str, key: str, **fields: str) -> Any:
    """POST /enroll to an app made by make_client, as a server would; return the response."""
    state_dir = agent_runtime(client.app).settings.state_dir  # type: ignore[arg-type]
    return client.post(
        "/enroll",
        content=to_json(enrol_request(state_dir, key=key, **fields)),
        headers={"Authorization": f"Bearer {token}"},
    )
