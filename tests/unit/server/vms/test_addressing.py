import random
import re

import pytest

from kvmcloud.server.errors import InsufficientCapacityError
from kvmcloud.server.vms.addressing import (
    DEFAULT_GUEST_CIDR,
    GuestAddress,
    choose_address,
    choose_network_address,
    new_mac,
)

# --- choose_address -------------------------------------------------------------------------


def test_first_address_after_the_gateway():
    assert choose_address("192.168.10.0/24", []) == GuestAddress(
        ip="192.168.10.2", netmask="255.255.255.0", gateway="192.168.10.1"
    )


@pytest.mark.parametrize("cidr", [None, ""])
def test_default_cidr_when_zone_has_none(cidr):
    assert DEFAULT_GUEST_CIDR == "10.1.1.0/24"
    assert choose_address(cidr, []) == GuestAddress(
        ip="10.1.1.2", netmask="255.255.255.0", gateway="10.1.1.1"
    )


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("172.16.0.0/16", GuestAddress("172.16.0.2", "255.255.0.0", "172.16.0.1")),
        ("10.0.0.0/8", GuestAddress("10.0.0.2", "255.0.0.0", "10.0.0.1")),
        ("10.2.3.64/26", GuestAddress("10.2.3.66", "255.255.255.192", "10.2.3.65")),
        ("10.2.3.0/30", GuestAddress("10.2.3.2", "255.255.255.252", "10.2.3.1")),
    ],
)
def test_netmask_and_gateway_follow_the_prefix(cidr, expected):
    assert choose_address(cidr, []) == expected


def test_host_bits_in_cidr_are_ignored():
    # A zone CIDR written with host bits set still names its network.
    assert choose_address("10.5.5.77/24", []) == GuestAddress(
        ip="10.5.5.2", netmask="255.255.255.0", gateway="10.5.5.1"
    )


def test_used_addresses_are_skipped():
    used = {"10.1.1.2", "10.1.1.3", "10.1.1.5"}

    assert choose_address(None, used).ip == "10.1.1.4"


def test_lowest_free_address_fills_a_gap():
    used = [f"10.1.1.{n}" for n in range(2, 50) if n != 17]

    assert choose_address(None, used).ip == "10.1.1.17"


def test_used_gateway_or_foreign_addresses_change_nothing():
    used = {"10.1.1.1", "192.168.0.2", "10.1.2.2"}

    assert choose_address(None, used).ip == "10.1.1.2"


def test_gateway_is_never_handed_out():
    handed_out: list[str] = []
    for _ in range(253):
        handed_out.append(choose_address(None, handed_out).ip)

    assert "10.1.1.1" not in handed_out
    assert handed_out[0] == "10.1.1.2"
    assert handed_out[-1] == "10.1.1.254"
    assert len(set(handed_out)) == 253


def test_broadcast_address_is_never_handed_out():
    used = [f"10.1.1.{n}" for n in range(2, 255)]

    with pytest.raises(InsufficientCapacityError) as info:
        choose_address(None, used)

    assert "10.1.1.0/24" in str(info.value)


def test_slash_30_has_one_guest_address_then_is_full():
    first = choose_address("10.9.9.0/30", [])

    assert first == GuestAddress("10.9.9.2", "255.255.255.252", "10.9.9.1")
    with pytest.raises(InsufficientCapacityError) as info:
        choose_address("10.9.9.0/30", [first.ip])
    assert str(info.value) == "No free guest address left in 10.9.9.0/30"
    assert info.value.error_code == 533


def test_slash_29_fills_up_in_order():
    handed_out: list[str] = []
    for _ in range(5):
        handed_out.append(choose_address("10.9.9.8/29", handed_out).ip)

    assert handed_out == ["10.9.9.10", "10.9.9.11", "10.9.9.12", "10.9.9.13", "10.9.9.14"]
    with pytest.raises(InsufficientCapacityError, match=r"10\.9\.9\.8/29"):
        choose_address("10.9.9.8/29", handed_out)


