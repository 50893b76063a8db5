from dataclasses import replace

import pytest

from kvmcloud.server.errors import InsufficientCapacityError
from kvmcloud.server.vms.placement import (
    MIB,
    HostCandidate,
    Needs,
    Placement,
    PoolCandidate,
    choose_host_and_pool,
    reaches,
)

GIB = 1024 * MIB


def host(
    host_id: int,
    *,
    cluster_id: int = 1,
    cpus: int = 8,
    memory_bytes: int = 16 * GIB,
    used_memory_bytes: int = 0,
) -> HostCandidate:
    return HostCandidate(
        host_id=host_id,
        name=f"kvm{host_id}",
        cluster_id=cluster_id,
        cpus=cpus,
        memory_bytes=memory_bytes,
        used_memory_bytes=used_memory_bytes,
    )


def pool(
    pool_id: int,
    *,
    scope: str = "ZONE",
    cluster_id: int | None = None,
    host_id: int | None = None,
    available_bytes: int = 100 * GIB,
    has_image: bool = False,
) -> PoolCandidate:
    return PoolCandidate(
        pool_id=pool_id,
        name=f"pool{pool_id}",
        scope=scope,
        cluster_id=cluster_id,
        host_id=host_id,
        available_bytes=available_bytes,
        has_image=has_image,
    )


def needs(
    *,
    cpus: int = 1,
    memory_bytes: int = 512 * MIB,
    download_bytes: int = GIB,
    local_storage: bool = False,
    host_id: int | None = None,
) -> Needs:
    return Needs(
        cpus=cpus,
        memory_bytes=memory_bytes,
        download_bytes=download_bytes,
        local_storage=local_storage,
        host_id=host_id,
    )


def capacity_error(hosts, pools, wanted: Needs) -> str:
    with pytest.raises(InsufficientCapacityError) as info:
        choose_host_and_pool(hosts, pools, wanted)
    return str(info.value)


# --- reaches() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (pool(1, scope="HOST", host_id=7), True),
        (pool(1, scope="HOST", host_id=8), False),
        # A host pool is tied to its host, not to the host's cluster.
        (pool(1, scope="HOST", host_id=8, cluster_id=3), False),
        (pool(1, scope="CLUSTER", cluster_id=3), True),
        (pool(1, scope="CLUSTER", cluster_id=4), False),
        (pool(1, scope="CLUSTER", cluster_id=4, host_id=7), False),
        (pool(1, scope="ZONE"), True),
        (pool(1, scope="ZONE", cluster_id=4, host_id=8), True),
    ],
)
def test_reaches_by_scope(candidate, expected):
    assert reaches(host(7, cluster_id=3), candidate) is expected


# --- hosts: memory and CPUs -----------------------------------------------------------------


def test_single_host_and_pool_chosen():
    assert choose_host_and_pool([host(1)], [pool(10)], needs()) == Placement(host_id=1, pool_id=10)


def test_exactly_enough_free_memory_fits():
    hosts = [host(1, memory_bytes=4 * GIB, used_memory_bytes=3 * GIB)]

    placement = choose_host_and_pool(hosts, [pool(10)], needs(memory_bytes=GIB))

    assert placement == Placement(host_id=1, pool_id=10)


def test_one_byte_short_of_free_memory_does_not_fit():
    hosts = [host(1, memory_bytes=4 * GIB, used_memory_bytes=3 * GIB + 1)]

    message = capacity_error(hosts, [pool(10)], needs(memory_bytes=GIB))

    assert "1024 MiB of free memory" in message


def test_used_memory_counts_against_the_host():
    # kvm1 is bigger but mostly used; kvm2 is smaller but has the room.
    hosts = [
        host(1, memory_bytes=64 * GIB, used_memory_bytes=63 * GIB),
        host(2, memory_bytes=8 * GIB, used_memory_bytes=0),
    ]

    placement = choose_host_and_pool(hosts, [pool(10)], needs(memory_bytes=2 * GIB))

    assert placement.host_id == 2


