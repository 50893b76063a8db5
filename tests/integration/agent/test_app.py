import hashlib
import itertools
import json
import ssl
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from starlette.testclient import TestClient

from kvmcloud import pki
from kvmcloud.agent.app import default_downloaders
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.metalink import MetalinkDownloader
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.enrollment import StoredToken, forget_enrollment, save_enroll_token
from kvmcloud.agent.enrollment_rules import FAILURE_BURST
from kvmcloud.agent.settings import AgentSettings
from kvmcloud.agent.tls_identity import TlsIdentity, reset_identity
from kvmcloud.protocol.agent_messages import (
    CertificateRequest,
    CertificateResult,
    CheckPoolCommand,
    CheckUrlCommand,
    CommandEnvelope,
    CommandState,
    CommandStatus,
    DirectDownloadCommand,
    DirectDownloadResult,
    EgressRules,
    HostReport,
    InstallCertificateCommand,
    PoolReport,
    PoolSpec,
    PoolType,
    RenewCertificateCommand,
    RevokeCertificateCommand,
    SetupCertificateCommand,
    Timeouts,
    command_to_json,
    from_json,
    to_json,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.integration.agent.conftest import Image, pool_files
from tests.support import agent_harness, asgi
from tests.support.agent_harness import HOST_REPORT, HeartbeatRecorder
from tests.support.egress import LOOPBACK_RULES
from tests.support.origin import Origin
from tests.support.waiting import wait_until

pytestmark = pytest.mark.allow_commands("qemu-img")

TOKEN = "enrol-token-for-tests"
KEY = "host-key-1"


@pytest.fixture
def recorder() -> HeartbeatRecorder:
    return HeartbeatRecorder()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def make_client(state_dir: Path, recorder: HeartbeatRecorder) -> TestClient:
    return agent_harness.make_client(state_dir, recorder, token=TOKEN, buffer_size_bytes=64 * 1024)


@pytest.fixture
def agent(state_dir: Path, recorder: HeartbeatRecorder) -> Iterator[TestClient]:
    with make_client(state_dir, recorder) as client:
        yield client


def enroll(client: TestClient, *, token: str = TOKEN, key: str = KEY) -> Any:
    return agent_harness.enrol(client, token=token, key=key)


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_command(client: TestClient, envelope: CommandEnvelope, key: str = KEY) -> Any:
    return client.post("/commands", content=command_to_json(envelope), headers=auth(key))


def check_pool(pool: Path) -> CheckPoolCommand:
    return CheckPoolCommand(pool=PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool)))


def download_command(origin: Origin, pool: Path, **fields: Any) -> DirectDownloadCommand:
    values: dict[str, Any] = {
        "template_uuid": "t1",
        "url": origin.url("/t.qcow2"),
        "format": "QCOW2",
        "pool": PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool)),
        "install_name": "t1.qcow2",
        "timeouts": Timeouts(connect_s=2, read_s=2, total_s=30),
    }
    values.update(fields)
    return DirectDownloadCommand(egress=LOOPBACK_RULES, **values)


def status_of(response: Any) -> CommandStatus:
    # Any: TestClient returns httpx2 responses when httpx2 is installed, httpx ones otherwise.
    return from_json(CommandStatus, response.content)


def test_enrol_with_wrong_token_is_forbidden(agent: TestClient, state_dir: Path) -> None:
    response = enroll(agent, token="guess")

    assert response.status_code == 403
    assert "error" in response.json()
    assert not (state_dir / "enrollment.json").exists()


def test_enrol_saves_key_privately_reports_host_and_starts_heartbeats(
    agent: TestClient, state_dir: Path, recorder: HeartbeatRecorder
) -> None:
    response = enroll(agent)

    assert response.status_code == 200
    assert from_json(HostReport, response.content) == HOST_REPORT
    saved = state_dir / "enrollment.json"
    assert json.loads(saved.read_text()) == {
        "host_uuid": "h1",
        "host_key": KEY,
        "server_url": "https://mgmt.test",
    }
    # The token is used up; the certificate and CA are kept next to the key.
    assert not (state_dir / "enroll-token.json").exists()
    assert (state_dir / "tls" / "agent.pem").exists()
    assert (state_dir / "tls" / "ca.pem").read_text() == agent_harness.CA_PEM
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert recorder.wait_for(1)
    authorization, beat = recorder.authorizations[0], recorder.beats[0]
    assert authorization == f"Bearer {KEY}"
    assert recorder.hosts[0] == "h1"
    assert beat["host_uuid"] == "h1"
    assert beat["shutting_down"] is False
    assert beat["vm_states"] is None  # libvirt is unreachable here: states unknown
    assert beat["certificates"] == {}  # the store's directory does not exist yet


