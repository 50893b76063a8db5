"""open_pool(): the pool implementation for a PoolSpec's type, RBD included."""

from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess
from kvmcloud.agent.nfs_pool import NfsStoragePool
from kvmcloud.agent.nfs_pool import open_pool as open_file_pool
from kvmcloud.agent.pools import StoragePool
from kvmcloud.agent.rbd.pool import RbdStoragePool
from kvmcloud.protocol.agent_messages import PoolSpec, PoolType

AnyPool = StoragePool | NfsStoragePool | RbdStoragePool


def open_pool(spec: PoolSpec, nfs: NfsAccess = USERSPACE_ACCESS) -> AnyPool:
    """Return the pool implementation for ``spec``'s type (NFS pools in mode ``nfs``).

    Separate from ``nfs_pool.open_pool`` (file pools), which the download engine uses: the
    RBD package builds on the engine, so the engine cannot know about it.
    """
    if spec.type == PoolType.RBD:
        return RbdStoragePool(spec)
    return open_file_pool(spec, nfs)