def test_overcommitted_host_is_skipped():
    hosts = [host(1, memory_bytes=4 * GIB, used_memory_bytes=5 * GIB), host(2)]

    assert choose_host_and_pool(hosts, [pool(10)], needs()).host_id == 2


def test_zero_memory_vm_fits_a_full_host():
    hosts = [host(1, memory_bytes=4 * GIB, used_memory_bytes=4 * GIB)]

    assert choose_host_and_pool(hosts, [pool(10)], needs(memory_bytes=0)).host_id == 1


@pytest.mark.parametrize(("host_cpus", "fits"), [(4, True), (5, True), (3, False)])
def test_cpu_count_compared_per_vm(host_cpus, fits):
    hosts = [host(1, cpus=host_cpus)]
    wanted = needs(cpus=4)

    if fits:
        assert choose_host_and_pool(hosts, [pool(10)], wanted).host_id == 1
    else:
        assert "4 CPU(s)" in capacity_error(hosts, [pool(10)], wanted)


def test_cpus_of_running_vms_are_not_subtracted():
    # CPUs are not reserved: a host whose memory is half used still offers all its CPUs.
    hosts = [host(1, cpus=2, memory_bytes=8 * GIB, used_memory_bytes=4 * GIB)]

    assert choose_host_and_pool(hosts, [pool(10)], needs(cpus=2)).host_id == 1


def test_host_with_enough_cpus_chosen_over_host_with_more_memory():
    hosts = [host(1, cpus=2, memory_bytes=64 * GIB), host(2, cpus=8, memory_bytes=8 * GIB)]

    assert choose_host_and_pool(hosts, [pool(10)], needs(cpus=4)).host_id == 2


def test_memory_and_cpu_must_both_fit_on_the_same_host():
    hosts = [
        host(1, cpus=8, memory_bytes=GIB),  # CPUs but no memory
        host(2, cpus=1, memory_bytes=64 * GIB),  # memory but no CPUs
    ]

    message = capacity_error(hosts, [pool(10)], needs(cpus=4, memory_bytes=2 * GIB))

    assert message == ("No Up host has 4 CPU(s) and 2048 MiB of free memory for this VM")


# --- host order -----------------------------------------------------------------------------


def test_host_with_most_free_memory_first():
    hosts = [
        host(1, memory_bytes=16 * GIB, used_memory_bytes=12 * GIB),  # 4 GiB free
        host(2, memory_bytes=16 * GIB, used_memory_bytes=6 * GIB),  # 10 GiB free
        host(3, memory_bytes=32 * GIB, used_memory_bytes=24 * GIB),  # 8 GiB free
    ]

    assert choose_host_and_pool(hosts, [pool(10)], needs()).host_id == 2


def test_equal_free_memory_goes_to_lowest_host_id():
    hosts = [host(5), host(3), host(4)]

    assert choose_host_and_pool(hosts, [pool(10)], needs()).host_id == 3


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_choice_does_not_depend_on_input_order(order):
    hosts = [
        host(7, memory_bytes=8 * GIB),
        host(2, memory_bytes=8 * GIB),
        host(9, memory_bytes=4 * GIB),
    ]
    pools = [pool(30, available_bytes=5 * GIB), pool(20, available_bytes=5 * GIB), pool(40)]
    shuffled_hosts = [hosts[i] for i in order]
    shuffled_pools = [pools[i] for i in order]

    placement = choose_host_and_pool(shuffled_hosts, shuffled_pools, needs())

    assert placement == Placement(host_id=2, pool_id=40)


def test_roomiest_host_without_a_usable_pool_falls_back_to_next_host():
    hosts = [host(1, cluster_id=1, memory_bytes=64 * GIB), host(2, cluster_id=2)]
    pools = [pool(10, scope="CLUSTER", cluster_id=2)]

    assert choose_host_and_pool(hosts, pools, needs()) == Placement(host_id=2, pool_id=10)


