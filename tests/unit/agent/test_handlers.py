import hashlib
import ssl
import threading
from pathlib import Path

import trustme

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.downloads.base import DownloadRequest, SourceInfo
from kvmcloud.agent.downloads.errors import SourceNotFoundError
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.protocol.agent_messages import (
    CertificateResult,
    CheckPoolCommand,
    CheckUrlCommand,
    CheckUrlResult,
    ErrorInfo,
    MirrorCheck,
    PoolReport,
    PoolSpec,
    PoolType,
    RevokeCertificateCommand,
    SetupCertificateCommand,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.unit.agent.fakes import FakeDownloader, FakeHypervisor, FakeVolumeImages

URL = "http://origin.test/t.qcow2"


def execution() -> Execution:
    return Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)


def handlers_with(
    downloader: FakeDownloader, *, cert_dir: Path = Path("/nonexistent")
) -> CommandHandlers:
    vms = VmLifecycle(
        hypervisor=FakeHypervisor(), console_dir=Path("/nonexistent"), kvm_usable=lambda: True
    )
    return CommandHandlers(
        downloaders={"http": downloader},
        qemu_img=FakeVolumeImages(),
        vms=vms,
        certificates=CertificateStore(cert_dir),
    )


def test_check_url_reports_sizes():
    answer = handlers_with(FakeDownloader(bodies={URL: b"x" * 10})).execute(
        CheckUrlCommand(url=URL, format="QCOW2"), execution()
    )

    assert answer.ok
    assert answer.result == CheckUrlResult(physical_size_bytes=10, virtual_size_bytes=10)


def test_check_url_reports_each_mirror_of_a_metalink():
    mirrors = (
        MirrorCheck(url="http://a.test/t.qcow2", ok=True),
        MirrorCheck(
            url="http://b.test/t.qcow2",
            ok=False,
            error=ErrorInfo(code=ErrorCode.SOURCE_NOT_FOUND, message="HTTP 404"),
        ),
    )

    class Mirrored(FakeDownloader):
        def probe(self, request: DownloadRequest) -> SourceInfo:
            return SourceInfo(10, 10, mirrors=mirrors)

    answer = handlers_with(Mirrored()).execute(CheckUrlCommand(url=URL, format="RAW"), execution())

    assert answer.result == CheckUrlResult(
        physical_size_bytes=10, virtual_size_bytes=10, mirrors=list(mirrors), metalink=True
    )


def test_download_errors_become_answers_with_their_code():
    downloader = FakeDownloader(errors={URL: SourceNotFoundError(f"HTTP 404 Not Found from {URL}")})

    answer = handlers_with(downloader).execute(CheckUrlCommand(url=URL, format="RAW"), execution())

    assert not answer.ok
    assert answer.error is not None
    assert answer.error.code is ErrorCode.SOURCE_NOT_FOUND
    assert answer.error.message == f"HTTP 404 Not Found from {URL}"


def test_unexpected_exceptions_become_internal_errors(caplog):
    class Broken(FakeDownloader):
        def probe(self, request):
            raise KeyError("boom")

    answer = handlers_with(Broken()).execute(CheckUrlCommand(url=URL, format="RAW"), execution())

    assert not answer.ok
    assert answer.error is not None
    assert answer.error.code is ErrorCode.INTERNAL
    assert "KeyError" in answer.error.message
    assert "Traceback" in caplog.text


def test_a_failure_quoting_the_source_url_is_redacted_in_answer_and_log(caplog):
    secret_url = "http://u:pw-secret@origin.test/t.qcow2?X-Amz-Signature=sig-secret"

    class Quoting(FakeDownloader):
        def probe(self, request):
            raise ValueError(f"library failed on {request.url}")

    answer = handlers_with(Quoting()).execute(
        CheckUrlCommand(url=secret_url, format="RAW"), execution()
    )

    assert answer.error is not None
    assert "http://u:***@origin.test/t.qcow2?X-Amz-Signature=***" in answer.error.message
    for text in (answer.error.message, caplog.text):
        assert "pw-secret" not in text and "sig-secret" not in text
    assert "Traceback" in caplog.text


def test_check_pool(tmp_path):
    command = CheckPoolCommand(
        pool=PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(tmp_path))
    )

    answer = handlers_with(FakeDownloader()).execute(command, execution())

    assert answer.ok
    assert isinstance(answer.result, PoolReport)
    assert answer.result.uuid == "p1"


def test_check_pool_failure_is_pool_unavailable(tmp_path):
    command = CheckPoolCommand(
        pool=PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(tmp_path / "gone"))
    )

    answer = handlers_with(FakeDownloader()).execute(command, execution())

    assert answer.error is not None
    assert answer.error.code is ErrorCode.POOL_UNAVAILABLE
    assert "does not exist" in answer.error.message


def test_setup_and_revoke_certificate(tmp_path):
    pem = trustme.CA().cert_pem.bytes().decode("ascii")
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    handlers = handlers_with(FakeDownloader(), cert_dir=tmp_path / "certs")

    setup = handlers.execute(SetupCertificateCommand(alias="zone-ca", pem=pem), execution())
    again = handlers.execute(SetupCertificateCommand(alias="zone-ca", pem=pem), execution())
    revoke = handlers.execute(RevokeCertificateCommand(alias="zone-ca"), execution())
    revoke_again = handlers.execute(RevokeCertificateCommand(alias="zone-ca"), execution())

    assert setup.ok
    assert setup.result == CertificateResult(
        alias="zone-ca", changed=True, held={"zone-ca": fingerprint}
    )
    assert again.result == CertificateResult(
        alias="zone-ca", changed=False, held={"zone-ca": fingerprint}
    )
    assert revoke.result == CertificateResult(alias="zone-ca", changed=True, held={})
    assert revoke_again.result == CertificateResult(alias="zone-ca", changed=False, held={})
    assert list((tmp_path / "certs").iterdir()) == []


def test_rejected_certificate_is_certificate_rejected(tmp_path):
    handlers = handlers_with(FakeDownloader(), cert_dir=tmp_path / "certs")

    bad_pem = handlers.execute(SetupCertificateCommand(alias="zone-ca", pem="junk"), execution())
    bad_alias = handlers.execute(RevokeCertificateCommand(alias="../etc/x"), execution())

    for answer, message in ((bad_pem, "not a PEM certificate"), (bad_alias, "is not valid")):
        assert not answer.ok
        assert answer.error is not None
        assert answer.error.code is ErrorCode.CERTIFICATE_REJECTED
        assert message in answer.error.message
    assert not (tmp_path / "certs").exists()


def test_unwritable_certificate_store_is_an_internal_error(tmp_path):
    (tmp_path / "file").write_text("")
    pem = trustme.CA().cert_pem.bytes().decode("ascii")
    handlers = handlers_with(FakeDownloader(), cert_dir=tmp_path / "file" / "certs")

    answer = handlers.execute(SetupCertificateCommand(alias="zone-ca", pem=pem), execution())

    assert answer.error is not None
    assert answer.error.code is ErrorCode.INTERNAL
    assert "cannot create certificate store" in answer.error.message
