import json
from pathlib import Path

import pytest

from kvmcloud.agent.host.commands import CommandResult, RunCommand
from kvmcloud.agent.host.qemu_img import QemuImg, QemuImgOutputError, parse_image_info

QCOW2_WITH_BACKING = {
    "backing-filename-format": "qcow2",
    "virtual-size": 10485760,
    "filename": "/tmp/b.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": False}},
    "full-backing-filename": "/tmp/a.qcow2",
    "backing-filename": "a.qcow2",
    "dirty-flag": False,
}


def test_parses_qcow2_with_backing_file():
    info = parse_image_info(json.dumps(QCOW2_WITH_BACKING))

    assert info.format == "qcow2"
    assert info.virtual_size_bytes == 10485760
    assert info.actual_size_bytes == 200704
    assert info.backing_file == "/tmp/a.qcow2"
    assert info.data_file is None
    assert info.corrupt is False


def test_parses_raw_without_backing_file():
    info = parse_image_info(
        b'{"virtual-size": 1048576, "filename": "r", "format": "raw", "actual-size": 0}'
    )

    assert (info.format, info.virtual_size_bytes, info.backing_file) == ("raw", 1048576, None)


def test_parses_external_data_file_and_corrupt_flag():
    data = dict(QCOW2_WITH_BACKING)
    del data["full-backing-filename"], data["backing-filename"]
    data["format-specific"] = {
        "type": "qcow2",
        "data": {"data-file": "/dev/sda", "corrupt": True},
    }

    info = parse_image_info(json.dumps(data))

    assert info.backing_file is None
    assert info.data_file == "/dev/sda"
    assert info.corrupt is True


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "raw"}',
        '{"virtual-size": 1}',
        '{"format": "raw", "virtual-size": -1}',
    ],
)
def test_rejects_unexpected_output(text):
    with pytest.raises(QemuImgOutputError):
        parse_image_info(text)


def test_info_runs_qemu_img_with_an_argument_list():
    calls = []

    def fake_run(argv, *, timeout_s, input=None):
        calls.append((list(argv), timeout_s))
        return CommandResult(0, json.dumps(QCOW2_WITH_BACKING).encode(), b"")

    info = QemuImg(fake_run).info(Path("/pool/x.part"))

    assert calls == [(["qemu-img", "info", "--output=json", "-U", "/pool/x.part"], 60.0)]
    assert info.format == "qcow2"


def test_parses_backing_format():
    assert parse_image_info(json.dumps(QCOW2_WITH_BACKING)).backing_format == "qcow2"


def recording_runner(calls: list[list[str]]) -> RunCommand:
    def fake_run(argv, *, timeout_s, input=None):
        calls.append(list(argv))
        return CommandResult(0, b"", b"")

    return fake_run


def test_create_overlay_names_the_backing_format_so_nothing_is_probed():
    calls: list[list[str]] = []

    QemuImg(recording_runner(calls)).create(
        Path("/pool/root.qcow2"), size_bytes=None, backing=Path("/pool/t1"), backing_format="raw"
    )

    assert calls == [
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "/pool/t1",
            "-F",
            "raw",
            "/pool/root.qcow2",
        ]
    ]


def test_create_overlay_with_size_and_blank_image():
    calls: list[list[str]] = []
    qemu_img = QemuImg(recording_runner(calls))

    qemu_img.create(
        Path("/pool/r.qcow2"), size_bytes=2048, backing=Path("/pool/t1"), backing_format="qcow2"
    )
    qemu_img.create(Path("/pool/d.qcow2"), size_bytes=1048576)

    assert calls[0][-2:] == ["/pool/r.qcow2", "2048"]
    assert calls[1] == ["qemu-img", "create", "-q", "-f", "qcow2", "/pool/d.qcow2", "1048576"]


def test_create_refuses_incomplete_requests():
    qemu_img = QemuImg(recording_runner([]))

    with pytest.raises(ValueError, match="needs a size"):
        qemu_img.create(Path("/pool/d.qcow2"), size_bytes=None)
    with pytest.raises(ValueError, match="format"):
        qemu_img.create(Path("/pool/r.qcow2"), size_bytes=None, backing=Path("/pool/t1"))