def test_used_may_be_any_collection():
    used_list = ["10.1.1.2"]
    used_tuple = ("10.1.1.2",)
    used_frozen = frozenset(used_list)

    results = {choose_address(None, u).ip for u in (used_list, used_tuple, used_frozen)}

    assert results == {"10.1.1.3"}


def test_slash_32_has_no_guest_address():
    # Its one address would be the gateway; Python gives /32 hosts() as a list, not a generator.
    with pytest.raises(InsufficientCapacityError, match=r"10\.9\.9\.9/32"):
        choose_address("10.9.9.9/32", [])


def test_slash_31_has_one_guest_address_then_is_full():
    assert choose_address("10.9.9.8/31", []) == GuestAddress(
        "10.9.9.9", "255.255.255.254", "10.9.9.8"
    )
    with pytest.raises(InsufficientCapacityError, match=r"10\.9\.9\.8/31"):
        choose_address("10.9.9.8/31", ["10.9.9.9"])


# --- new_mac --------------------------------------------------------------------------------

MAC = re.compile(r"02:00(:[0-9a-f]{2}){4}")


def test_mac_format():
    mac = new_mac(random.Random(1))

    assert MAC.fullmatch(mac), mac


def test_mac_is_locally_administered_unicast():
    for seed in range(50):
        first_octet = int(new_mac(random.Random(seed)).split(":")[0], 16)
        assert first_octet & 0b10, "locally administered bit must be set"
        assert not first_octet & 0b01, "multicast bit must be clear"


def test_mac_is_lower_case_hex():
    macs = [new_mac(random.Random(seed)) for seed in range(50)]

    assert all(MAC.fullmatch(m) for m in macs), macs
    assert all(m == m.lower() for m in macs)
    # Across 50 seeds some octet is above 9, so case really is exercised.
    assert any(c in "abcdef" for m in macs for c in m[6:])


def test_mac_same_seed_same_sequence():
    first = random.Random(42)
    second = random.Random(42)

    assert [new_mac(first) for _ in range(5)] == [new_mac(second) for _ in range(5)]


def test_mac_matches_the_generator_draws():
    # The four random octets are the next four draws of randrange(256), in order.
    draws = random.Random(7)
    octets = [draws.randrange(256) for _ in range(4)]

    expected = "02:00:" + ":".join(f"{o:02x}" for o in octets)
    assert new_mac(random.Random(7)) == expected


def test_mac_successive_calls_differ():
    rng = random.Random(3)

    macs = [new_mac(rng) for _ in range(100)]

    assert len(set(macs)) == 100


def test_mac_different_seeds_differ():
    assert new_mac(random.Random(1)) != new_mac(random.Random(2))


def test_mac_octets_are_zero_padded():
    class LowRandom(random.Random):
        def randrange(self, *args, **kwargs):  # type: ignore[override]
            return 5

    assert new_mac(LowRandom()) == "02:00:05:05:05:05"


# --- choose_network_address ---------------------------------------------------------------


def test_a_network_address_skips_the_gateway_wherever_it_is():
    assert choose_network_address("192.168.7.0/24", "192.168.7.1", []) == GuestAddress(
        "192.168.7.2", "255.255.255.0", "192.168.7.1"
    )
    assert choose_network_address("192.168.7.0/24", "192.168.7.3", ["192.168.7.1"]) == (
        GuestAddress("192.168.7.2", "255.255.255.0", "192.168.7.3")
    )
    assert choose_network_address("192.168.7.0/24", "192.168.7.2", ["192.168.7.1"]).ip == (
        "192.168.7.3"
    )


def test_a_full_network_has_no_address():
    with pytest.raises(InsufficientCapacityError, match=r"10\.2\.3\.0/30"):
        choose_network_address("10.2.3.0/30", "10.2.3.1", ["10.2.3.2"])