def test_commands_need_the_host_key(agent: TestClient, pool_dir: Path) -> None:
    envelope = CommandEnvelope(id="c1", command=check_pool(pool_dir))
    before_enrolment = post_command(agent, envelope)
    enroll(agent)
    missing = agent.post("/commands", content=command_to_json(envelope))
    wrong = post_command(agent, envelope, key="not-the-key")
    poll = agent.get("/commands/c1", headers=auth("not-the-key"))

    assert [r.status_code for r in (before_enrolment, missing, wrong, poll)] == [401] * 4


def test_short_command_answers_inline(agent: TestClient, pool_dir: Path) -> None:
    enroll(agent)

    response = post_command(agent, CommandEnvelope(id="c1", command=check_pool(pool_dir)))

    assert response.status_code == 200
    status = status_of(response)
    assert status.state is CommandState.DONE
    assert status.answer is not None
    assert status.answer.ok
    assert isinstance(status.answer.result, PoolReport)


def certificates_beat(recorder: HeartbeatRecorder, expected: dict[str, str]) -> bool:
    """Wait for a heartbeat reporting ``expected`` (one in flight may predate the change)."""
    for _ in range(3):
        if recorder.beats and recorder.beats[-1]["certificates"] == expected:
            return True
        recorder.wait_for(len(recorder.beats) + 1)
    return bool(recorder.beats) and recorder.beats[-1]["certificates"] == expected


def test_certificates_are_set_up_revoked_and_reported_in_heartbeats(
    agent: TestClient, state_dir: Path, recorder: HeartbeatRecorder
) -> None:
    pem = trustme.CA().cert_pem.bytes().decode("ascii")
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    enroll(agent)

    setup = post_command(
        agent, CommandEnvelope(id="c1", command=SetupCertificateCommand(alias="zone-ca", pem=pem))
    )

    assert setup.status_code == 200  # short: answered inline
    answer = status_of(setup).answer
    assert answer is not None
    assert answer.result == CertificateResult(
        alias="zone-ca", changed=True, held={"zone-ca": fingerprint}
    )
    assert (state_dir / "certs" / "zone-ca.pem").is_file()
    assert certificates_beat(recorder, {"zone-ca": fingerprint})

    revoke = post_command(
        agent, CommandEnvelope(id="c2", command=RevokeCertificateCommand(alias="zone-ca"))
    )

    answer = status_of(revoke).answer
    assert answer is not None
    assert answer.result == CertificateResult(alias="zone-ca", changed=True, held={})
    assert not (state_dir / "certs" / "zone-ca.pem").exists()
    assert certificates_beat(recorder, {})


def test_failed_command_carries_code_and_message(agent: TestClient, tmp_path: Path) -> None:
    enroll(agent)

    response = post_command(agent, CommandEnvelope(id="c1", command=check_pool(tmp_path / "x")))

    answer = status_of(response).answer
    assert answer is not None
    assert answer.error is not None
    assert answer.error.code is ErrorCode.POOL_UNAVAILABLE


def test_bad_bodies_and_unknown_ids(agent: TestClient) -> None:
    enroll(agent)

    bad_json = agent.post("/commands", content=b"{", headers=auth())
    bad_type = agent.post(
        "/commands", content=b'{"id": "c1", "type": "Reboot", "payload": {}}', headers=auth()
    )
    unknown = agent.get("/commands/nope", headers=auth())
    bad_wait = agent.get("/commands/nope?wait_s=soon", headers=auth())

    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    assert bad_type.status_code == 400
    assert "unknown command type 'Reboot'" in bad_type.json()["error"]
    assert unknown.status_code == 404
    assert bad_wait.status_code == 400


