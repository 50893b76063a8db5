"""Calls a feature makes into the features built on it, wired by app.py so imports point one way."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True, kw_only=True)
class TagHolder:
    """A pool or host with its tags, and the volumes or VMs of one offering it holds."""

    name: str
    uuid: str
    tags: str | None
    # (name, uuid) of each active volume or VM of the offering on this pool or host.
    users: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """What API handlers of a lower feature need from a higher one.

    Infrastructure knows nothing of certificates, and templates nothing of VMs; yet addHost
    must queue the new host's certificate sync, and deleteTemplate must know whether VMs
    still use the template. app.py fills these in with the higher features' functions.
    """

    # certificates: queue pushing the zone's certificates to a host addHost recorded.
    queue_new_host_sync: Callable[[Session, int, datetime], bool]
    # vms: how many live VMs were deployed from, or have inserted, a template or ISO.
    count_template_users: Callable[[Session, int], int]
    # infrastructure: a live zone's id from its uuid (session, uuid, command), else 431
    # naming zoneid; the configuration feature, below it, needs it for zone settings.
    find_zone: Callable[[Session, str, str], int]
    # vms: the pools holding active volumes of an offering (session, "service" or "disk",
    # offering id), and the hosts running active VMs of a service offering: tag updates of
    # offerings are checked against them, as CloudStack does.
    offering_volume_pools: Callable[[Session, str, int], list[TagHolder]]
    offering_vm_hosts: Callable[[Session, int], list[TagHolder]]
    # pools: the virtual bytes of the live volumes and template copies on each pool given
    # by id (listStoragePools' disksizeallocated).
    pool_allocated_bytes: Callable[[Session, Sequence[int]], dict[int, int]]
