import json
import logging
import os
import stat
from pathlib import Path

import pytest

from kvmcloud.agent import recovery
from kvmcloud.agent.enrollment import EnrollmentStateError
from kvmcloud.agent.pool_files import HOST_TAG
from kvmcloud.agent.pools import PARTIAL_DIR_NAME, StoragePool
from kvmcloud.agent.recovery import PoolKeeper, load_or_create_host_tag
from kvmcloud.protocol.agent_messages import PoolInventory, PoolSpec, PoolType

OTHER = "fedcba9876543210"
RANDOM = "b" * 32


def spec(path: Path, uuid: str = "p1", kind: PoolType = PoolType.SHARED_MOUNT_POINT) -> PoolSpec:
    return PoolSpec(uuid=uuid, type=kind, path=str(path))


def test_host_tag_is_made_once_privately_and_kept(tmp_path):
    state = tmp_path / "state"

    tag = load_or_create_host_tag(state)

    assert HOST_TAG.fullmatch(tag)
    assert load_or_create_host_tag(state) == tag
    saved = state / "host-tag"
    assert saved.read_text() == tag + "\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_a_damaged_host_tag_is_an_error_not_silently_replaced(tmp_path):
    (tmp_path / "host-tag").write_text("not a tag\n")

    with pytest.raises(EnrollmentStateError, match="16 lowercase hex digits"):
        load_or_create_host_tag(tmp_path)


def test_pools_are_remembered_across_restarts_and_updated(tmp_path):
    keeper = PoolKeeper.open(tmp_path)
    keeper.remember(spec(tmp_path / "a", "p1"))
    keeper.remember(spec(tmp_path / "b", "p2"))
    keeper.remember(spec(tmp_path / "a", "p1"))  # already known: nothing changes
    keeper.remember(spec(tmp_path / "c", "p2"))  # same pool, new path

    reopened = PoolKeeper.open(tmp_path)

    assert reopened.host_tag == keeper.host_tag
    assert reopened.remembered() == [spec(tmp_path / "a", "p1"), spec(tmp_path / "c", "p2")]
    saved = tmp_path / "pools.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())[0] == {
        "uuid": "p1",
        "type": "SharedMountPoint",
        "path": str(tmp_path / "a"),
        "server": None,
        "user": None,
        "secret": None,
    }


def test_relative_pool_paths_are_not_remembered(tmp_path):
    keeper = PoolKeeper.open(tmp_path)

    keeper.remember(spec(Path("relative/pool")))

    assert keeper.remembered() == []
    assert not (tmp_path / "pools.json").exists()


def test_the_pool_list_is_bounded_forgetting_the_oldest(tmp_path, monkeypatch):
    monkeypatch.setattr(recovery, "MAX_REMEMBERED_POOLS", 3)
    keeper = PoolKeeper.open(tmp_path)

    for i in range(5):
        keeper.remember(spec(tmp_path / f"pool{i}", f"p{i}"))

    assert [p.uuid for p in PoolKeeper.open(tmp_path).remembered()] == ["p2", "p3", "p4"]


def test_a_damaged_pool_list_is_logged_and_started_afresh(tmp_path, caplog):
    (tmp_path / "pools.json").write_text('{"not": "a list"}')

    with caplog.at_level(logging.ERROR):
        keeper = PoolKeeper.open(tmp_path)

    assert keeper.remembered() == []
    assert "ignoring the saved pool list" in caplog.text


def test_a_pool_list_that_cannot_be_saved_does_not_fail_the_command(tmp_path, caplog):
    keeper = PoolKeeper.open(tmp_path)
    # A directory where the file goes: replacing it fails, even for root.
    (tmp_path / "pools.json").mkdir()

    with caplog.at_level(logging.ERROR):
        keeper.remember(spec(tmp_path / "pool"))
        keeper.remember(spec(tmp_path / "pool"))  # retried, logged once

    assert keeper.remembered() == [spec(tmp_path / "pool")]
    assert caplog.text.count("cannot save the pools") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    (tmp_path / "pools.json").rmdir()
    keeper.remember(spec(tmp_path / "pool"))  # saved once it can be
    assert PoolKeeper.open(tmp_path).remembered() == [spec(tmp_path / "pool")]


