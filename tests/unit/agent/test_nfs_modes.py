"""NFS access modes: the mode a host picks, its mount point and command, mount table reading."""

from pathlib import Path

import pytest

from kvmcloud.agent.nfs_modes import (
    NfsMode,
    choose_mode,
    kernel_nfs_listed,
    mount_command,
    mount_point,
    mounted_source,
    nfs_file_path,
)

NO_NFS = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlay\n"
WITH_NFS = NO_NFS + "nodev\tnfs\nnodev\tnfs4\n"


def test_the_kernel_client_is_seen_in_proc_filesystems() -> None:
    assert kernel_nfs_listed(WITH_NFS)
    assert kernel_nfs_listed("nodev\tnfs4\n")
    assert not kernel_nfs_listed(NO_NFS)
    # nfsd (the server) is not a client.
    assert not kernel_nfs_listed("nodev\tnfsd\n")


def test_auto_mounts_when_the_kernel_and_mount_nfs_can() -> None:
    mode, reason = choose_mode(
        NfsMode.AUTO, proc_filesystems=WITH_NFS, module_loadable=False, mount_helper=True
    )
    assert mode == NfsMode.MOUNT
    assert "mount.nfs" in reason


def test_auto_mounts_when_the_module_can_be_loaded() -> None:
    mode, _ = choose_mode(
        NfsMode.AUTO, proc_filesystems=NO_NFS, module_loadable=True, mount_helper=True
    )
    assert mode == NfsMode.MOUNT


def test_auto_stays_in_user_space_without_a_kernel_client() -> None:
    # As on the test machines: mount.nfs is installed, the kernel has no NFS client.
    mode, reason = choose_mode(
        NfsMode.AUTO, proc_filesystems=NO_NFS, module_loadable=False, mount_helper=True
    )
    assert mode == NfsMode.USERSPACE
    assert "no kernel NFS client" in reason


def test_auto_stays_in_user_space_without_mount_nfs() -> None:
    mode, reason = choose_mode(
        NfsMode.AUTO, proc_filesystems=WITH_NFS, module_loadable=False, mount_helper=False
    )
    assert mode == NfsMode.USERSPACE
    assert "nfs-common" in reason


@pytest.mark.parametrize("forced", [NfsMode.MOUNT, NfsMode.USERSPACE])
def test_a_forced_mode_is_taken_whatever_the_host_has(forced: NfsMode) -> None:
    for filesystems in (NO_NFS, WITH_NFS):
        mode, reason = choose_mode(
            forced, proc_filesystems=filesystems, module_loadable=False, mount_helper=False
        )
        assert mode == forced
        assert "KVMCLOUD_AGENT_NFS_MODE" in reason


def test_the_mount_point_is_the_pool_uuid_under_the_base() -> None:
    uuid = "0b6f1c2e-4f4e-4a43-9d0d-3f6c1a6e2b10"
    assert mount_point(Path("/mnt"), uuid) == Path(f"/mnt/{uuid}")
    assert mount_point(Path("/var/lib/kvmcloud/mnt"), uuid).parent == Path("/var/lib/kvmcloud/mnt")


@pytest.mark.parametrize("uuid", ["", "..", "../etc", "a/b", ".hidden", "x" * 65])
def test_a_uuid_that_could_escape_the_base_is_refused(uuid: str) -> None:
    with pytest.raises(ValueError, match="mount point"):
        mount_point(Path("/mnt"), uuid)


def test_the_mount_command_is_a_hard_nfs_mount_of_server_and_export() -> None:
    argv = mount_command("10.0.0.5", "/export/primary/", Path("/mnt/p1"))
    assert argv == [
        "mount",
        "-t",
        "nfs",
        "-o",
        "nosuid,nodev,noexec",
        "10.0.0.5:/export/primary",
        "/mnt/p1",
    ]
    assert not any("soft" in a for a in argv)


MOUNTS = (
    "sysfs /sys sysfs rw,nosuid 0 0\n"
    "10.0.0.5:/export/primary /mnt/p1 nfs4 rw,relatime,vers=4.2 0 0\n"
    "tmpfs /mnt/p2 tmpfs rw 0 0\n"
    "nfs.example.org:/export/with\\040space/ /mnt/p3 nfs rw 0 0\n"
)


def test_the_mount_table_says_what_is_mounted_on_a_mount_point() -> None:
    assert mounted_source(MOUNTS, Path("/mnt/p1")) == "10.0.0.5:/export/primary"
    assert mounted_source(MOUNTS, Path("/mnt/p2")) == "tmpfs:tmpfs"
    assert mounted_source(MOUNTS, Path("/mnt/p3")) == "nfs.example.org:/export/with space"
    assert mounted_source(MOUNTS, Path("/mnt/p4")) is None


def test_a_disk_url_maps_to_the_file_under_its_mount_point() -> None:
    found = nfs_file_path(MOUNTS, Path("/mnt"), "10.0.0.5", "/export/primary", "ROOT-1.qcow2")
    assert found == Path("/mnt/p1/ROOT-1.qcow2")
    assert nfs_file_path(MOUNTS, Path("/mnt"), "10.0.0.6", "/export/primary", "x") is None
    assert nfs_file_path(MOUNTS, Path("/srv"), "10.0.0.5", "/export/primary", "x") is None
