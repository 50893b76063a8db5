"""create_volume and DeletePoolFile on a real pool directory, with a fake qemu-img."""

import threading
from pathlib import Path
from typing import Any

import pytest

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.host.commands import CommandFailedError
from kvmcloud.agent.host.qemu_img import ImageInfo
from kvmcloud.agent.pools import PARTIAL_DIR_NAME
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.agent.vms.volumes import create_volume
from kvmcloud.protocol.agent_messages import (
    Answer,
    Command,
    CreateVolumeCommand,
    DeletePoolFileCommand,
    PoolFileDeleted,
    PoolSpec,
    PoolType,
    VolumeResult,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.unit.agent.fakes import FakeDownloader, FakeHypervisor, FakeVolumeImages

MIB = 1024 * 1024
TEMPLATE = "5b0b6e1c-template"


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool"
    path.mkdir()
    (path / TEMPLATE).write_bytes(b"template bytes")
    return path


@pytest.fixture
def images() -> FakeVolumeImages:
    return FakeVolumeImages(
        images={
            TEMPLATE: ImageInfo(
                format="qcow2",
                virtual_size_bytes=10 * MIB,
                actual_size_bytes=MIB,
                backing_file=None,
            )
        }
    )


def command(pool: Path, **fields: Any) -> CreateVolumeCommand:
    values: dict[str, Any] = {
        "pool": PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool)),
        "name": "root-10.qcow2",
        "backing_name": TEMPLATE,
        "backing_format": "QCOW2",
    }
    values.update(fields)
    return CreateVolumeCommand(**values)


def run(command: Command, images: FakeVolumeImages) -> Answer:
    handlers = CommandHandlers(
        downloaders={"http": FakeDownloader()},
        qemu_img=images,
        vms=VmLifecycle(
            hypervisor=FakeHypervisor(), console_dir=Path("/nonexistent"), kvm_usable=lambda: True
        ),
        certificates=CertificateStore(Path("/nonexistent")),
    )
    execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)
    return handlers.execute(command, execution)


def failure(answer: Answer) -> tuple[ErrorCode, str]:
    assert not answer.ok
    assert answer.error is not None
    return answer.error.code, answer.error.message


def pool_entries(pool: Path) -> list[str]:
    return sorted(str(p.relative_to(pool)) for p in pool.rglob("*") if p.is_file())


def test_overlay_on_a_template_takes_its_size(pool: Path, images: FakeVolumeImages) -> None:
    answer = run(command(pool), images)

    assert answer.ok, answer.error
    assert answer.result == VolumeResult(
        path=str(pool / "root-10.qcow2"), virtual_size_bytes=10 * MIB, physical_size_bytes=196608
    )
    (created,) = images.created
    assert created["backing"] == pool / TEMPLATE
    assert created["format"] == "qcow2"
    assert created["size_bytes"] is None
    # Made in the partial directory, then published; nothing is left behind.
    assert Path(str(created["path"])).parent == pool / PARTIAL_DIR_NAME
    assert pool_entries(pool) == [TEMPLATE, "root-10.qcow2"]


def test_overlay_can_be_bigger_than_its_template(pool: Path, images: FakeVolumeImages) -> None:
    result = create_volume(command(pool, size_bytes=20 * MIB), qemu_img=images, attempt_id="a1")

    assert result.virtual_size_bytes == 20 * MIB


def test_overlay_smaller_than_its_template_is_refused(pool: Path, images: FakeVolumeImages) -> None:
    code, message = failure(run(command(pool, size_bytes=MIB), images))

    assert code is ErrorCode.BAD_COMMAND
    assert "smaller than" in message and str(10 * MIB) in message
    assert images.created == []


def test_blank_volume(pool: Path, images: FakeVolumeImages) -> None:
    result = create_volume(
        command(pool, name="data-11.qcow2", backing_name=None, backing_format=None, size_bytes=MIB),
        qemu_img=images,
        attempt_id="a1",
    )

    assert result.virtual_size_bytes == MIB
    assert images.created[0]["backing"] is None


def test_blank_volume_needs_a_size(pool: Path, images: FakeVolumeImages) -> None:
    answer = run(command(pool, backing_name=None, backing_format=None), images)

    assert failure(answer)[0] is ErrorCode.BAD_COMMAND


def test_repeating_the_same_request_returns_the_volume(
    pool: Path, images: FakeVolumeImages
) -> None:
    first = run(command(pool), images)
    second = run(command(pool), images)

    assert second.ok and second.result == first.result
    assert len(images.created) == 1


