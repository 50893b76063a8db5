import os
from pathlib import Path

import pytest

from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.pools import PARTIAL_DIR_NAME, StoragePool, validate_file_name
from kvmcloud.protocol.agent_messages import PoolSpec, PoolType
from kvmcloud.protocol.error_codes import ErrorCode


def pool_at(path: Path | str) -> StoragePool:
    return StoragePool(PoolSpec(uuid="pool-1", type=PoolType.FILESYSTEM, path=str(path)))


def test_check_reports_capacity(tmp_path):
    report = pool_at(tmp_path).check()

    stats = os.statvfs(tmp_path)
    assert report.uuid == "pool-1"
    assert report.capacity_bytes == stats.f_blocks * stats.f_frsize
    assert 0 < report.available_bytes <= report.capacity_bytes
    assert list(tmp_path.iterdir()) == []  # the write probe cleans up after itself


@pytest.mark.parametrize(
    ("make_path", "problem"),
    [
        (lambda tmp: "relative/dir", "is not an absolute path"),
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp / "file", "is not a directory"),
    ],
)
def test_check_says_why_a_pool_is_unusable(tmp_path, make_path, problem):
    (tmp_path / "file").write_text("x")

    with pytest.raises(PoolUnavailableError, match=problem) as caught:
        pool_at(make_path(tmp_path)).check()
    assert caught.value.code is ErrorCode.POOL_UNAVAILABLE


def test_check_detects_read_only_directory(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)
    with pytest.raises(PoolUnavailableError, match="not writable: Permission denied"):
        pool_at(tmp_path).check()


def test_temp_path_is_per_attempt_inside_the_pool(tmp_path):
    pool = pool_at(tmp_path)

    first = pool.temp_path("t.qcow2", "a1")
    second = pool.temp_path("t.qcow2", "a2")

    assert first == tmp_path / PARTIAL_DIR_NAME / "t.qcow2.a1.part"
    assert first != second
    assert first.parent.is_dir()


def test_install_publishes_atomically(tmp_path):
    pool = pool_at(tmp_path)
    temp = pool.temp_path("t.qcow2", "a1")
    temp.write_bytes(b"image")

    final = pool.install(temp, "t.qcow2")

    assert final == tmp_path / "t.qcow2"
    assert final.read_bytes() == b"image"
    assert not temp.exists()


def test_install_replaces_an_existing_file(tmp_path):
    pool = pool_at(tmp_path)
    (tmp_path / "t.qcow2").write_bytes(b"old")
    temp = pool.temp_path("t.qcow2", "a1")
    temp.write_bytes(b"new")

    assert pool.install(temp, "t.qcow2").read_bytes() == b"new"


def test_install_without_overwrite_keeps_an_existing_file(tmp_path):
    pool = pool_at(tmp_path)
    (tmp_path / "v.qcow2").write_bytes(b"old")
    temp = pool.temp_path("v.qcow2", "a1")
    temp.write_bytes(b"new")

    with pytest.raises(FileExistsError):
        pool.install(temp, "v.qcow2", overwrite=False)

    assert (tmp_path / "v.qcow2").read_bytes() == b"old"
    assert temp.read_bytes() == b"new"


def test_install_without_overwrite_publishes_a_new_file(tmp_path):
    pool = pool_at(tmp_path)
    temp = pool.temp_path("v.qcow2", "a1")
    temp.write_bytes(b"new")

    assert pool.install(temp, "v.qcow2", overwrite=False).read_bytes() == b"new"
    assert not temp.exists()


@pytest.mark.parametrize(
    "name", ["", ".hidden", "..", "a/../b", "a/b", "a..b", "a b", "é.qcow2", "x" * 201]
)
def test_unsafe_names_are_bad_commands(name):
    with pytest.raises(BadCommandError) as caught:
        validate_file_name(name, what="install name")
    assert caught.value.code is ErrorCode.BAD_COMMAND


@pytest.mark.parametrize("name", ["t.qcow2", "0f3c-uuid_v1.raw", "a.b.c"])
def test_safe_names_pass(name):
    assert validate_file_name(name, what="install name") == name


def test_temp_path_rejects_unsafe_install_name(tmp_path):
    with pytest.raises(BadCommandError, match=r"install name '\.\./x'"):
        pool_at(tmp_path).temp_path("../x", "a1")