def test_host_without_memory_is_not_used_even_if_only_it_reaches_the_pool():
    hosts = [host(1, cluster_id=1, memory_bytes=GIB), host(2, cluster_id=2)]
    pools = [pool(10, scope="CLUSTER", cluster_id=1)]

    message = capacity_error(hosts, pools, needs(memory_bytes=2 * GIB))

    assert "No shared storage pool" in message


# --- requested host -------------------------------------------------------------------------


def test_requested_host_is_used_even_when_another_has_more_room():
    hosts = [host(1, memory_bytes=64 * GIB), host(2, memory_bytes=8 * GIB)]

    assert choose_host_and_pool(hosts, [pool(10)], needs(host_id=2)).host_id == 2


def test_requested_host_restricts_pools_to_what_it_reaches():
    hosts = [host(1, cluster_id=1), host(2, cluster_id=2)]
    pools = [
        pool(10, scope="CLUSTER", cluster_id=1, available_bytes=500 * GIB),
        pool(20, scope="CLUSTER", cluster_id=2, available_bytes=5 * GIB),
    ]

    assert choose_host_and_pool(hosts, pools, needs(host_id=2)) == Placement(2, 20)


@pytest.mark.parametrize("hosts", [[host(1), host(2)], []], ids=["not-in-list", "no-hosts"])
def test_missing_or_down_requested_host(hosts):
    # Down hosts are not candidates, so a Down host looks the same as an unknown one.
    message = capacity_error(hosts, [pool(10)], needs(host_id=3))

    assert message == "The requested host is not Up"


def test_requested_host_without_room_is_not_replaced_by_another():
    hosts = [host(1, memory_bytes=GIB), host(2, memory_bytes=64 * GIB)]

    message = capacity_error(hosts, [pool(10)], needs(memory_bytes=2 * GIB, host_id=1))

    assert "2048 MiB of free memory" in message


def test_requested_host_that_reaches_no_pool():
    hosts = [host(1, cluster_id=1), host(2, cluster_id=2)]
    pools = [pool(10, scope="CLUSTER", cluster_id=2)]

    message = capacity_error(hosts, pools, needs(host_id=1))

    assert "No shared storage pool" in message


def test_no_hosts_at_all():
    assert capacity_error([], [pool(10)], needs()) == "No KVM host is Up"


def test_capacity_error_has_cloudstack_code_533():
    with pytest.raises(InsufficientCapacityError) as info:
        choose_host_and_pool([], [], needs())

    assert info.value.error_code == 533


# --- storage type and scope -----------------------------------------------------------------


def test_local_storage_uses_only_host_pools():
    hosts = [host(1, cluster_id=1)]
    pools = [
        pool(10, scope="ZONE", available_bytes=900 * GIB),
        pool(20, scope="CLUSTER", cluster_id=1, available_bytes=800 * GIB),
        pool(30, scope="HOST", host_id=1, available_bytes=10 * GIB),
    ]

    assert choose_host_and_pool(hosts, pools, needs(local_storage=True)).pool_id == 30


def test_shared_storage_never_uses_host_pools():
    hosts = [host(1, cluster_id=1)]
    pools = [
        pool(30, scope="HOST", host_id=1, available_bytes=900 * GIB, has_image=True),
        pool(20, scope="CLUSTER", cluster_id=1, available_bytes=10 * GIB),
    ]

    assert choose_host_and_pool(hosts, pools, needs()).pool_id == 20


@pytest.mark.parametrize("scope", ["CLUSTER", "ZONE"])
def test_shared_storage_accepts_cluster_and_zone_pools(scope):
    pools = [pool(10, scope=scope, cluster_id=1)]

    assert choose_host_and_pool([host(1, cluster_id=1)], pools, needs()).pool_id == 10


@pytest.mark.parametrize("local", [False, True])
def test_unknown_scope_is_not_used(local):
    message = capacity_error([host(1)], [pool(10, scope="REGION")], needs(local_storage=local))

    assert "storage pool with room for the image" in message


