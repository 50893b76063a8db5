"""Defect 6 (issue 12): a presigned query or a password never reaches the agent's log or
its error texts, on a real download from a loopback origin, redirects and failures too."""

import logging
import threading
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.errors import DownloadError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.protocol.agent_messages import CheckUrlCommand, Timeouts
from tests.integration.agent.conftest import Image
from tests.integration.agent.test_download_template import download
from tests.support.origin import Origin

pytestmark = pytest.mark.allow_commands("qemu-img")

SIGNATURE = "f00dfacecafe0123456789abcdef"
PASSWORD = "hunter2-pass"
QUERY = f"?X-Amz-Signature={SIGNATURE}&X-Amz-Date=20260101T000000Z"


def _secret_url(origin: Origin, path: str) -> str:
    return origin.url(path).replace("://", f"://alice:{PASSWORD}@", 1) + QUERY


def _assert_clean(text: str) -> None:
    assert SIGNATURE not in text
    assert PASSWORD not in text
    assert "20260101T000000Z" not in text


def test_download_with_presigned_query_logs_no_credential(
    origin: Origin, pool_dir: Path, qcow2_image: Image, caplog: pytest.LogCaptureFixture
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data
    origin.redirects["/start.qcow2"] = "/t.qcow2"
    caplog.set_level(logging.DEBUG, logger="kvmcloud")

    download(origin, pool_dir, url=_secret_url(origin, "/start.qcow2"), follow_redirects=True)

    assert "X-Amz-Signature=***&X-Amz-Date=***" in caplog.text
    assert f"alice:***@127.0.0.1:{origin.port}" in caplog.text
    _assert_clean(caplog.text)


def test_failed_download_error_text_has_no_credential(
    origin: Origin, pool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin.statuses["/gone.qcow2"] = 404
    caplog.set_level(logging.DEBUG, logger="kvmcloud")

    with pytest.raises(DownloadError) as failure:
        download(origin, pool_dir, url=_secret_url(origin, "/gone.qcow2"))

    assert "X-Amz-Signature=***" in str(failure.value)
    _assert_clean(str(failure.value))
    _assert_clean(caplog.text)


def test_check_url_answer_and_log_have_no_credential(
    origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    origin.statuses["/gone.qcow2"] = 403
    caplog.set_level(logging.DEBUG, logger="kvmcloud")
    http = HttpDownloader(reconnect_pause_s=0.01)
    handlers = CommandHandlers(
        downloaders={"http": http, "https": http},
        qemu_img=QemuImg(),
        vms=None,  # type: ignore[arg-type]
        certificates=None,  # type: ignore[arg-type]
    )
    command = CheckUrlCommand(
        url=_secret_url(origin, "/gone.qcow2"),
        format="QCOW2",
        headers={},
        timeouts=Timeouts(connect_s=2, read_s=2, total_s=10),
        follow_redirects=False,
    )
    execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)

    answer = handlers.execute(command, execution)

    assert not answer.ok and answer.error is not None
    assert "X-Amz-Signature=***" in answer.error.message
    _assert_clean(answer.error.message)
    _assert_clean(caplog.text)
