"""rbd_secrets() (pure): the libvirt secrets a VM's RBD disks need, one per pool."""

import base64
import binascii
from dataclasses import dataclass, field

from kvmcloud.agent.rbd.libvirt_xml import secret_uuid_for, secret_xml
from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.protocol.agent_messages import DiskSpec, PoolType


@dataclass(frozen=True, slots=True)
class CephSecret:
    """A libvirt ``<secret>`` of usage type ceph and its value (the decoded cephx key)."""

    uuid: str
    xml: str
    value: bytes = field(repr=False)


def rbd_secrets(disks: list[DiskSpec]) -> list[CephSecret]:
    """One secret per RBD pool among ``disks`` (libvirt stores the key base64-decoded).

    Raises:
        InvalidVmCommandError: an RBD disk's pool comes without a key, or a key that is
            not base64.
    """
    secrets: dict[str, CephSecret] = {}
    for index, disk in enumerate(disks):
        pool = disk.pool
        if pool is None or pool.type != PoolType.RBD or pool.uuid in secrets:
            continue
        if not pool.secret:
            raise InvalidVmCommandError(f"disks[{index}]: RBD pool {pool.uuid} has no key")
        try:
            value = base64.b64decode(pool.secret, validate=True)
            secret_uuid = secret_uuid_for(pool.uuid)
        except (binascii.Error, ValueError) as exc:
            # The message names neither the key nor the decoder's view of it.
            raise InvalidVmCommandError(
                f"disks[{index}]: the key of RBD pool {pool.uuid} is not base64"
            ) from exc
        secrets[pool.uuid] = CephSecret(secret_uuid, secret_xml(secret_uuid, pool.uuid), value)
    return list(secrets.values())
