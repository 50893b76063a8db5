from pathlib import Path

import pytest

from kvmcloud.agent.host.commands import CommandFailedError
from kvmcloud.agent.host.qemu_img import QemuImg
from tests.integration.agent.conftest import Image

pytestmark = pytest.mark.allow_commands("qemu-img")


def test_info_of_generated_qcow2(qcow2_image: Image) -> None:
    info = QemuImg().info(qcow2_image.path)

    assert info.format == "qcow2"
    assert info.virtual_size_bytes == 1024 * 1024
    assert info.backing_file is None


def test_info_reports_backing_file(qcow2_with_backing_file: Image, qcow2_image: Image) -> None:
    info = QemuImg().info(qcow2_with_backing_file.path)
    assert info.backing_file == str(qcow2_image.path)


def test_info_of_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(CommandFailedError, match="Could not open"):
        QemuImg().info(tmp_path / "missing.qcow2")
