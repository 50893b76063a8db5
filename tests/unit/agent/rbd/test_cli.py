import json
from pathlib import Path

import pytest

from kvmcloud.agent.rbd import cli
from kvmcloud.agent.rbd.cli import Monitor, PoolUsage, RbdAccess, RbdOutputError

ACCESS = RbdAccess((Monitor("10.0.0.1"), Monitor("ceph-b.example", 6790)), "vms", "cloudstack")
KEYFILE = Path("/run/kvmcloud/key")


def test_connection_args_name_the_monitors_user_and_key_file_never_the_key() -> None:
    assert cli.connection_args(ACCESS, KEYFILE) == [
        "--conf", "/dev/null", "-m", "10.0.0.1:6789,ceph-b.example:6790",
        "--id", "cloudstack", "--keyfile", "/run/kvmcloud/key",
        "--client_mount_timeout", "15",
    ]  # fmt: skip


def test_rbd_and_ceph_argv() -> None:
    assert cli.rbd_argv(ACCESS, KEYFILE, "ls")[0] == "rbd"
    assert cli.rbd_argv(ACCESS, KEYFILE, "ls")[-1] == "ls"
    argv = cli.ceph_argv(ACCESS, KEYFILE, "osd", "dump")
    assert argv[0] == "ceph"
    assert argv[-4:] == ["osd", "dump", "--format", "json"]


def test_import_reads_stdin_into_a_format_2_image() -> None:
    assert cli.import_args(ACCESS, "t-1") == [
        "import", "--no-progress", "--image-format", "2", "-", "vms/t-1",
    ]  # fmt: skip


def test_qemu_target_escapes_colons_and_gives_the_key_by_file() -> None:
    target = cli.qemu_rbd_target(ACCESS, "img", KEYFILE)

    assert target == (
        "rbd:vms/img:mon_host=10.0.0.1\\:6789;ceph-b.example\\:6790:id=cloudstack"
        ":keyfile=/run/kvmcloud/key:conf=/dev/null"
    )


def test_qemu_target_refuses_a_key_file_path_with_separators() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        cli.qemu_rbd_target(ACCESS, "img", Path("/tmp/a:b"))