def test_local_storage_picks_the_host_that_owns_the_pool():
    # kvm1 has more free memory, but the only local pool belongs to kvm2.
    hosts = [host(1, memory_bytes=64 * GIB), host(2, memory_bytes=8 * GIB)]
    pools = [pool(20, scope="HOST", host_id=2)]

    assert choose_host_and_pool(hosts, pools, needs(local_storage=True)) == Placement(2, 20)


def test_local_storage_pool_of_another_host_is_not_reachable():
    pools = [pool(20, scope="HOST", host_id=2)]

    message = capacity_error([host(1)], pools, needs(local_storage=True))

    assert message == (
        "No host-local (storagetype=local) storage pool with room for the image is reachable "
        "from a host that can run this VM"
    )


def test_only_host_pools_for_shared_offering_gives_shared_message():
    pools = [pool(20, scope="HOST", host_id=1)]

    message = capacity_error([host(1)], pools, needs(local_storage=False))

    assert message == (
        "No shared storage pool with room for the image is reachable from a host that can "
        "run this VM"
    )


def test_cluster_pool_only_for_hosts_of_its_cluster():
    hosts = [host(1, cluster_id=1, memory_bytes=64 * GIB), host(2, cluster_id=2)]
    pools = [pool(10, scope="CLUSTER", cluster_id=2)]

    assert choose_host_and_pool(hosts, pools, needs()) == Placement(2, 10)


def test_no_pools_at_all():
    assert "No shared storage pool" in capacity_error([host(1)], [], needs())


# --- pool choice ----------------------------------------------------------------------------


def test_pool_holding_the_image_wins_over_roomier_pool():
    pools = [
        pool(10, available_bytes=900 * GIB),
        pool(20, available_bytes=2 * GIB, has_image=True),
    ]

    assert choose_host_and_pool([host(1)], pools, needs()).pool_id == 20


def test_most_available_bytes_wins_without_the_image():
    pools = [
        pool(10, available_bytes=20 * GIB),
        pool(20, available_bytes=50 * GIB),
        pool(30, available_bytes=30 * GIB),
    ]

    assert choose_host_and_pool([host(1)], pools, needs()).pool_id == 20


def test_most_available_bytes_wins_among_pools_holding_the_image():
    pools = [
        pool(10, available_bytes=20 * GIB, has_image=True),
        pool(20, available_bytes=90 * GIB),
        pool(30, available_bytes=30 * GIB, has_image=True),
    ]

    assert choose_host_and_pool([host(1)], pools, needs()).pool_id == 30


def test_equal_pools_go_to_lowest_pool_id():
    pools = [pool(30), pool(10), pool(20)]

    assert choose_host_and_pool([host(1)], pools, needs()).pool_id == 10


def test_pool_with_exactly_download_bytes_fits():
    pools = [pool(10, available_bytes=GIB)]

    assert choose_host_and_pool([host(1)], pools, needs(download_bytes=GIB)).pool_id == 10


def test_pool_one_byte_short_of_download_bytes_is_skipped():
    pools = [pool(10, available_bytes=GIB - 1), pool(20, available_bytes=GIB)]

    assert choose_host_and_pool([host(1)], pools, needs(download_bytes=GIB)).pool_id == 20


def test_pool_without_room_for_download_fails_with_storage_message():
    pools = [pool(10, available_bytes=GIB - 1)]

    message = capacity_error([host(1)], pools, needs(download_bytes=GIB))

    assert "storage pool with room for the image" in message


def test_full_pool_holding_the_image_is_still_used():
    pools = [pool(10, available_bytes=0, has_image=True), pool(20, available_bytes=GIB - 1)]

    assert choose_host_and_pool([host(1)], pools, needs(download_bytes=GIB)).pool_id == 10


def test_pool_holding_the_image_on_unreachable_cluster_is_not_used():
    hosts = [host(1, cluster_id=1)]
    pools = [
        pool(10, scope="CLUSTER", cluster_id=2, has_image=True),
        pool(20, scope="CLUSTER", cluster_id=1, available_bytes=5 * GIB),
    ]

    assert choose_host_and_pool(hosts, pools, needs()).pool_id == 20