def make_pool(root: Path, name: str = "pool") -> Path:
    pool = root / name
    (pool / PARTIAL_DIR_NAME).mkdir(parents=True)
    return pool


def test_stale_cleanup_removes_only_our_partials(tmp_path):
    keeper = PoolKeeper.open(tmp_path / "state")
    pool = make_pool(tmp_path)
    keeper.remember(spec(pool))
    partial_dir = pool / PARTIAL_DIR_NAME
    ours = partial_dir / f"t1.qcow2.{keeper.new_attempt_id()}.part"
    theirs = partial_dir / f"t1.qcow2.{OTHER}-{RANDOM}.part"
    untagged = partial_dir / f"t1.qcow2.{RANDOM}.part"
    for path in (ours, theirs, untagged, pool / "t0.qcow2"):
        path.write_bytes(b"x")

    report = keeper.remove_stale_partials()

    assert report.removed == 1 and report.failed_pools == 0
    assert sorted(p.name for p in partial_dir.iterdir()) == sorted([theirs.name, untagged.name])
    assert (pool / "t0.qcow2").exists()


def test_stale_cleanup_survives_missing_and_unreadable_pools(tmp_path, caplog):
    keeper = PoolKeeper.open(tmp_path / "state")
    good = make_pool(tmp_path, "good")
    not_a_dir = tmp_path / "file-pool"
    not_a_dir.mkdir()
    (not_a_dir / PARTIAL_DIR_NAME).write_text("a file where the directory should be")
    keeper.remember(spec(tmp_path / "missing", "p-missing"))
    keeper.remember(spec(not_a_dir, "p-file"))
    keeper.remember(spec(good, "p-good"))
    (good / PARTIAL_DIR_NAME / f"v.{keeper.new_attempt_id()}.part").write_bytes(b"x")

    with caplog.at_level(logging.INFO):
        report = keeper.remove_stale_partials()

    assert report.removed == 1 and report.failed_pools == 1
    assert "stale partial files of pool p-file not removed" in caplog.text
    assert "removed stale partial file" in caplog.text


def test_inventory_lists_readable_pools_with_removed_counts(tmp_path):
    keeper = PoolKeeper.open(tmp_path / "state")
    pool = make_pool(tmp_path)
    unmounted = tmp_path / "unmounted"
    unmounted.mkdir()  # an empty mount point: no partial directory
    keeper.remember(spec(pool, "p1"))
    keeper.remember(spec(unmounted, "p2"))
    keeper.remember(spec(tmp_path / "gone", "p3"))
    (pool / PARTIAL_DIR_NAME / f"t.{keeper.new_attempt_id()}.part").write_bytes(b"x")
    (pool / "template-a").write_bytes(b"a")
    (pool / "volume-b").write_bytes(b"b")
    keeper.remove_stale_partials()

    (listed,) = keeper.inventory()
    stats = os.statvfs(pool)
    assert listed == PoolInventory(
        uuid="p1",
        path=str(pool),
        files=["template-a", "volume-b"],
        truncated=False,
        stale_partials_removed=1,
        capacity_bytes=stats.f_blocks * stats.f_frsize,
        available_bytes=listed.available_bytes,
    )
    # The pool's file system figures, as CheckPool reports them.
    assert listed.available_bytes is not None
    assert 0 < listed.available_bytes <= (listed.capacity_bytes or 0)


def test_inventory_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(recovery, "MAX_INVENTORY_FILES", 2)
    keeper = PoolKeeper.open(tmp_path / "state")
    pool = make_pool(tmp_path)
    keeper.remember(spec(pool))
    for i in range(5):
        (pool / f"f{i}").write_bytes(b"")

    (inventory,) = keeper.inventory()

    assert len(inventory.files) == 2 and inventory.truncated


def test_published_files_stop_at_max_entries_as_truncated(tmp_path):
    pool = make_pool(tmp_path)
    for i in range(5):
        (pool / f"f{i}").write_bytes(b"")

    listed = StoragePool(spec(pool)).published_files(limit=100, max_entries=3)

    assert listed.truncated and len(listed.names) <= 3