@pytest.mark.parametrize(
    "different",
    [
        {"size_bytes": 20 * MIB},
        {"backing_name": None, "backing_format": None, "size_bytes": 10 * MIB},
    ],
)
def test_a_different_volume_of_the_same_name_is_not_overwritten(
    pool: Path, images: FakeVolumeImages, different: dict[str, Any]
) -> None:
    run(command(pool), images)
    before = (pool / "root-10.qcow2").read_bytes()

    code, message = failure(run(command(pool, **different), images))

    assert code is ErrorCode.VOLUME_FAILURE
    assert "already exists" in message
    assert (pool / "root-10.qcow2").read_bytes() == before


def test_a_symlink_is_never_taken_for_a_volume(pool: Path, images: FakeVolumeImages) -> None:
    (pool / "root-10.qcow2").symlink_to("/etc/passwd")

    code, message = failure(run(command(pool), images))

    assert code is ErrorCode.VOLUME_FAILURE
    assert "symbolic link" in message


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": "../escape.qcow2"}, ErrorCode.BAD_COMMAND),
        ({"name": "a/b"}, ErrorCode.BAD_COMMAND),
        ({"backing_name": "../../etc/shadow"}, ErrorCode.BAD_COMMAND),
        ({"backing_name": ".kvmcloud-partial"}, ErrorCode.BAD_COMMAND),
        ({"backing_format": "vmdk"}, ErrorCode.BAD_COMMAND),
        ({"backing_format": None}, ErrorCode.BAD_COMMAND),
        ({"backing_name": None}, ErrorCode.BAD_COMMAND),
        ({"size_bytes": 0}, ErrorCode.BAD_COMMAND),
        ({"size_bytes": 1000}, ErrorCode.BAD_COMMAND),
        ({"backing_name": "missing-template"}, ErrorCode.VOLUME_FAILURE),
    ],
)
def test_invalid_requests(
    pool: Path, images: FakeVolumeImages, fields: dict[str, Any], code: ErrorCode
) -> None:
    assert failure(run(command(pool, **fields), images))[0] is code
    assert images.created == []
    assert pool_entries(pool) == [TEMPLATE]


def test_missing_pool_is_pool_unavailable(tmp_path: Path, images: FakeVolumeImages) -> None:
    code, _ = failure(run(command(tmp_path / "unmounted"), images))

    assert code is ErrorCode.POOL_UNAVAILABLE


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        (
            ImageInfo(format="raw", virtual_size_bytes=MIB, actual_size_bytes=0, backing_file=None),
            "is raw, not qcow2",
        ),
        (
            ImageInfo(
                format="qcow2", virtual_size_bytes=MIB, actual_size_bytes=0, backing_file="/x"
            ),
            "refers to another file",
        ),
    ],
)
def test_unfit_backing_files_are_refused(
    pool: Path, images: FakeVolumeImages, info: ImageInfo, problem: str
) -> None:
    images.images[TEMPLATE] = info

    code, message = failure(run(command(pool), images))

    assert code is ErrorCode.VOLUME_FAILURE
    assert problem in message


def test_qemu_img_failure_is_a_volume_failure_and_leaves_nothing(
    pool: Path, images: FakeVolumeImages
) -> None:
    images.create_error = CommandFailedError(["qemu-img", "create"], 1, b"disk quota exceeded")

    code, message = failure(run(command(pool), images))

    assert code is ErrorCode.VOLUME_FAILURE
    assert "disk quota exceeded" in message
    assert pool_entries(pool) == [TEMPLATE]


def delete(pool: Path, name: str) -> Answer:
    spec = PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool))
    return run(DeletePoolFileCommand(pool=spec, name=name), FakeVolumeImages())


def test_delete_pool_file_says_whether_it_existed(pool: Path) -> None:
    (pool / "root-10.qcow2").write_bytes(b"x")

    assert delete(pool, "root-10.qcow2").result == PoolFileDeleted(existed=True)
    assert delete(pool, "root-10.qcow2").result == PoolFileDeleted(existed=False)
    assert pool_entries(pool) == [TEMPLATE]


@pytest.mark.parametrize("name", ["../pool", "..", ".kvmcloud-partial", "a/b", ""])
def test_delete_refuses_names_outside_the_pool(pool: Path, name: str) -> None:
    assert failure(delete(pool, name))[0] is ErrorCode.BAD_COMMAND


def test_delete_refuses_directories(pool: Path) -> None:
    (pool / "subdir").mkdir()

    code, message = failure(delete(pool, "subdir"))

    assert code is ErrorCode.BAD_COMMAND
    assert "is a directory" in message


def test_delete_from_a_missing_pool_is_pool_unavailable(tmp_path: Path) -> None:
    assert failure(delete(tmp_path / "unmounted", "x"))[0] is ErrorCode.POOL_UNAVAILABLE