def test_host_is_chosen_before_pool():
    # Host order decides first: the image pool only kvm2 reaches does not pull the VM there.
    hosts = [host(1, cluster_id=1, memory_bytes=64 * GIB), host(2, cluster_id=2)]
    pools = [
        pool(10, scope="CLUSTER", cluster_id=2, has_image=True),
        pool(20, scope="CLUSTER", cluster_id=1),
    ]

    assert choose_host_and_pool(hosts, pools, needs()) == Placement(1, 20)


def test_only_hosts_with_every_host_tag_of_the_offering_are_candidates() -> None:
    # The roomier host lacks "gpu"; the tagged one wins although it has less free memory.
    hosts = [
        replace(host(1, memory_bytes=64 * GIB), tags=frozenset({"ssd"})),
        replace(host(2), tags=frozenset({"gpu", "ssd", "extra"})),
    ]
    wanted = replace(needs(), host_tags=frozenset({"gpu", "ssd"}))
    assert choose_host_and_pool(hosts, [pool(10)], wanted) == Placement(2, 10)


def test_no_host_with_the_host_tags_is_insufficient_capacity() -> None:
    hosts = [replace(host(1), tags=frozenset({"ssd"}))]
    wanted = replace(needs(), host_tags=frozenset({"gpu", "fast"}))
    with pytest.raises(InsufficientCapacityError, match="host tags fast,gpu") as raised:
        choose_host_and_pool(hosts, [pool(10)], wanted)
    assert raised.value.message.endswith(": no host has the tag fast,gpu")


def test_when_each_tag_is_on_some_host_the_error_says_what_each_lacks() -> None:
    hosts = [
        replace(host(1), name="kvm1", tags=frozenset({"gpu"})),
        replace(host(2), name="kvm2", tags=frozenset({"fast"})),
    ]
    wanted = replace(needs(), host_tags=frozenset({"gpu", "fast"}))
    with pytest.raises(InsufficientCapacityError) as raised:
        choose_host_and_pool(hosts, [pool(10)], wanted)
    assert raised.value.message.endswith(": kvm1 lacks fast; kvm2 lacks gpu")


def test_untagged_offerings_take_tagged_hosts_and_pools() -> None:
    hosts = [replace(host(1), tags=frozenset({"gpu"}))]
    pools = [replace(pool(10), tags=frozenset({"ssd"}))]
    assert choose_host_and_pool(hosts, pools, needs()) == Placement(1, 10)


def test_only_pools_with_every_storage_tag_are_candidates() -> None:
    # The emptier pool and the one holding the image both lack "ssd".
    pools = [
        replace(pool(10, available_bytes=500 * GIB, has_image=True), tags=frozenset({"hdd"})),
        replace(pool(11), tags=frozenset({"ssd", "hdd"})),
    ]
    wanted = replace(needs(), storage_tags=frozenset({"ssd"}))
    assert choose_host_and_pool([host(1)], pools, wanted) == Placement(1, 11)


def test_no_pool_with_the_storage_tags_names_them() -> None:
    pools = [replace(pool(10), tags=frozenset({"hdd"}))]
    wanted = replace(needs(), storage_tags=frozenset({"ssd"}))
    with pytest.raises(InsufficientCapacityError, match="shared storage pool tagged ssd") as raised:
        choose_host_and_pool([host(1)], pools, wanted)
    assert raised.value.message.endswith(": no pool has the tag ssd")
    # Each tag on some pool, none with both: each pool's missing tag is named.
    pools = [
        replace(pool(10), name="p10", tags=frozenset({"ssd"})),
        replace(pool(11), name="p11", tags=frozenset({"fast"})),
    ]
    wanted = replace(needs(), storage_tags=frozenset({"ssd", "fast"}))
    with pytest.raises(InsufficientCapacityError) as raised:
        choose_host_and_pool([host(1)], pools, wanted)
    assert raised.value.message.endswith(": p10 lacks fast; p11 lacks ssd")


