from kvmcloud.server.infrastructure.models import PoolScope, PoolType, StoragePool
from kvmcloud.server.vms.hosting import pool_path


def pool(pool_type: PoolType, path: str, host: str) -> StoragePool:
    return StoragePool(pool_type=pool_type, path=path, host_address=host, scope=PoolScope.CLUSTER)


def test_directory_pools_give_host_paths() -> None:
    shared = pool(PoolType.SHARED_MOUNT_POINT, "/mnt/pool", "localhost")
    assert pool_path(shared, "ROOT-1.qcow2") == "/mnt/pool/ROOT-1.qcow2"


def test_nfs_pools_give_nfs_urls_for_qemu() -> None:
    nfs = pool(PoolType.NETWORK_FILESYSTEM, "/export/primary", "10.0.0.5")
    assert pool_path(nfs, "ROOT-1.qcow2") == "nfs://10.0.0.5/export/primary/ROOT-1.qcow2"