def test_convert_writes_raw() -> None:
    assert cli.convert_argv(Path("/p/t.qcow2"), "qcow2", "rbd:x") == [
        "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", "/p/t.qcow2", "rbd:x",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["", "a/b", "a@b", "a:b", "-x", ".x", "a b", "x" * 129, "é"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        ACCESS.spec(name)


def test_spec_with_snapshot() -> None:
    assert ACCESS.spec("tmpl-1", "base") == "vms/tmpl-1@base"


@pytest.mark.parametrize(
    ("monitors", "pool", "user", "match"),
    [
        ((), "vms", "u", "at least one monitor"),
        ((Monitor("h"),), "a/b", "u", "pool"),
        ((Monitor("h"),), "vms", "client.admin", "without 'client.'"),
        ((Monitor("h"),), "vms", "u:x", "not allowed"),
    ],
)
def test_invalid_access_is_refused(
    monitors: tuple[Monitor, ...], pool: str, user: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RbdAccess(monitors, pool, user)


@pytest.mark.parametrize(
    ("host", "port"), [("a:b", 6789), ("h;x", 1), ("h", 0), ("h", 70000), ("a..b", 1)]
)
def test_invalid_monitors_are_refused(host: str, port: int) -> None:
    with pytest.raises(ValueError, match="monitor"):
        Monitor(host, port)


def test_parse_children_with_and_without_namespace() -> None:
    text = json.dumps(
        [
            {"pool": "vms", "pool_namespace": "", "image": "vm-1"},
            {"pool": "vms", "pool_namespace": "ns", "image": "vm-2"},
        ]
    )
    assert cli.parse_children(text) == ["vms/vm-1", "vms/ns/vm-2"]
    assert cli.parse_children("[]") == []


@pytest.mark.parametrize("text", ["", "{}", "[{}]", "[1]"])
def test_parse_children_refuses_other_shapes(text: str) -> None:
    with pytest.raises(RbdOutputError):
        cli.parse_children(text)


def test_parse_image_names() -> None:
    assert cli.parse_image_names(b'["a", "b"]') == ["a", "b"]
    with pytest.raises(RbdOutputError):
        cli.parse_image_names("[1]")


# Recorded from rbd 16.2.15 (tests/support/ceph.py's cluster): a template image with a
# protected snapshot and one clone.
DU = (
    '{"images":[{"name":"a","id":"10185da2061d","snapshot":"s","snapshot_id":4,'
    '"provisioned_size":3000000,"used_size":3000000},{"name":"a","id":"10185da2061d",'
    '"provisioned_size":3000000,"used_size":0},{"name":"b","id":"10226c4ef231",'
    '"provisioned_size":3000000,"used_size":0}],"total_provisioned_size":6000000,'
    '"total_used_size":3000000}'
)


def test_parse_du_takes_the_totals() -> None:
    assert cli.parse_du(DU) == PoolUsage(used_bytes=3_000_000, provisioned_bytes=6_000_000)
    assert cli.parse_du('{"images":[]}') == PoolUsage(0, 0)
    with pytest.raises(RbdOutputError):
        cli.parse_du('{"total_used_size": -1}')


def test_parse_quota_from_the_osd_map() -> None:
    dump = json.dumps(
        {
            "pools": [
                {"pool_name": "other", "quota_max_bytes": 5},
                {"pool_name": "vms", "quota_max_bytes": 1 << 30, "quota_max_objects": 0},
            ]
        }
    )
    assert cli.parse_quota(dump, "vms") == 1 << 30
    assert cli.parse_quota(dump.replace(str(1 << 30), "0"), "vms") is None
    with pytest.raises(RbdOutputError, match="does not list pool"):
        cli.parse_quota(dump, "missing")


# Without a mgr (the test cluster) ceph df reports zeros and no pools.
DF_WITHOUT_MGR = (
    '{"stats":{"total_bytes":0,"total_avail_bytes":0,"total_used_bytes":0,'
    '"total_used_raw_bytes":0,"total_used_raw_ratio":0,"num_osds":0,"num_per_pool_osds":0,'
    '"num_per_pool_omap_osds":0},"stats_by_class":{},"pools":[]}'
)
DF_WITH_MGR = json.dumps(
    {
        "stats": {"total_bytes": 300 << 30},
        "pools": [{"name": "vms", "id": 1, "stats": {"stored": 10, "max_avail": 90 << 30}}],
    }
)


def test_parse_df_available() -> None:
    assert cli.parse_df_available(DF_WITHOUT_MGR, "vms") is None
    assert cli.parse_df_available(DF_WITH_MGR, "vms") == 90 << 30
    assert cli.parse_df_available(DF_WITH_MGR, "other") is None


def test_pool_capacity_is_used_plus_available_bounded_by_the_quota() -> None:
    usage = PoolUsage(used_bytes=10, provisioned_bytes=50)

    assert cli.pool_capacity(usage, quota_bytes=None, available_bytes=None).capacity_bytes is None
    assert cli.pool_capacity(usage, quota_bytes=None, available_bytes=90).capacity_bytes == 100
    assert cli.pool_capacity(usage, quota_bytes=60, available_bytes=90).capacity_bytes == 60
    only_quota = cli.pool_capacity(usage, quota_bytes=1000, available_bytes=None)
    assert only_quota == cli.PoolCapacity(capacity_bytes=1000, used_bytes=10, allocated_bytes=50)


def test_parse_snapshots() -> None:
    text = (
        '[{"id":4,"name":"base","size":3000000,"protected":"true","timestamp":"x"},'
        '{"id":5,"name":"b","protected":"false"}]'
    )
    assert cli.parse_snapshots(text) == [cli.Snapshot("base", True), cli.Snapshot("b", False)]
    with pytest.raises(RbdOutputError):
        cli.parse_snapshots('[{"id": 1}]')


def test_error_excerpt_blanks_secrets_and_joins_lines() -> None:
    stderr = b"rbd: error\n  key AQBsecret== refused\n"
    assert cli.error_excerpt(stderr, ["AQBsecret=="]) == "rbd: error key *** refused"
    assert cli.error_excerpt(b"") == "no message"


def test_not_found_and_exists_recognised() -> None:
    assert cli.is_not_found(b"rbd: error opening image zz: (2) No such file or directory")
    assert cli.is_not_found(b"rbd: snapshot does not exist.")
    assert not cli.is_not_found(b"rbd: image has snapshots")
    assert cli.is_exists(b"rbd: rename error: (17) File exists")
