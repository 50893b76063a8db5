"""create_rbd_volume(): a VM disk in an RBD pool, a clone of its template's protected snapshot."""

import logging

from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.rbd.errors import RbdError, RbdImageExistsError, RbdImageNotFoundError
from kvmcloud.agent.rbd.pool import TEMPLATE_SNAPSHOT, RbdStoragePool
from kvmcloud.agent.vms.errors import VolumeFailureError
from kvmcloud.protocol.agent_messages import CreateVolumeCommand, VolumeResult

logger = logging.getLogger(__name__)


def create_rbd_volume(command: CreateVolumeCommand, *, size_bytes: int | None) -> VolumeResult:
    """Clone ``backing_name@kvmcloud-base`` to ``name`` (grown to ``size_bytes`` if larger).

    A blank volume is an empty image of ``size_bytes``. A repeated request finds the clone
    it made and answers it again; an image of that name that is no clone of this template
    is someone else's and refused. The path answered is the image name.

    Raises:
        BadCommandError: a name is unsafe, or a blank volume without a size.
        PoolUnavailableError: the cluster cannot be reached.
        VolumeFailureError: the template image or its snapshot is missing, or the name is
            taken by another image.
    """
    pool = RbdStoragePool(command.pool)
    name = command.name
    spec = pool.access.spec(name)
    client = pool.client
    try:
        if command.backing_name is None:
            if size_bytes is None:
                raise BadCommandError(f"volume {name!r}: a blank volume needs size_bytes")
            return _blank(pool, name, size_bytes)
        template = command.backing_name
        pool.access.spec(template, TEMPLATE_SNAPSHOT)
        try:
            base_size = client.image_size(template)
        except RbdImageNotFoundError as exc:
            raise VolumeFailureError(
                f"template image {pool.access.spec(template)} is not in the pool"
            ) from exc
        wanted = max(size_bytes or 0, base_size)
        try:
            client.clone(template, TEMPLATE_SNAPSHOT, name)
        except RbdImageExistsError:
            children = client.children(template, TEMPLATE_SNAPSHOT)
            if spec not in children:
                raise VolumeFailureError(
                    f"volume {spec} already exists and is not a clone of "
                    f"{pool.access.spec(template, TEMPLATE_SNAPSHOT)}"
                ) from None
            logger.info("volume %s already exists as requested", spec)
        except RbdImageNotFoundError as exc:
            raise VolumeFailureError(
                f"template snapshot {pool.access.spec(template, TEMPLATE_SNAPSHOT)} is missing"
            ) from exc
        if client.image_size(name) < wanted:
            client.resize(name, wanted)
        logger.info("created volume %s as a clone of %s", spec, template)
        return VolumeResult(path=name, virtual_size_bytes=wanted, physical_size_bytes=0)
    except (RbdError, ValueError) as exc:
        if isinstance(exc, ValueError):
            raise BadCommandError(str(exc)) from exc
        raise PoolUnavailableError(f"cannot create volume {spec}: {exc}") from exc


def _blank(pool: RbdStoragePool, name: str, size_bytes: int) -> VolumeResult:
    try:
        existing = pool.client.image_size(name)
    except RbdImageNotFoundError:
        pool.client.create(name, size_bytes)
        return VolumeResult(path=name, virtual_size_bytes=size_bytes, physical_size_bytes=0)
    if existing != size_bytes:
        raise VolumeFailureError(
            f"volume {pool.access.spec(name)} already exists with {existing} bytes, "
            f"not {size_bytes}"
        )
    return VolumeResult(path=name, virtual_size_bytes=size_bytes, physical_size_bytes=0)
