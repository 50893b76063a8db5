import hashlib
import json
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from starlette.testclient import TestClient

from kvmcloud.agent.app import default_downloaders
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.metalink import MetalinkDownloader
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.settings import AgentSettings
from kvmcloud.protocol.agent_messages import (
    CertificateResult,
    CheckPoolCommand,
    CheckUrlCommand,
    CommandEnvelope,
    CommandState,
    CommandStatus,
    DirectDownloadCommand,
    DirectDownloadResult,
    EgressRules,
    EnrollRequest,
    HostReport,
    PoolReport,
    PoolSpec,
    PoolType,
    RevokeCertificateCommand,
    SetupCertificateCommand,
    Timeouts,
    command_to_json,
    from_json,
    to_json,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.integration.agent.conftest import Image, pool_files
from tests.support import agent_harness
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
    body = EnrollRequest(token=token, host_uuid="h1", host_key=key, server_url="http://mgmt.test")
    return client.post("/enroll", content=to_json(body))


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
        "server_url": "http://mgmt.test",
    }
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert recorder.wait_for(1)
    authorization, beat = recorder.authorizations[0], recorder.beats[0]
    assert authorization == f"Bearer {KEY}"
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


def test_reenrolment_replaces_the_key(agent: TestClient, pool_dir: Path) -> None:
    envelope = CommandEnvelope(id="c1", command=check_pool(pool_dir))
    enroll(agent, key="old-key")
    assert post_command(agent, envelope, key="old-key").status_code == 200

    assert enroll(agent, key="new-key").status_code == 200

    assert post_command(agent, envelope, key="old-key").status_code == 401
    assert post_command(agent, envelope, key="new-key").status_code == 200


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