def test_download_runs_in_background_once_per_id(
    agent: TestClient, origin: Origin, pool_dir: Path, qcow2_image: Image
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data
    enroll(agent)
    envelope = CommandEnvelope(
        id="d1",
        command=download_command(origin, pool_dir, checksum=f"{{sha256}}{qcow2_image.sha256}"),
    )

    first = post_command(agent, envelope)
    second = post_command(agent, envelope)
    polled = agent.get("/commands/d1?wait_s=20", headers=auth())
    third = post_command(agent, envelope)

    assert first.status_code == 202
    assert status_of(first).state is CommandState.RUNNING
    assert second.status_code in (200, 202)
    assert polled.status_code == 200
    done = status_of(polled)
    assert done.state is CommandState.DONE
    assert done.bytes_done == done.bytes_total == len(qcow2_image.data)
    assert done.answer is not None
    assert done.answer.ok, done.answer.error
    assert isinstance(done.answer.result, DirectDownloadResult)
    assert done.answer.result.install_path == str(pool_dir / "t1.qcow2")
    assert status_of(third) == done
    assert origin.get_count("/t.qcow2") == 1
    assert pool_files(pool_dir) == ["t1.qcow2"]


def test_second_enrolment_is_refused_and_the_first_key_stays(
    agent: TestClient, pool_dir: Path
) -> None:
    envelope = CommandEnvelope(id="c1", command=check_pool(pool_dir))
    assert enroll(agent, key="real-key").status_code == 200

    # Defect 2: the same token again, with an attacker's key and server, must not win.
    again = enroll(agent, key="attacker-key")

    assert again.status_code == 409
    assert "reset-enrolment" in again.json()["error"]
    assert post_command(agent, envelope, key="attacker-key").status_code == 401
    assert post_command(agent, envelope, key="real-key").status_code == 200


def test_enrolment_works_again_after_a_reset_on_the_host(
    state_dir: Path, recorder: HeartbeatRecorder, pool_dir: Path
) -> None:
    with make_client(state_dir, recorder) as first:
        assert enroll(first, key="old-key").status_code == 200
    forget_enrollment(state_dir)
    reset_identity(state_dir)

    with make_client(state_dir, recorder) as second:
        assert enroll(second, key="new-key").status_code == 200
        envelope = CommandEnvelope(id="c1", command=check_pool(pool_dir))
        assert post_command(second, envelope, key="old-key").status_code == 401
        assert post_command(second, envelope, key="new-key").status_code == 200


def test_failed_enrolments_are_rate_limited(agent: TestClient) -> None:
    statuses = [enroll(agent, token=f"guess-{n}").status_code for n in range(FAILURE_BURST)]
    throttled = enroll(agent, token=f"guess-{FAILURE_BURST}")
    # Even the right token waits while the bucket is empty: guessing stays slow.
    right = enroll(agent)

    assert statuses == [403] * FAILURE_BURST
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert right.status_code == 429


def test_expired_token_is_refused(state_dir: Path, recorder: HeartbeatRecorder) -> None:
    with make_client(state_dir, recorder) as client:
        save_enroll_token(state_dir, StoredToken(secret=TOKEN, created_s=time.time() - 86400))

        response = enroll(client)

    assert response.status_code == 403
    assert "expired" in response.json()["error"]
    assert "new-token" in response.json()["error"]


def test_certificate_for_another_key_is_refused(agent: TestClient, tmp_path: Path) -> None:
    other = tmp_path / "other"
    TlsIdentity.open(other, datetime.now(UTC))
    body = agent_harness.enrol_request(other, key=KEY)

    response = agent.post("/enroll", content=to_json(body), headers=auth(TOKEN))

    assert response.status_code == 400
    assert "not for this agent's key" in response.json()["error"]
    assert enroll(agent).status_code == 200


def test_restarted_agent_resumes_enrolment(
    state_dir: Path, recorder: HeartbeatRecorder, pool_dir: Path
) -> None:
    with make_client(state_dir, recorder) as first:
        enroll(first)
    beats_before_restart = len(recorder.beats)

    with make_client(state_dir, recorder) as second:
        response = post_command(second, CommandEnvelope(id="c1", command=check_pool(pool_dir)))
        assert recorder.wait_for(beats_before_restart + 1)

    assert response.status_code == 200


def test_shutdown_cancels_downloads_cleans_up_and_says_goodbye(
    state_dir: Path, recorder: HeartbeatRecorder, origin: Origin, pool_dir: Path
) -> None:
    origin.files["/t.raw"] = bytes(2 * 1024 * 1024)
    origin.delay_s = 0.02
    origin.chunk_size_bytes = 16 * 1024
    command = download_command(origin, pool_dir, url=origin.url("/t.raw"), format="RAW")

    with make_client(state_dir, recorder) as client:
        enroll(client)
        assert post_command(client, CommandEnvelope(id="d1", command=command)).status_code == 202
        # Bounded wait until bytes are flowing (the origin sends ~800 KiB/s).
        wait_until(
            lambda: status_of(client.get("/commands/d1", headers=auth())).bytes_done > 0,
            timeout_s=5,
            interval_s=0.05,
        )
        assert pool_files(pool_dir) != []  # the partial file exists
        started = time.monotonic()

    assert time.monotonic() - started < 10
    assert pool_files(pool_dir) == []
    assert origin.bytes_sent("/t.raw") < 2 * 1024 * 1024
    assert recorder.beats[-1]["shutting_down"] is True


def test_default_downloaders_cover_every_source_and_share_the_cert_store(tmp_path: Path) -> None:
    settings = AgentSettings(state_dir=tmp_path, cert_dir=tmp_path / "certs")

    downloaders = default_downloaders(settings)

    https = downloaders["https"]
    assert set(downloaders) == {"http", "https", "nfs", "metalink"}
    assert isinstance(https, HttpDownloader)
    assert downloaders["http"] is https
    assert https.trust.cert_dir == tmp_path / "certs"
    assert isinstance(downloaders["nfs"], NfsDownloader)
    assert isinstance(downloaders["metalink"], MetalinkDownloader)


def test_enrol_with_a_wrong_token_is_refused_before_the_body_is_read(
    agent: TestClient, state_dir: Path
) -> None:
    result = asgi.post(
        agent.app,
        "/enroll",
        headers=auth("guess"),
        chunks=itertools.repeat(b"[" * 1024 * 1024, 200),
        content_length=200 * 1024 * 1024,
    )

    assert result.status == 403
    assert result.chunks_read == 0
    assert not (state_dir / "enrollment.json").exists()


def test_enrol_with_a_huge_body_is_413_unread(agent: TestClient) -> None:
    result = asgi.post(
        agent.app,
        "/enroll",
        headers=auth(TOKEN),
        chunks=itertools.repeat(b"x" * 1024 * 1024, 200),
        content_length=200 * 1024 * 1024,
    )

    assert result.status == 413
    assert result.chunks_read == 0


def test_enrol_with_deep_json_is_400_not_500(agent: TestClient) -> None:
    # Within the 64 KiB cap, and far deeper than the decoder could recurse.
    response = agent.post("/enroll", content=b"[" * 30_000 + b"]" * 30_000, headers=auth(TOKEN))

    assert response.status_code == 400
    assert "deeper than" in response.json()["error"]


def test_command_with_deep_json_is_400_and_huge_body_413(agent: TestClient) -> None:
    assert enroll(agent).status_code == 200

    deep = agent.post("/commands", content=b"{" * 100_000, headers=auth())
    huge = asgi.post(
        agent.app,
        "/commands",
        headers=auth(),
        chunks=itertools.repeat(b"x" * 1024 * 1024, 200),
        content_length=200 * 1024 * 1024,
    )

    assert deep.status_code == 400
    assert huge.status == 413
    assert huge.chunks_read == 0


def test_certificate_renewal_by_csr_over_commands(agent: TestClient, state_dir: Path) -> None:
    assert enroll(agent).status_code == 200
    before = (state_dir / "tls" / "agent.pem").read_text()

    asked = status_of(
        post_command(agent, CommandEnvelope(id="r1", command=RenewCertificateCommand()))
    )
    assert asked.answer is not None and isinstance(asked.answer.result, CertificateRequest)
    certificate = pki.issue(
        agent_harness.CA_KEY_PEM,
        agent_harness.CA_PEM,
        pki.csr_public_key(asked.answer.result.csr_pem),
        common_name="h1",
        addresses=["127.0.0.1"],
        now=datetime.now(UTC),
    )
    install = InstallCertificateCommand(certificate_pem=certificate, ca_pem=agent_harness.CA_PEM)
    done = status_of(post_command(agent, CommandEnvelope(id="r2", command=install)))

    assert done.answer is not None and done.answer.ok, done.answer
    assert (state_dir / "tls" / "agent.pem").read_text() == certificate != before
    # A certificate that is not for the pending key is refused with bad_command.
    again = InstallCertificateCommand(certificate_pem=before, ca_pem=agent_harness.CA_PEM)
    refused = status_of(post_command(agent, CommandEnvelope(id="r3", command=again)))
    assert refused.answer is not None and refused.answer.error is not None
    assert refused.answer.error.code is ErrorCode.BAD_COMMAND


def test_a_command_without_egress_rules_gets_the_default_policy(
    agent: TestClient, origin: Origin
) -> None:
    """What an older server sends (no "egress" field): loopback stays refused."""
    enroll(agent)
    origin.files["/t.raw"] = b"x" * 1024
    url = origin.url("/t.raw")
    body = {"id": "old", "type": "CheckUrl", "payload": {"url": url, "format": "RAW"}}

    response = agent.post("/commands", content=json.dumps(body), headers=auth())

    answer = status_of(response).answer
    assert answer is not None and not answer.ok and answer.error is not None
    assert answer.error.code is ErrorCode.EGRESS_REFUSED
    assert "refused by the egress policy" in answer.error.message
    assert origin.stats("/t.raw", settle_s=0.2).head_count == 0

    allowed = CheckUrlCommand(url=url, format="RAW", egress=LOOPBACK_RULES)
    response = post_command(agent, CommandEnvelope(id="new", command=allowed))
    answer = status_of(response).answer
    assert answer is not None and answer.ok, answer


def test_malformed_egress_rules_are_a_bad_command(agent: TestClient, origin: Origin) -> None:
    enroll(agent)
    command = CheckUrlCommand(
        url=origin.url("/t.raw"), format="RAW", egress=EgressRules(allow=["0x7f.1/8"])
    )

    response = post_command(agent, CommandEnvelope(id="bad", command=command))

    answer = status_of(response).answer
    assert answer is not None and answer.error is not None
    assert answer.error.code is ErrorCode.BAD_COMMAND
    assert "egress rules are invalid" in answer.error.message
