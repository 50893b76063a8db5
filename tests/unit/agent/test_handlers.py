import threading
from pathlib import Path

from kvmcloud.agent.downloads.base import DownloadRequest, SourceInfo
from kvmcloud.agent.downloads.errors import SourceNotFoundError
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.protocol.agent_messages import (
    CheckPoolCommand,
    CheckUrlCommand,
    CheckUrlResult,
    ErrorInfo,
    MirrorCheck,
    PoolReport,
    PoolSpec,
    PoolType,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.unit.agent.fakes import FakeDownloader, FakeHypervisor, FakeVolumeImages

URL = "http://origin.test/t.qcow2"


def execution() -> Execution:
    return Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)


def handlers_with(downloader: FakeDownloader) -> CommandHandlers:
    vms = VmLifecycle(
        hypervisor=FakeHypervisor(), console_dir=Path("/nonexistent"), kvm_usable=lambda: True
    )
    return CommandHandlers(downloaders={"http": downloader}, qemu_img=FakeVolumeImages(), vms=vms)


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
