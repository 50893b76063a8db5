import pytest

from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.infrastructure.models import PoolType
from kvmcloud.server.infrastructure.service import parse_pool_url


@pytest.mark.parametrize(
    ("url", "path", "host"),
    [
        ("nfs://10.0.0.5/export/primary", "/export/primary", "10.0.0.5"),
        ("nfs://NFS.example.org/export/", "/export", "nfs.example.org"),
        ("NFS://nfs1:2049/srv/kvm-pool_1", "/srv/kvm-pool_1", "nfs1"),
    ],
)
def test_nfs_urls_give_server_and_export(url: str, path: str, host: str) -> None:
    assert parse_pool_url(url) == (PoolType.NETWORK_FILESYSTEM, path, host)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nfs:///export", "should be nfs://hostname/path"),
        ("nfs://server", "should be nfs://hostname/path"),
        ("nfs://server/", "should be nfs://hostname/path"),
        ("nfs://server/export?nfsport=1234", "without user, query or fragment"),
        ("nfs://user@server/export", "without user, query or fragment"),
        ("nfs://server/export#x", "without user, query or fragment"),
        ("nfs://server:111/export", "only the standard port 2049"),
        ("nfs://server:99999/export", "invalid port"),
        ("nfs://-bad-/export", "no valid NFS server"),
        ("nfs://[::1]/export", "no valid NFS server"),
        ("nfs://999.1.1.1/export", "no valid NFS server"),
        ("nfs://server/export/../etc", "absolute export path"),
        ("nfs://server/ex port", "absolute export path"),
        ("nfs://server/export;rm", "absolute export path"),
        ("ceph://mon/pool", "is not supported"),
    ],
)
def test_bad_nfs_urls_are_refused_naming_url(url: str, says: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        parse_pool_url(url)
    assert raised.value.param == "url"
    assert says in str(raised.value)