def test_a_tagged_pool_must_also_be_reachable_from_a_tagged_host() -> None:
    # Host 1 has the tag but reaches only cluster 1's untagged pool; host 2 lacks the tag.
    hosts = [
        replace(host(1, cluster_id=1), tags=frozenset({"gpu"})),
        host(2, cluster_id=2),
    ]
    pools = [
        pool(10, scope="CLUSTER", cluster_id=1),
        replace(pool(11, scope="CLUSTER", cluster_id=2), tags=frozenset({"ssd"})),
    ]
    wanted = replace(needs(), host_tags=frozenset({"gpu"}), storage_tags=frozenset({"ssd"}))
    with pytest.raises(InsufficientCapacityError, match="tagged ssd"):
        choose_host_and_pool(hosts, pools, wanted)


# --- pools that are Down --------------------------------------------------------------------


def test_a_down_pool_is_named_when_no_pool_fits():
    with pytest.raises(InsufficientCapacityError) as info:
        choose_host_and_pool([host(1)], [], needs(), down_pools=["nfs1"])

    assert info.value.error_code == 533
    assert "storage pool nfs1 is Down: its hosts cannot reach its storage" in str(info.value)


def test_down_pools_are_not_named_when_another_pool_fits():
    chosen = choose_host_and_pool([host(1)], [pool(10)], needs(), down_pools=["nfs1"])

    assert chosen.pool_id == 10


# --- the pool of the VM's ISO ---------------------------------------------------------------


def rbd(pool_id: int, **kwargs) -> PoolCandidate:
    return replace(pool(pool_id, **kwargs), holds_isos=False)


def test_an_iso_goes_to_the_disk_pool_when_it_can_hold_isos() -> None:
    chosen = choose_host_and_pool([host(1)], [pool(10), pool(11)], replace(needs(), iso_bytes=GIB))

    assert chosen == Placement(host_id=1, pool_id=10, iso_pool_id=10)


def test_no_iso_no_iso_pool() -> None:
    assert choose_host_and_pool([host(1)], [pool(10)], needs()).iso_pool_id is None


def test_a_disk_on_rbd_takes_its_iso_to_a_shared_file_pool_before_a_local_one() -> None:
    pools = [
        rbd(10, available_bytes=900 * GIB),
        pool(11, scope="HOST", host_id=1, available_bytes=500 * GIB),
        pool(12, scope="CLUSTER", cluster_id=1, available_bytes=20 * GIB),
        pool(13, scope="CLUSTER", cluster_id=2, available_bytes=400 * GIB),  # unreachable
    ]
    chosen = choose_host_and_pool([host(1)], pools, replace(needs(), iso_bytes=GIB))

    assert chosen == Placement(host_id=1, pool_id=10, iso_pool_id=12)


def test_a_host_reaching_no_pool_for_the_iso_is_passed_over() -> None:
    hosts = [host(1, cluster_id=1), host(2, cluster_id=2, memory_bytes=8 * GIB)]
    pools = [rbd(10), pool(20, scope="CLUSTER", cluster_id=2)]
    chosen = choose_host_and_pool(hosts, pools, replace(needs(), iso_bytes=GIB))

    assert chosen == Placement(host_id=2, pool_id=10, iso_pool_id=20)


def test_only_rbd_pools_refuse_an_iso_saying_why() -> None:
    small = pool(11, available_bytes=GIB // 2)
    message = capacity_error([host(1)], [rbd(10), small], replace(needs(), iso_bytes=GIB))

    assert f"No storage pool with room for the ISO ({GIB} bytes)" in message
    assert "RBD pools hold disk images only" in message


def test_an_existing_disk_keeps_its_pool_whatever_the_tags_and_room() -> None:
    pools = [pool(10, available_bytes=0), replace(pool(11), tags=frozenset({"ssd"}))]
    wanted = replace(needs(), storage_tags=frozenset({"ssd"}), disk_pool_id=10)
    chosen = choose_host_and_pool([host(1)], pools, wanted)

    assert chosen.pool_id == 10
